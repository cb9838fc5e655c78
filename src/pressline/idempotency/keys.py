"""Idempotency keys, request fingerprints and outcomes (pure: no I/O).

reliability.md 12: a client names one logical request with a key and may send it as
often as it likes. Pressline remembers, per customer, the key with a fingerprint of the
request it first answered and that answer. The same request again replays the answer;
another request under the same key is refused. Two namespaces of keys exist: the
``Idempotency-Key`` header, and an ``orderReferenceId`` submitted with
``"preventDuplicate": true`` (GelatoConnect's flag); they never collide.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

import orjson

from pressline.errors import DomainError, FieldError, ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class KeyKind(StrEnum):
    """Where a key came from."""

    HEADER = "header"
    ORDER_REFERENCE = "order_reference"


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A request under a key: the key and what the request was (its fingerprint)."""

    kind: KeyKind
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """An answer as sent, or as replayed from a stored one."""

    status: int
    body: bytes
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    """A request turned down without writing anything, returned rather than raised.

    The batching writer answers a job that raises at once, from a transaction it then
    rolls back: a reason read from a neighbour's uncommitted write (another submit of
    the same reference in the batch) could name something that is never committed when
    another process commits first. A returned refusal is answered after the batch
    commits, like a success, so it only ever names committed state.
    """

    error: DomainError


#: What a write under idempotency comes to.
Result = Outcome | Refused


def parse_key(value: str | None) -> str | None:
    """The header's key, or None without one; 400 unless 1-255 printable ASCII characters.

    The value is opaque: a key in the IETF draft's quoted form (``"abc"``) is a key with
    quotes, which is the same key every time a client sends it the same way.
    """
    if value is None:
        return None
    if 0 < len(value) <= MAX_KEY_LENGTH and value.isascii() and value.isprintable():
        return value
    message = f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters (a UUID is ideal)"
    raise ValidationFailed([FieldError("invalid_idempotency_key", HEADER, message)])


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, the path (connector prefix and order key included) and the
    body as canonical JSON: the same object with its keys in another order or other
    whitespace is the same request; any other value is another request."""
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode(errors="backslashreplace"))
    digest.update(canonical_json(body))
    return digest.hexdigest()


def canonical_json(body: bytes) -> bytes:
    """``body`` with sorted keys and no whitespace; bytes that are not JSON stay as they are."""
    if not body.strip():
        return b""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return body
