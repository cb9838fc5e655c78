"""The edge every request crosses first (pure ASGI: no per-request task or copy).

* gives each request an id (``Request-Id`` header, ``requestId`` in error bodies);
* refuses plain HTTP with 403 ``https_required``, never a redirect (a redirect has
  already leaked the key); ``X-Forwarded-Proto`` counts only from trusted proxies;
* adds HSTS to every HTTPS response;
* caps the body at ``max_body_bytes``, by Content-Length and while streaming.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pressline.errors import BodyTooLarge, DomainError, HttpsRequired
from pressline.http_errors import error_body, internal_error_body

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def new_request_id() -> str:
    # Request ids need to be unique, not secret: the PRNG avoids a getrandom() syscall
    # per request, which under load waits for the GIL far longer than it runs.
    return f"req_{random.getrandbits(80):020x}"


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        hsts_max_age: int,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains".encode()
        self.trusted_proxies = tuple(trusted_proxies)

    def _is_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        client = scope.get("client")
        if not self.trusted_proxies or not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        if not any(address in network for network in self.trusted_proxies):
            return False
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto: bytes = value.split(b",")[0].strip().lower()
                return proto == b"https"
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        https = self._is_https(scope)
        extra = [(b"request-id", request_id.encode())]
        if https:
            extra.append((b"strict-transport-security", self.hsts))

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"request-id"]
                message["headers"] = headers + extra
            await send(message)

        if not https:
            await _send_error(send_with_headers, HttpsRequired(), request_id)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_body_bytes:
                    await _send_error(
                        send_with_headers, BodyTooLarge(self.max_body_bytes), request_id
                    )
                    return
                break
        try:
            await self.app(scope, self._limited(receive), send_with_headers)
        except Exception:
            # Answer here, inside the edge, so the 500 gets HSTS like every other
            # response; re-raise so the server logs the exception.
            if not started:
                await _send_json(send_with_headers, 500, internal_error_body(request_id))
            raise

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited_receive


async def _send_error(send: Send, error: DomainError, request_id: str) -> None:
    await _send_json(send, *error_body(error, request_id))


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
