#!/usr/bin/env python3
"""commune-forward: carry one TCP connection to a port of this machine's loopback over
standard input and output.

The web view of a node in a container listens on 127.0.0.1 inside it, where nothing
outside can reach it. Run on the host (socat makes one connection per browser request):

    socat TCP-LISTEN:8471,bind=127.0.0.1,reuseaddr,fork \
        EXEC:"podman exec -i commune-la commune-forward 8471"

then open http://127.0.0.1:8471/ on the host (deploy/README.md). Standard library only.
"""

from __future__ import annotations

import socket
import sys
import threading


def _copy_in(conn: socket.socket) -> None:
    """Standard input to the connection, then half-close it."""
    stdin = sys.stdin.buffer
    while data := stdin.read1(65536):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: commune-forward PORT   (connects to 127.0.0.1:PORT)", file=sys.stderr)
        return 2
    try:
        conn = socket.create_connection(("127.0.0.1", int(argv[1])), timeout=10)
    except OSError as e:
        print(f"commune-forward: cannot connect to 127.0.0.1:{argv[1]}: {e}", file=sys.stderr)
        return 1
    conn.settimeout(None)
    threading.Thread(target=_copy_in, args=(conn,), daemon=True).start()
    stdout = sys.stdout.buffer
    while data := conn.recv(65536):
        stdout.write(data)
        stdout.flush()
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
