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
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    secret: str
    secret_hash: str

    @property
    def header_value(self) -> str:
        return f"{self.key}:{self.secret}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the customer and connector an API key belongs to.

    Order use cases need only the customer; the operator CLI acts for a customer
    without a connector, so it passes ``connector_id=None``.
    """

    customer_id: uuid.UUID
    customer_reference_id: str
    connector_id: uuid.UUID | None = None
    prefix: str = ""


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


@dataclass(frozen=True, slots=True)
class KeyFormat:
    """A kind of key: ``<key prefix><96 random bits>:<secret prefix><256 random bits>``."""

    key_prefix: str
    secret_prefix: str
    _header: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key, secret = re.escape(self.key_prefix), re.escape(self.secret_prefix)
        pattern = re.compile(rf"^({key}[0-9a-f]{{24}}):({secret}[A-Za-z0-9_-]{{43}})$")
        object.__setattr__(self, "_header", pattern)

    def generate(self) -> NewKey:
        secret = self.secret_prefix + secrets.token_urlsafe(32)
        key = self.key_prefix + secrets.token_hex(12)
        return NewKey(key=key, secret=secret, secret_hash=hash_secret(secret))

    def parse_header(self, value: str | None) -> tuple[str, str] | None:
        """Split an ``X-API-KEY`` value into (key, secret), or None if it is malformed."""
        if not value:
            return None
        match = self._header.match(value.strip())
        return (match.group(1), match.group(2)) if match else None


#: Customers' API keys.
API_KEYS = KeyFormat("pk_", "sk_")
generate_key = API_KEYS.generate
parse_header = API_KEYS.parse_header


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
