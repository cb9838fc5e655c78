"""The edge reads the whole request body even when the answer did not need it.

A 401, 415 or 429 is answered before the body is read. Left unread, the server closed the
keep-alive connection, and a client already sending its next request on it got no answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from pressline.accounts.service import KnownKeys
from pressline.middleware import EdgeMiddleware
from pressline.ratelimit import MemoryBackend, Policy, RateLimiter

KEY = b"pk_0123456789abcdef01234567:sk_" + b"s" * 43  # well formed, unknown


class Client:
    """An ASGI client side: the body in chunks, and what was read of it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.messages: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        self.reads = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.reads < len(self.messages):
            self.reads += 1
            return self.messages[self.reads - 1]
        await asyncio.sleep(3600)  # nothing more comes: a drain must not wait for it
        raise AssertionError("read past the body")

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])


async def answers_401_unread(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "scheme": "https",
        "path": "/api/shop/order",
        "headers": [(b"x-api-key", KEY), *headers],
        "client": ("127.0.0.1", 50000),
    }


def _serve(edge: EdgeMiddleware, scope: dict[str, Any], client: Client) -> None:
    asyncio.run(asyncio.wait_for(edge(scope, client.receive, client.send), timeout=5))


def test_a_body_the_app_did_not_read_is_read_after_its_answer() -> None:
    edge = EdgeMiddleware(answers_401_unread, max_body_bytes=1024, hsts_max_age=0)
    client = Client([b'{"a":', b" 1", b"}"])
    _serve(edge, _scope("POST", [(b"content-length", b"8")]), client)
    assert client.status == 401
    assert client.reads == 3


def test_a_chunked_body_is_read_too() -> None:
    edge = EdgeMiddleware(answers_401_unread, max_body_bytes=1024, hsts_max_age=0)
    client = Client([b"x" * 10, b"y" * 10])
    _serve(edge, _scope("POST", [(b"transfer-encoding", b"chunked")]), client)
    assert client.reads == 2


def test_no_read_for_a_request_without_a_body() -> None:
    """A GET costs no extra call: nothing was announced, so nothing is waited for."""
    edge = EdgeMiddleware(answers_401_unread, max_body_bytes=1024, hsts_max_age=0)
    client = Client([b""])
    _serve(edge, _scope("GET", []), client)
    assert client.reads == 0


def test_a_body_over_the_cap_is_not_read_on() -> None:
    """Past the cap the connection is dropped anyway: reading more would only cost."""
    edge = EdgeMiddleware(answers_401_unread, max_body_bytes=16, hsts_max_age=0)
    client = Client([b"x" * 10, b"x" * 10, b"x" * 10, b"x" * 10])
    _serve(edge, _scope("POST", [(b"transfer-encoding", b"chunked")]), client)
    assert client.reads == 2  # the chunk that crossed 16 bytes was the last one read


def test_a_refused_request_is_read_before_its_429() -> None:
    limiter = RateLimiter(MemoryBackend(), Policy.parse("1/minute"), known=KnownKeys())
    edge = EdgeMiddleware(answers_401_unread, max_body_bytes=1024, hsts_max_age=0, limiter=limiter)
    clients = [Client([b"{", b"}"]) for _ in range(5)]
    for client in clients:
        _serve(edge, _scope("POST", [(b"content-length", b"2")]), client)
    refused = [client for client in clients if client.status == 429]
    assert refused, [client.status for client in clients]
    assert all(client.reads == 2 for client in clients)
