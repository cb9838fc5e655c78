"""API keys: ``key:secret`` pairs of which only the secret's SHA-256 is stored.

The secret is 256 random bits, so a plain SHA-256 is enough to make a database dump
useless (no dictionary to try) while costing 0.4 µs per request; a slow password
hash (argon2: ~100 ms) would cap the API at ten requests per second per core.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_HEADER = re.compile(r"^(pk_[0-9a-f]{24}):(sk_[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    secret: str
    secret_hash: str

    @property
    def header_value(self) -> str:
        return f"{self.key}:{self.secret}"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presents: the key, its secret, and the connector prefix it called."""

    key: str
    secret: str
    prefix: str
    #: The Customer-Reference-ID header: which customer an "All Customers" connector acts for.
    customer_reference: str | None = None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> NewKey:
    secret = "sk_" + secrets.token_urlsafe(32)
    return NewKey(key="pk_" + secrets.token_hex(12), secret=secret, secret_hash=hash_secret(secret))


def parse_header(value: str | None) -> tuple[str, str] | None:
    """Split an ``X-API-KEY`` value into (key, secret), or None if it is malformed."""
    if not value:
        return None
    match = _HEADER.match(value.strip())
    return (match.group(1), match.group(2)) if match else None


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
