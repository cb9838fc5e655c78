"""The edge every request crosses first (pure ASGI: no per-request task or copy).

* gives each request an id (``Request-Id`` header, ``requestId`` in error bodies);
* refuses plain HTTP with 403 ``https_required``, never a redirect (a redirect has
  already leaked the key); ``X-Forwarded-Proto`` counts only from trusted proxies;
* adds HSTS to every HTTPS response;
* caps the body at ``max_body_bytes``, by Content-Length and while streaming;
* counts ``/api/…`` requests against their API key's rate limit (``ratelimit``) and
  answers 429 over it, with the ``RateLimit`` headers on every counted response;
* writes the access log line and the request metrics (``observability``).
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pressline.accounts.service import KnownKey, known_keys
from pressline.errors import BodyTooLarge, DomainError, HttpsRequired, RateLimited
from pressline.http_errors import error_body, internal_error_body
from pressline.observability import RequestObserver
from pressline.ratelimit import Presented, RateLimiter, presented_key

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
        limiter: RateLimiter | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains".encode()
        self.trusted_proxies = tuple(trusted_proxies)
        self.limiter = limiter
        self.observer = observer
        self.known = limiter.known if limiter is not None else known_keys

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
        started = time.perf_counter()
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        exchange = _Exchange(request_id, [(b"request-id", request_id.encode())], send)
        error: BaseException | None = None
        try:
            await self._serve(scope, receive, exchange)
        except Exception as exc:
            error = exc
            raise
        finally:
            if self.observer is not None:
                self.observer.finished(
                    scope,
                    request_id=request_id,
                    status=exchange.status or 500,
                    started=started,
                    caller=self._caller(exchange.presented),
                    error=error,
                )

    async def _serve(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        https = self._is_https(scope)
        if https:
            exchange.extra.append((b"strict-transport-security", self.hsts))
        else:
            await _send_error(exchange.send, HttpsRequired(), exchange.request_id)
            return
        length, api_key = _read_headers(scope["headers"])
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _send_error(exchange.send, BodyTooLarge(self.max_body_bytes), exchange.request_id)
            return
        exchange.presented = presented_key(api_key, self.known)
        limited = self.limiter is not None and scope["path"].startswith("/api/")
        if limited and exchange.presented is not None and not await self._admit(exchange):
            return
        try:
            await self.app(scope, self._limited(receive), exchange.send)
        except Exception:
            # Answer here, inside the edge, so the 500 gets HSTS like every other
            # response; re-raise so the server logs the exception.
            if not exchange.status:
                await _send_json(exchange.send, 500, internal_error_body(exchange.request_id))
            raise

    async def _admit(self, exchange: _Exchange) -> bool:
        """Count the request against its key; False once a 429 has been sent."""
        assert self.limiter is not None and exchange.presented is not None
        presented = exchange.presented
        decision = await self.limiter.check(presented.key, presented.known)
        exchange.extra += decision.headers
        if decision.allowed:
            return True
        policy = self.limiter.policy_for(presented.known)
        error = RateLimited(policy.quota, policy.window, decision.retry_after)
        retry = [(b"retry-after", str(decision.retry_after).encode())]
        await _send_json(exchange.send, *error_body(error, exchange.request_id), headers=retry)
        return False

    def _caller(self, presented: Presented | None) -> KnownKey | None:
        """Who made the request, if the key authenticated (now or earlier) in this process."""
        if presented is None:
            return None
        return presented.known or self.known.verified(presented.key, presented.secret)

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


class _Exchange:
    """One request's state at the edge: its id, extra headers, and the status sent."""

    __slots__ = ("_send", "extra", "presented", "request_id", "status")

    def __init__(self, request_id: str, extra: list[tuple[bytes, bytes]], send: Send) -> None:
        self.request_id = request_id
        self.extra = extra
        self.status = 0
        self.presented: Presented | None = None
        self._send = send

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = [h for h in message.get("headers", []) if h[0].lower() != b"request-id"]
            message["headers"] = headers + self.extra
        await self._send(message)


def _read_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None]:
    """Content-Length and X-API-KEY, in one pass over the headers."""
    length = api_key = None
    for name, value in headers:
        if name == b"content-length":
            length = value
        elif name == b"x-api-key":
            api_key = value
    return length, api_key


async def _send_error(send: Send, error: DomainError, request_id: str) -> None:
    await _send_json(send, *error_body(error, request_id))


async def _send_json(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
