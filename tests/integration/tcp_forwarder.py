"""A real TCP forwarder on loopback, whose backend can be swapped: an endpoint that can be restarted in place.

The emulator refuses to bind a port that closed connections still hold in TIME_WAIT, so a
restart on the same port is not possible for a while; clients reach the emulator through this
forwarder instead, which keeps its own port while the emulator behind it dies and another one
takes its place. A connection whose backend goes away is closed towards the client too, as the
endpoint's own socket would have been.
"""

from __future__ import annotations

import contextlib
import socket
import threading

READ_BYTES = 65536


class TcpForwarder:
    """Listens on 127.0.0.1:<free port>; each connection is piped to 127.0.0.1:<backend port>."""

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._closed = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_forever, daemon=True)
        self._acceptor.start()

    def _accept_forever(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=2)
            except OSError:  # no endpoint behind: the client sees its connection refused
                client.close()
                continue
            backend.settimeout(None)
            with self._lock:
                self._sockets.update((client, backend))
            for source, sink in ((client, backend), (backend, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(READ_BYTES):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                self._drop(end)

    def _drop(self, end: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(end)
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()
        with self._lock:
            ends = list(self._sockets)
        for end in ends:
            self._drop(end)
        self._acceptor.join(5)
