"""One attempt at one delivery: an HTTP request to a checked address, or one e-mail.

Blocking on purpose: the worker sends from threads of its own (one per order of a
claimed batch, each order's deliveries in turn: docs/adr/0013), so a slow receiver holds
up nobody's request handling. A ``Sender`` is shared by those threads: each attempt has
its own request, deadline and connection.

HTTP: the URL is checked (``outbound.check_url``) right before the attempt and the
request goes to the address that check approved, with the URL's host name for the
``Host`` header, TLS SNI and the certificate check: a DNS answer changed in between
cannot send it elsewhere. Redirects are never followed, proxies from the environment
are ignored, and no connection is reused (a pooled connection to one IP address could
carry another host's TLS session). Only the first KiB of an answer is read, and the whole
attempt has PRESSLINE_POSTBACK_TIMEOUT_SECONDS: httpx's timeouts bound each read, so a
receiver dripping its answer a byte at a time would otherwise hold the worker (and
everybody's postbacks behind it) for hours, and outlive the worker's lease.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from types import TracebackType
from typing import Any, Final

import httpx

from pressline.config import Settings
from pressline.postbacks import outbound
from pressline.postbacks.outbound import OutboundUrlRefused, Resolver
from pressline.postbacks.schedule import Outcome, classify

EXCERPT_BYTES: Final = 1024


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What an attempt got: an HTTP status (None: no answer) or the reason it failed."""

    outcome: Outcome
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    response_excerpt: str | None = None


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


class _Deadline:
    """Cuts an attempt's connection off once ``seconds`` have passed, whatever it is
    waiting for. It learns the sockets through httpx's ``trace`` extension (or from
    :class:`_SMTP`) and shuts them down from a timer thread; the blocked read then fails
    at once."""

    _OPENED = ("connection.connect_tcp.complete", "connection.start_tls.complete")

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event not in self._OPENED:
            return
        self.watch(info["return_value"].get_extra_info("socket"))

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also under TLS: ``SSLSocket.shutdown`` would tear
    # down the TLS state a read in another thread is using.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _SMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that hands its socket to a deadline as soon as it is connected.

    ``smtplib``'s timeout bounds each read only: a mail server sending its greeting a
    line at a time would hold the worker as long as it liked. The socket is opened by
    the constructor, which also reads that greeting, hence the hook in ``_get_socket``.
    """

    def __init__(self, host: str, port: int, *, timeout: float, deadline: _Deadline) -> None:
        self._deadline = deadline
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._deadline.watch(sock)
        return sock


class Sender:
    """Sends webhooks and e-mails under the operator's settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver = outbound.system_resolver,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._settings = settings
        self._resolver = resolver
        self._networks = outbound.parse_networks(settings.postback_allowed_networks)
        self._client = httpx.Client(
            follow_redirects=False,
            timeout=settings.postback_timeout_seconds,
            trust_env=False,  # an HTTP(S)_PROXY in the environment must not reroute postbacks
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
            verify=verify,  # the system's CAs; a test's own CA in tests
        )

    def close(self) -> None:
        self._client.close()

    def check(self, url: str) -> outbound.Destination:
        """Where ``url`` may be reached, under the operator's settings."""
        return outbound.check_url(
            url,
            resolve=self._resolver,
            allow_http=self._settings.postback_allow_http,
            allowed_networks=self._networks,
        )

    def send_webhook(
        self, *, url: str, method: str, headers: Mapping[str, str], body: str
    ) -> AttemptResult:
        try:
            destination = self.check(url)
        except OutboundUrlRefused as exc:
            return AttemptResult(Outcome.RETRY, error=f"refused: {exc.reason}")
        deadline = _Deadline(self._settings.postback_timeout_seconds)
        extensions: dict[str, Any] = {"trace": deadline.trace}
        if destination.scheme == "https":
            extensions["sni_hostname"] = destination.host
        try:
            request = self._client.build_request(
                method,
                destination.request_url,
                headers={**headers, "Host": destination.host_header},
                content=body.encode("utf-8"),
                extensions=extensions,
            )
        except (ValueError, httpx.HTTPError) as exc:  # e.g. a header httpx cannot encode
            return AttemptResult(Outcome.RETRY, error=f"request not built: {exc}")
        started = time.monotonic()
        with deadline:
            try:
                response = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                timed_out = deadline.expired or isinstance(exc, httpx.TimeoutException)
                reason = (
                    f"timeout: no answer within {self._settings.postback_timeout_seconds} s"
                    if timed_out
                    else f"{type(exc).__name__}: {exc}"
                )
                return AttemptResult(Outcome.RETRY, latency_ms=_elapsed_ms(started), error=reason)
            try:
                answer = _read_start(response)
            finally:
                response.close()
        latency = _elapsed_ms(started)
        status = response.status_code
        outcome = classify(status)
        error = None
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            error = f"redirect to {location!r} not followed: configure the final URL"
        elif outcome is not Outcome.DELIVERED:
            error = f"HTTP {status}"
        return AttemptResult(outcome, status, latency, error, answer)

    def send_email(
        self, *, to: str, subject: str, body: str, content_type: str, message_id: str
    ) -> AttemptResult:
        """One e-mail through the operator's SMTP server.

        The standard library's ``smtplib`` is enough here: the worker sends from threads
        of its own, one message per connection, so it needs no asynchronous client, and it
        covers what operators' servers ask for (STARTTLS, AUTH) without a dependency.
        """
        settings = self._settings
        if not settings.smtp_host:
            return AttemptResult(
                Outcome.RETRY, error="e-mail is not configured (PRESSLINE_SMTP_HOST)"
            )
        message = EmailMessage()
        try:
            message["From"] = settings.smtp_from
            message["To"] = to
            message["Subject"] = " ".join(subject.split())  # no line breaks in a header
            message["X-Pressline-Event-Id"] = message_id
            # RFC 5322 asks for both; spam filters mark a message without them. The id is
            # the delivery's, so a retry is recognisably the same message.
            message["Date"] = formatdate(usegmt=True)
            message["Message-ID"] = _message_id_header(message_id, settings.smtp_from)
            subtype = "html" if content_type.startswith("text/html") else "plain"
            message.set_content(body, subtype=subtype, charset="utf-8")
        except (ValueError, TypeError) as exc:
            return AttemptResult(Outcome.RETRY, error=f"e-mail not built: {exc}")
        timeout = settings.postback_timeout_seconds
        deadline = _Deadline(timeout)
        started = time.monotonic()
        try:
            with (
                deadline,
                _SMTP(
                    settings.smtp_host, settings.smtp_port, timeout=timeout, deadline=deadline
                ) as smtp,
            ):
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    password = settings.smtp_password
                    smtp.login(
                        settings.smtp_username, password.get_secret_value() if password else ""
                    )
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            error = f"timeout: no answer within {timeout:g} s" if deadline.expired else f"{exc!r}"
            return AttemptResult(
                Outcome.RETRY, latency_ms=_elapsed_ms(started), error=f"SMTP: {error}"
            )
        return AttemptResult(
            Outcome.DELIVERED, latency_ms=_elapsed_ms(started), response_excerpt="accepted"
        )


def _read_start(response: httpx.Response) -> str:
    """The first KiB of the answer's body (a receiver may answer with megabytes)."""
    collected = b""
    try:
        for chunk in response.iter_bytes():
            collected += chunk
            if len(collected) >= EXCERPT_BYTES:
                break
    except httpx.HTTPError as exc:
        return f"(body unreadable: {type(exc).__name__})"
    return collected[:EXCERPT_BYTES].decode("utf-8", errors="replace")


def _message_id_header(delivery_id: str, sender: str) -> str:
    """``<msg_…@the sender's domain>``: unique per delivery, the same on each attempt."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "pressline.invalid"
    return f"<{delivery_id}@{domain}>"
