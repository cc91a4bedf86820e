#!/usr/bin/env python3
"""Runs a VMM with stdin /dev/null, a pipe or a pty, copies its stdout to ours, and acts on
what the guest prints: once MARKER appears, types TEXT into stdin and/or sends a signal.
Everything has a deadline (then SIGUSR1 for kindling's diagnostics on stderr, SIGKILL a
second later); the exit status is the VMM's (128+N for signal N, 124 when the deadline
killed it).
  drive.py --stdin null|pipe|pty [--deadline S] [--expect MARKER] [--send TEXT]
           [--close] [--signal NAME] -- CMD...
--close closes the pipe (EOF) after sending; a pty stays open until the VMM exits."""
import argparse
import os
import pty
import select
import signal
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdin", choices=("null", "pipe", "pty"), required=True)
    ap.add_argument("--deadline", type=float, default=20)
    ap.add_argument("--expect")
    ap.add_argument("--send")
    ap.add_argument("--close", action="store_true")
    ap.add_argument("--signal")
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args()

    master = None
    if a.stdin == "null":
        stdin = subprocess.DEVNULL
    elif a.stdin == "pipe":
        stdin = subprocess.PIPE
    else:
        master, slave = pty.openpty()
        stdin = slave
    p = subprocess.Popen(a.cmd, stdin=stdin, stdout=subprocess.PIPE)
    if master is not None:
        os.close(slave)
    end = time.monotonic() + a.deadline
    seen = b""
    acted = a.expect is None
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
    fd = p.stdout.fileno()

    def act():
        try:
            act_now()
        except OSError as e:  # the VMM died before reading: its status tells why
            print("drive.py: %s" % e, file=sys.stderr)

    def act_now():
        if a.send is not None:
            data = a.send.encode()
            if master is not None:
                os.write(master, data)
            else:
                p.stdin.write(data)
                p.stdin.flush()
        if a.close and p.stdin:
            p.stdin.close()
        if a.signal:
            p.send_signal(getattr(signal, "SIG" + a.signal))

    if acted:
        act()
    while True:
        left = end - time.monotonic()
        if left <= 0:
            # As tests/lib.sh's deadline: SIGUSR1 first (kindling prints its vCPUs' state).
            p.send_signal(signal.SIGUSR1)
            time.sleep(1)
            p.kill()
            p.wait()
            print("drive.py: deadline of %.0f s passed" % a.deadline, file=sys.stderr)
            return 124
        r, _, _ = select.select([fd], [], [], min(left, 0.2))
        if r:
            data = os.read(fd, 4096)
            if not data:
                break
            out.write(data)
            seen += data
            if not acted and a.expect.encode() in seen:
                acted = True
                act()
    try:
        rc = p.wait(timeout=max(end - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return 124
    if master is not None:
        os.close(master)
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    sys.exit(main())
