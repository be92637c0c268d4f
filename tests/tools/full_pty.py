#!/usr/bin/python3
"""Runs a command whose standard error is a pseudo-terminal that is never
read and whose buffer is already full, for expiry_warning_test.sh.

    full_pty.py LIMIT_SECONDS COMMAND [ARG...]

The command's stdin and stdout are /dev/null. Every blocking write to its
stderr waits until the terminal is drained, which this program does only
after the command has exited or LIMIT_SECONDS have passed. It prints
"exit STATUS" (or "exit hung" when the limit passed first), "seconds N"
and "after_fill TEXT", what the command wrote to the terminal after the
fill, with the fill bytes removed.
"""
import errno
import os
import subprocess
import sys
import time

limit = float(sys.argv[1])
command = sys.argv[2:]

master, slave = os.openpty()
# Fill through a descriptor of its own, so that O_NONBLOCK does not reach
# the descriptor the command inherits.
filler = os.open(os.ttyname(slave), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)


def fill():
    """Writes until the terminal takes nothing more; returns the count."""
    written = 0
    while True:
        try:
            written += os.write(filler, b"." * 4096)
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
            return written


# The kernel moves written bytes to the master's side in a work queue, so
# a terminal that took nothing more may take more a moment later. Fill
# again until three rounds 0.1 s apart add nothing.
quiet_rounds = 0
fill()
while quiet_rounds < 3:
    time.sleep(0.1)
    quiet_rounds = quiet_rounds + 1 if fill() == 0 else 0
os.close(filler)

start = time.monotonic()
with open(os.devnull, "r+b") as null:
    child = subprocess.Popen(command, stdin=null, stdout=null, stderr=slave,
                             start_new_session=True)
os.close(slave)
try:
    status = str(child.wait(timeout=limit))
except subprocess.TimeoutExpired:
    status = "hung"
seconds = time.monotonic() - start

os.set_blocking(master, False)
output = b""
deadline = time.monotonic() + 5
while child.poll() is None or time.monotonic() < deadline:
    try:
        chunk = os.read(master, 65536)
    except OSError as e:
        if e.errno == errno.EIO:  # no process has the terminal open
            break
        chunk = b""
    if chunk:
        output += chunk
    elif child.poll() is not None:
        break
    else:
        time.sleep(0.05)
child.wait()
print("exit", status)
print("seconds", int(seconds))
print("after_fill", output.replace(b".", b"").decode(errors="replace").strip())
