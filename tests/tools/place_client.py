#!/usr/bin/python3
"""A placement client for zsp-agent, for agent_pid_reuse_test.sh.

    place_client.py SOCKET BROKER_URL USER COMMAND MODE

It fetches a signed allow decision for USER running COMMAND as root on
host "testhost" from the broker (with the host's certificate in
/etc/zsp), then requests that the agent on SOCKET place a process under
it:

  stay   a child connects, sends the request and waits for the reply
  reuse  a child connects and sends all of the request but its newline,
         hands the connection to this process and exits. This process
         reaps it, makes the kernel give the child's pid to a new process
         (the victim, a sleep) through /proc/sys/kernel/ns_last_pid, and
         then sends the newline. Needs its own pid namespace, shared with
         the agent.
  exit   as reuse, but no process takes the child's pid before the
         newline.

It prints "reply JSON", then "placed_pid PID" and "cgroup_before PATH" and
"cgroup_after PATH" of the process whose pid the agent saw. The process
is left running; it ends with the pid namespace or the grant.
"""
import base64
import json
import os
import socket
import sys
import time

from broker_decision import post_decision

SOCKET, BROKER_URL, USER, COMMAND, MODE = sys.argv[1:6]


def fetch_decision():
    nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    body = json.dumps({"user": USER, "host": "testhost", "kind": "sudo",
                       "runas": "root", "argv": [COMMAND],
                       "runas_group": "", "env": [], "nonce": nonce})
    status, response = post_decision(BROKER_URL, body)
    if status != 200:
        sys.exit(f"place_client: broker returned {status}: {response}")
    return json.loads(response)["jws"]


def cgroup_of(pid):
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return "gone"


def read_reply(connection):
    data = b""
    while b"\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n")[0].decode()


def start_victim(pid):
    """Starts a sleep with process id pid; retries while other processes
    (threads of the agent) take that id first."""
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        victim = os.fork()
        if victim == 0:
            os.execv("/bin/sleep", ["sleep", "60"])
        if victim == pid:
            return victim
        os.kill(victim, 9)
        os.waitpid(victim, 0)
    sys.exit(f"place_client: could not get pid {pid} for the victim")


def main():
    line = json.dumps({"op": "place", "decision": fetch_decision()})
    handoff_parent, handoff_child = socket.socketpair()
    child = os.fork()
    if child == 0:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(SOCKET)
        if MODE == "stay":
            connection.sendall(line.encode() + b"\n")
            handoff_child.sendall(read_reply(connection).encode() + b"\n")
            time.sleep(60)
            os._exit(0)
        connection.sendall(line.encode())
        socket.send_fds(handoff_child, [b"x"], [connection.fileno()])
        # Time for the agent to accept and pin this process.
        time.sleep(0.3)
        os._exit(0)

    if MODE == "stay":
        reply = read_reply(handoff_parent)
        placed = child
        before = "unknown"
    else:
        _, fds, _, _ = socket.recv_fds(handoff_parent, 16, 1)
        connection = socket.socket(fileno=fds[0])
        os.waitpid(child, 0)
        placed = start_victim(child) if MODE == "reuse" else child
        before = cgroup_of(placed)
        connection.sendall(b"\n")
        reply = read_reply(connection)
    print("reply", reply)
    print("placed_pid", placed)
    print("cgroup_before", before)
    print("cgroup_after", cgroup_of(placed))
    sys.stdout.flush()


main()
