#!/usr/bin/python3
"""A webhook receiver for the integration tests, on a free loopback port.

It prints the port on stdout, answers every POST with 204, and appends one
line per delivery to LOG: the request path, the X-Zsp-Event header and the
body.
"""
import http.server
import sys

LOG_PATH = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(LOG_PATH, "a") as log:
            log.write("%s %s %s\n" % (self.path, self.headers["X-Zsp-Event"],
                                      body.decode()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
