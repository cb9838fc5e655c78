"""One-off HTTPS requests to the server under test (readiness, preflight checks).

The server's certificate is self-signed for the run, so it is not verified; the
only address ever used is 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.client
import ssl
from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@functools.cache
def _insecure_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA store to load: nothing is verified
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def request(
    port: int,
    method: str,
    path: str,
    *,
    api_key: str,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Reply:
    """Send one request on a fresh connection; OSError if nothing answers."""
    headers = {"X-API-KEY": api_key}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPSConnection(HOST, port, timeout=timeout, context=_insecure_context())
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.read())
    finally:
        conn.close()
