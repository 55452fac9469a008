"""A byte-counting TCP relay on loopback, for the benchmarks' "bytes on the wire".

A client dials the relay instead of the server; the relay copies both directions and
counts every byte at TCP level, so TLS (or Noise) records, handshakes and HTTP framing
are all included. It knows nothing of the protocol it carries.

    relay = Relay(("127.0.0.1", server_port))
    port = relay.start()            # dial 127.0.0.1:port
    ...
    relay.up, relay.down, relay.first_connect
    relay.close()

Each connection is copied by two threads that block in ``recv`` (which releases the
GIL), so the relay costs little beside the two processes it measures.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

BUFFER = 256 * 1024


class Relay:
    """Listens on 127.0.0.1 (a port chosen by the system) and forwards to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self.reset()

    def reset(self) -> None:
        """Start counting again from zero (between runs)."""
        with self._lock:
            #: bytes from the client to the server, and from the server to the client
            self.up = 0
            self.down = 0
            self.connections = 0
            #: time.monotonic() of the first connection accepted since the reset
            self.first_connect: float | None = None
            #: time.monotonic() of the last byte copied
            self.last_byte: float | None = None

    @property
    def total(self) -> int:
        return self.up + self.down

    def start(self) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener = listener
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()
        port: int = listener.getsockname()[1]
        return port

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            now = time.monotonic()
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                if self.first_connect is None:
                    self.first_connect = now
                self._sockets += [client, server]
            open_directions = [2]
            for source, sink, upward in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(source, sink, upward, open_directions), daemon=True
                ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, upward: bool, open_directions: list[int]
    ) -> None:
        buffer = bytearray(BUFFER)
        view = memoryview(buffer)
        try:
            while True:
                n = source.recv_into(buffer)
                if n == 0:
                    break
                sink.sendall(view[:n])
                with self._lock:
                    if upward:
                        self.up += n
                    else:
                        self.down += n
                    self.last_byte = time.monotonic()
        except OSError:
            pass
        finally:
            # pass the half-close on, then let the other direction finish
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            with self._lock:
                open_directions[0] -= 1
                finished = open_directions[0] == 0  # both directions done: close both
                if finished:
                    self._sockets = [s for s in self._sockets if s not in (source, sink)]
            if finished:
                source.close()
                sink.close()
