"""The edge every request crosses first (pure ASGI: no per-request task or copy).

* gives each request an id (``Request-Id`` header, ``requestId`` in error bodies);
* refuses plain HTTP with 403 ``https_required``, never a redirect (a redirect has
  already leaked the key); ``X-Forwarded-Proto`` counts only from trusted proxies;
* adds HSTS to every HTTPS response;
* caps the body at ``max_body_bytes``, by Content-Length and while streaming;
* counts ``/api/…`` requests against their API key's rate limit (``ratelimit``) and
  answers 429 over it, with the ``RateLimit`` headers on every counted response;
* writes the access log line and the request metrics (``observability``);
* hands each ``/api/…`` exchange, bodies included, to the request log (``requestlog``);
  of calls no key authenticated, a few a second and without their bodies.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pressline import ids
from pressline.accounts.service import KnownKey, known_keys
from pressline.errors import (
    AuthenticationFailed,
    BodyTooLarge,
    DomainError,
    HttpsRequired,
    RateLimited,
)
from pressline.http_errors import error_body, internal_error_body
from pressline.observability import RequestObserver
from pressline.ratelimit import Presented, RateLimiter, presented_key
from pressline.requestlog import edge as requestlog_edge
from pressline.requestlog.recorder import RequestRecorder

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
log = logging.getLogger(__name__)


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
        recorder: RequestRecorder | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains".encode()
        self.trusted_proxies = tuple(trusted_proxies)
        self.limiter = limiter
        self.observer = observer
        self.recorder = recorder
        self.known = limiter.known if limiter is not None else known_keys
        self._anonymous = requestlog_edge.AnonymousAllowance()

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
                # The last value: the one the trusted proxy itself set or appended. An
                # earlier one may be the client's own claim, passed on by a proxy that
                # appends to the header instead of overwriting it.
                proto: bytes = value.split(b",")[-1].strip().lower()
                return proto == b"https"
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ids.request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        exchange = _Exchange(request_id, [(b"request-id", request_id.encode())], send)
        logged = self.recorder is not None and scope["path"].startswith("/api/")
        if logged:
            exchange.request_body, exchange.response_body = [], []
        error: BaseException | None = None
        try:
            await self._serve(scope, receive, exchange)
        except Exception as exc:
            error = exc
            raise
        finally:
            if logged:
                try:
                    self._record(scope, exchange, started)
                except Exception:  # the log must never cost a request its answer
                    log.exception("recording the request failed")
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
        length, api_key, chunked, repeated_key = _read_headers(scope["headers"])
        http1 = scope.get("http_version", "1.1").startswith("1")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            if http1:  # the body is never read: see _limited
                exchange.extra.append(_CLOSE)
            await _send_error(exchange.send, BodyTooLarge(self.max_body_bytes), exchange.request_id)
            return
        exchange.body_left = chunked or (length is not None and length != b"0")
        receive = self._limited(receive, exchange, http1)
        if repeated_key and scope["path"].startswith(_KEYED_PATHS):
            # Which of two keys is the caller? The rate limit counted the last and the
            # routes authenticated the first, so a junk second key escaped the limit.
            await _drain(receive, exchange)
            await _send_error(exchange.send, AuthenticationFailed(), exchange.request_id)
            return
        exchange.presented = presented_key(api_key, self.known)
        limited = self.limiter is not None and scope["path"].startswith("/api/")
        if limited and exchange.presented is not None and not await self._admit(exchange, receive):
            return
        try:
            await self.app(scope, receive, exchange.send)
        except Exception:
            # Answer here, inside the edge, so the 500 gets HSTS like every other
            # response; re-raise so the server logs the exception.
            if not exchange.status:
                await _send_json(exchange.send, 500, internal_error_body(exchange.request_id))
            raise
        await _drain(receive, exchange)

    async def _admit(self, exchange: _Exchange, receive: Receive) -> bool:
        """Count the request against its key; False once a 429 has been sent (after the
        body is read: see ``_drain``)."""
        assert self.limiter is not None and exchange.presented is not None
        presented = exchange.presented
        decision = await self.limiter.check(presented.key, presented.known)
        exchange.extra += decision.headers
        if decision.allowed:
            return True
        policy = self.limiter.policy_for(presented.known)
        error = RateLimited(policy.quota, policy.window, decision.retry_after)
        retry = [(b"retry-after", str(decision.retry_after).encode())]
        await _drain(receive, exchange)
        await _send_json(exchange.send, *error_body(error, exchange.request_id), headers=retry)
        return False

    def _record(self, scope: Scope, exchange: _Exchange, started: float) -> None:
        assert self.recorder is not None
        assert exchange.request_body is not None and exchange.response_body is not None
        known = self._caller(exchange.presented)
        status = exchange.status or 500
        if not requestlog_edge.authenticated(scope, status, known) and not self._anonymous.take():
            return
        self.recorder.record(
            requestlog_edge.entry(
                scope,
                request_id=exchange.request_id,
                status=status,
                started=started,
                known=known,
                request_body=exchange.request_body,
                response_body=exchange.response_body,
            )
        )

    def _caller(self, presented: Presented | None) -> KnownKey | None:
        """Who made the request, if the key authenticated (now or earlier) in this process."""
        if presented is None:
            return None
        return presented.known or self.known.verified(presented.key, presented.secret)

    def _limited(self, receive: Receive, exchange: _Exchange, http1: bool) -> Receive:
        received = 0
        limit = self.max_body_bytes
        sink = exchange.request_body

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                exchange.body_left = False
                return message
            exchange.body_left = bool(message.get("more_body"))
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                # Never read on: the server drops the connection after the 413, which
                # says so, or the client's next request on it would be lost (HTTP/2
                # ends the stream alone, and has no Connection header).
                exchange.body_left = False
                if http1:
                    exchange.extra.append(_CLOSE)
                raise BodyTooLarge(limit)
            if sink is not None:
                sink.append(chunk)
            return message

        return limited_receive


class _Exchange:
    """One request's state at the edge: its id, extra headers, and the status sent."""

    __slots__ = (
        "_send", "body_left", "extra", "presented", "request_body", "request_id",
        "response_body", "status",
    )  # fmt: skip

    def __init__(self, request_id: str, extra: list[tuple[bytes, bytes]], send: Send) -> None:
        self.request_id = request_id
        self.extra = extra
        self.status = 0
        self.presented: Presented | None = None
        # Whether the request may still have body to read (none is announced: False).
        self.body_left = False
        self._send = send
        # Kept for the request log (None when the request is not logged).
        self.request_body: list[bytes] | None = None
        self.response_body: list[bytes] | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = [h for h in message.get("headers", []) if h[0].lower() != b"request-id"]
            message["headers"] = headers + self.extra
        elif self.response_body is not None:
            self.response_body.append(message.get("body", b""))
        await self._send(message)


#: For an HTTP/1.1 answer after which the server drops the connection.
_CLOSE = (b"connection", b"close")

#: The APIs that read X-API-KEY (health and documentation do not).
_KEYED_PATHS = ("/api/", "/production/")


def _read_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[bytes | None, bytes | None, bool, bool]:
    """Content-Length, X-API-KEY, whether the body is chunked and whether X-API-KEY came
    more than once, in one pass."""
    length = api_key = None
    chunked = repeated_key = False
    for name, value in headers:
        if name == b"content-length":
            length = value
        elif name == b"x-api-key":
            repeated_key = api_key is not None
            api_key = value
        elif name == b"transfer-encoding":
            chunked = True
    return length, api_key, chunked, repeated_key


async def _drain(receive: Receive, exchange: _Exchange) -> None:
    """Read and drop what the answer left unread of the request body (at most the body
    cap). Answered before its body was read (a 401, 415 or 429), a keep-alive connection
    was closed by the server, and a client already sending its next request on it got no
    answer at all (~1.5% of requests in a 16-thread burst of refused submits)."""
    try:
        while exchange.body_left:
            await receive()
    except BodyTooLarge:
        pass


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
