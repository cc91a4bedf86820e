#!/usr/bin/env python3
"""Host side of the lab network tests: listens on ADDR and serves, one connection each
(or more for echo), until killed:
  PORT+0  echo: sends back whatever arrives
  PORT+1  sink: reads to EOF, writes "<sha256> <bytes> <seconds>" to OUT_DIR/sink.<n>
  PORT+2  source: sends SRC_FILE (or N MiB of zeros if SRC_FILE is a number), then closes
usage: netpeer.py ADDR PORT OUT_DIR SRC_FILE"""
import hashlib
import os
import socket
import sys
import threading
import time


def listen(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(4)
    return s


def echo(srv):
    while True:
        c, _ = srv.accept()
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)


def sink(srv, out_dir):
    n = 0
    while True:
        c, _ = srv.accept()
        h, total, t0 = hashlib.sha256(), 0, None
        with c:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                if t0 is None:
                    t0 = time.monotonic()
                h.update(b)
                total += len(b)
        secs = time.monotonic() - t0 if t0 else 0.0
        tmp = os.path.join(out_dir, "sink.%d.tmp" % n)
        with open(tmp, "w") as f:
            f.write("%s %d %.6f\n" % (h.hexdigest(), total, secs))
        os.rename(tmp, os.path.join(out_dir, "sink.%d" % n))
        n += 1


def source(srv, src):
    while True:
        c, _ = srv.accept()
        with c:
            if src.isdigit():
                chunk = bytes(1 << 20)
                for _ in range(int(src)):
                    c.sendall(chunk)
            else:
                with open(src, "rb") as f:
                    while True:
                        b = f.read(1 << 20)
                        if not b:
                            break
                        c.sendall(b)
            c.shutdown(socket.SHUT_WR)
            # Wait for the peer to close so nothing queued is lost.
            while c.recv(65536):
                pass


def main():
    addr, port, out_dir, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    servers = [listen(addr, port + i) for i in range(3)]
    threads = [
        threading.Thread(target=echo, args=(servers[0],), daemon=True),
        threading.Thread(target=sink, args=(servers[1], out_dir), daemon=True),
        threading.Thread(target=source, args=(servers[2], src), daemon=True),
    ]
    for t in threads:
        t.start()
    open(os.path.join(out_dir, "ready"), "w").close()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
