"""A minimal HTTP/1.1 keep-alive client over asyncio streams, for load from Python.

httpx spends about a millisecond of CPU per request; on a 2-core machine shared with
the server that made the load generator, not the server, the bottleneck. This client
does only what the runs need (one connection per simulated client, requests in turn,
``Content-Length`` bodies, TLS without verification: the server's certificate is
self-signed for the run) at a fraction of the cost. A response it cannot parse is a
transport error, as a dropped connection is: both end the request without a status.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

#: Seconds before a request counts as failed (far above any latency under this load).
REQUEST_TIMEOUT = 30.0


class ProtocolError(Exception):
    """The server's answer was not an HTTP/1.1 response this client understands."""


def unverified_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA store to load: nothing is verified
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive HTTPS connection; (re)opened on demand, closed after any failure."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext, headers: dict[str, str]) -> None:
        self._host, self._port, self._tls = host, port, tls
        fixed = {"Host": f"{host}:{port}", **headers}
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request and read its response; any failure closes the connection."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                return await self._exchange(method, path, body, headers or {})
        except BaseException:
            self.close()
            raise

    async def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._tls, server_hostname="localhost"
            )
        assert self._reader is not None
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if body is not None:
            extra += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}{extra}\r\n".encode()
        self._writer.write(head + body if body else head)
        response = await _read_response(self._reader)
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _read_response(reader: asyncio.StreamReader) -> Response:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("response head too long") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ProtocolError("chunked responses are not supported")
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Response(int(parts[1]), headers, body)
