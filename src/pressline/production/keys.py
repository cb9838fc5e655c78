"""Facility keys: ``fk_…:fs_…`` pairs, apart from customers' ``pk_…:sk_…`` keys.

The distinct prefixes keep the two kinds apart at the first glance: a customer key
sent to the production API (or a facility key to the order API) is malformed there,
so it is a 401 before any lookup. Secrets are stored as SHA-256, like API keys.
"""

from __future__ import annotations

import re
import secrets

from pressline.accounts.keys import NewKey, hash_secret

_HEADER = re.compile(r"^(fk_[0-9a-f]{24}):(fs_[A-Za-z0-9_-]{43})$")


def generate_key() -> NewKey:
    secret = "fs_" + secrets.token_urlsafe(32)
    return NewKey(key="fk_" + secrets.token_hex(12), secret=secret, secret_hash=hash_secret(secret))


def parse_header(value: str | None) -> tuple[str, str] | None:
    """Split a facility's ``X-API-KEY`` into (key, secret), or None if malformed."""
    if not value:
        return None
    match = _HEADER.match(value.strip())
    return (match.group(1), match.group(2)) if match else None
