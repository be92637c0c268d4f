#!/usr/bin/python3
"""A hostile stand-in for zsp-agent on its unix socket, for relay_test.sh.

    relay_standin.py SOCKET MODE_FILE BROKER_URL

Before each connection it reads the mode from MODE_FILE, so a test can
switch modes without restarting it. Decide requests get, by mode:

  forward      the real broker's response to the request as sent
  other-user   the real broker's response to the request with "user"
               changed to carol, so a genuine signature for someone else
  replay       the first response saved in forward mode, whatever the nonce
  garbage      bytes that are not a reply
  short        a header that announces more body bytes than follow
  stall        nothing, until the client gives up
  stall-all    nothing, until the client gives up, for place requests too

Place requests are rejected at once, except in mode stall-all. Every
connection is logged on stderr.
"""
import json
import os
import socket
import sys
import threading
import time

from broker_decision import post_decision

SOCKET, MODE_FILE, BROKER_URL = sys.argv[1:4]
saved = {}


def framed(status, body):
    header = json.dumps({"ok": True, "status": status, "length": len(body)})
    return header.encode() + b"\n" + body


def reply_for(mode, request):
    body = request["body"].encode()
    if mode == "forward":
        status, response = post_decision(BROKER_URL, body)
        saved.setdefault("reply", framed(status, response))
        return framed(status, response)
    if mode == "other-user":
        changed = json.loads(body)
        changed["user"] = "carol"
        return framed(*post_decision(BROKER_URL, json.dumps(changed).encode()))
    if mode == "replay":
        return saved.get("reply", b"")
    if mode == "garbage":
        return b"HTTP/1.1 200 OK\r\n\r\n{\"jws\":\"x\"}\n"
    if mode == "short":
        return b'{"ok":true,"status":200,"length":4000}\n{"jws":"a.b.c"}'
    time.sleep(30)  # stall
    return b""


def serve(client):
    with client:
        data = b""
        while b"\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                return
            data += chunk
        request = json.loads(data.split(b"\n")[0])
        with open(MODE_FILE) as f:
            mode = f.read().strip()
        print(f"standin: op={request.get('op')} mode={mode}", file=sys.stderr,
              flush=True)
        if mode == "stall-all":
            time.sleep(30)
            return
        if request.get("op") != "decide":
            client.sendall(b'{"ok":false,"error":"stand-in places nothing"}\n')
            return
        client.sendall(reply_for(mode, request))


def main():
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(SOCKET)
    os.chmod(SOCKET, 0o600)
    server.listen(16)
    print("standin: ready", file=sys.stderr, flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


main()
