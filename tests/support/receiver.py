"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request it gets.

Each request is answered by the next entry of ``script`` (a status code, or a
``(status, headers)`` pair); once the script is used up, by ``default``. ``hold`` makes
the receiver keep requests waiting (no answer) until released, to catch a worker
mid-request.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    default: int = 200
    #: The body of every answer.
    body: bytes = b"ok"
    requests: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{host!s}:{port}"

    def answer(self) -> tuple[int, dict[str, str]]:
        with self.arrived:
            entry = self.script.pop(0) if self.script else self.default
        return (entry, {}) if isinstance(entry, int) else entry

    def record(self, request: Received) -> None:
        with self.arrived:
            self.requests.append(request)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The requests once at least ``count`` have arrived (AssertionError on timeout)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, {count} expected")
            return list(self.requests)

    def ids(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.requests]


def _handler(receiver_ref: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            receiver = receiver_ref[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.record(Received(self.command, self.path, headers, body))
            if receiver.hold is not None:
                receiver.hold.wait(60)
            status, extra = receiver.answer()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(receiver.body)))
            self.end_headers()
            self.wfile.write(receiver.body)

        do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler


@contextmanager
def running_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver on a free port; HTTPS with ``tls`` (a server-side context)."""
    ref: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    receiver = Receiver(server)
    ref.append(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
