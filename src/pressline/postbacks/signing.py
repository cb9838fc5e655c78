"""Standard Webhooks signatures for postbacks, with a per-trigger secret.

Every delivery carries three headers (standardwebhooks.com)::

    webhook-id:        the event id, the same on every retry of one event
    webhook-timestamp: Unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">

During a secret rotation the signature header lists one ``v1,…`` per active secret,
space-separated, so a receiver still holding the old secret keeps verifying. The HMAC
itself is the ``standardwebhooks`` package's, the one receivers verify with.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets as random_source
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
#: 32 random bytes; the spec asks for 24 to 64.
SECRET_BYTES = 32
_MIN_BYTES, _MAX_BYTES = 24, 64


def generate_secret() -> str:
    """A new signing secret, ``whsec_`` + base64 of 32 random bytes. Shown to the
    customer, who verifies with it; we must keep it (an HMAC key cannot be hashed)."""
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(SECRET_BYTES)).decode()


def validate_secret(secret: str) -> str:
    """``secret`` if it is a well-formed ``whsec_`` secret of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a signing secret starts with {SECRET_PREFIX!r}")
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a signing secret is base64 after its prefix") from exc
    if not _MIN_BYTES <= len(key) <= _MAX_BYTES:
        raise ValueError(f"a signing secret holds {_MIN_BYTES} to {_MAX_BYTES} bytes")
    return secret


def active_secrets(
    current: str,
    previous: str | None = None,
    previous_expires_at: datetime | None = None,
    *,
    now: datetime,
) -> tuple[str, ...]:
    """The secrets to sign with: the current one, plus the previous one until its
    rotation grace period ends (no expiry given: until the operator drops it)."""
    if previous is None or previous == current:
        return (current,)
    if previous_expires_at is not None and now >= previous_expires_at:
        return (current,)
    return (current, previous)


def sign(
    *, message_id: str, timestamp: datetime, body: str | bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three ``webhook-*`` headers for one attempt at sending ``body``.

    ``body`` must be the exact text sent. ``timestamp`` is the attempt's time (a retry
    signs again with a fresh one, receivers refuse timestamps older than 5 minutes).
    """
    if not message_id or " " in message_id:
        raise ValueError("message_id must be non-empty and without spaces")
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    if timestamp.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    # standardwebhooks reads the datetime as UTC wall-clock time: hand it UTC.
    utc = timestamp.astimezone(UTC)
    signatures = [
        Webhook(validate_secret(secret)).sign(message_id, utc, text)
        for secret in dict.fromkeys(secrets)  # a secret listed twice signs once
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(utc.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
