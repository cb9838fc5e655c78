"""A peer that answers one line every 0.2 s for seconds: each read gets its bytes well
within a read timeout, so only a deadline on the whole exchange ends the wait."""

from __future__ import annotations

import socket
import ssl
import threading
import time


class DrippingServer:
    """Accepts one connection on 127.0.0.1; optionally reads the request first, then
    sends ``first``, ``line`` every 0.2 s for ``seconds``, and ``last``."""

    def __init__(
        self,
        *,
        first: bytes,
        line: bytes,
        last: bytes,
        read_request: bool,
        tls: ssl.SSLContext | None = None,
        seconds: float = 8.0,
    ) -> None:
        self._first, self._line, self._last = first, line, last
        self._read_request, self._tls, self._seconds = read_request, tls, seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            if self._read_request:
                conn.recv(65536)
            conn.sendall(self._first)
            ends = time.monotonic() + self._seconds
            while time.monotonic() < ends and not self._stop.wait(0.2):
                conn.sendall(self._line)
            conn.sendall(self._last)
        except OSError:
            pass  # the client gave up: what the tests want
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._listener.close()
