"""Use cases for customers, connectors and API keys (operator CLI and API auth)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from pressline.accounts import keys, repository
from pressline.accounts.keys import Principal
from pressline.accounts.repository import KeyRecord
from pressline.errors import (
    ApiKeyNotFound,
    ApiKeyNotRotatable,
    AuthenticationFailed,
    ConnectorNotFound,
    ConnectorPrefixTaken,
    CustomerExists,
    CustomerNotFound,
    CustomerReferenceRequired,
    FieldError,
    ValidationFailed,
)

T = TypeVar("T")

PREFIX_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class ConnectorCreated:
    connector_id: uuid.UUID
    prefix: str
    key: keys.NewKey


def _require(pattern: re.Pattern[str], value: str, code: str, param: str, message: str) -> None:
    if not pattern.match(value):
        raise ValidationFailed([FieldError(code, param, message)])


def create_customer(conn: Connection, *, reference_id: str, name: str, now: datetime) -> uuid.UUID:
    _require(
        REFERENCE_PATTERN, reference_id, "invalid_reference", "customerReferenceId",
        "Use 1-100 letters, digits, '.', '_' or '-'",
    )  # fmt: skip
    if repository.customer_by_reference(conn, reference_id) is not None:
        raise CustomerExists(reference_id)
    customer_id = uuid.uuid4()
    repository.insert_customer(
        conn,
        customer_id=customer_id,
        reference_id=reference_id,
        name=name.strip() or reference_id,
        now=now,
    )
    return customer_id


def create_connector(
    conn: Connection,
    *,
    customer_reference_id: str,
    prefix: str,
    name: str,
    now: datetime,
    rate_limit_per_second: int | None = None,
    all_customers: bool = False,
) -> ConnectorCreated:
    """A connector with its own URL prefix, and its first API key.

    With ``all_customers`` it serves every customer: each request names its customer
    in Customer-Reference-ID; ``customer_reference_id`` is then the connector's owner
    (whose templates it may link).
    """
    _check_rate_limit(rate_limit_per_second)
    owner = customer_id(conn, customer_reference_id)
    _require(
        PREFIX_PATTERN, prefix, "invalid_prefix", "prefix",
        "Use 2-63 lowercase letters, digits or '-', starting with a letter or digit",
    )  # fmt: skip
    if repository.connector_by_prefix(conn, prefix) is not None:
        raise ConnectorPrefixTaken(prefix)
    connector_id = uuid.uuid4()
    try:
        repository.insert_connector(
            conn,
            connector_id=connector_id,
            customer_id=owner,
            name=name or prefix,
            prefix=prefix,
            now=now,
            rate_limit_per_second=rate_limit_per_second,
            all_customers=all_customers,
        )
    except IntegrityError:  # a concurrent CLI call took the prefix first
        raise ConnectorPrefixTaken(prefix) from None
    return ConnectorCreated(connector_id, prefix, create_key(conn, prefix=prefix, now=now))


def customer_id(conn: Connection, reference_id: str) -> uuid.UUID:
    """The id of the customer with that ``customerReferenceId``."""
    row = repository.customer_by_reference(conn, reference_id)
    if row is None:
        raise CustomerNotFound(reference_id)
    found: uuid.UUID = row.id
    return found


#: Highest per-connector limit accepted: far above what one node serves, below abuse.
MAX_RATE_LIMIT_PER_SECOND = 100_000


def _check_rate_limit(per_second: int | None) -> None:
    if per_second is not None and not 1 <= per_second <= MAX_RATE_LIMIT_PER_SECOND:
        raise ValidationFailed(
            [FieldError("invalid_rate_limit", "perSecond",
                        f"Use 1-{MAX_RATE_LIMIT_PER_SECOND} requests per second")]
        )  # fmt: skip


def set_rate_limit(conn: Connection, *, prefix: str, per_second: int | None) -> None:
    """Give a connector's keys their own limit, or (None) the installation's default again.

    Servers apply it at each key's next authenticated request (see ``KnownKeys``).
    """
    _check_rate_limit(per_second)
    if not repository.set_connector_rate_limit(conn, prefix, per_second):
        raise ConnectorNotFound(prefix)
    known_keys.forget_connector(prefix)


def _connector_id(conn: Connection, prefix: str) -> uuid.UUID:
    row = repository.connector_by_prefix(conn, prefix)
    if row is None:
        raise ConnectorNotFound(prefix)
    connector_id: uuid.UUID = row.id
    return connector_id


def create_key(conn: Connection, *, prefix: str, now: datetime) -> keys.NewKey:
    new = keys.generate_key()
    repository.insert_key(
        conn,
        connector_id=_connector_id(conn, prefix),
        key=new.key,
        secret_hash=new.secret_hash,
        now=now,
    )
    return new


@dataclass(frozen=True, slots=True)
class Rotated:
    key: keys.NewKey
    #: When the old key stops working.
    old_expires_at: datetime


def rotate_key(conn: Connection, *, key: str, grace: timedelta, now: datetime) -> Rotated:
    """A new key for the same connector; the old one keeps working for ``grace``.

    A key is rotated once. Revoked or expired, rotating it would make it work again (a
    compromised key); already rotated, each run (a script run twice) would mint another
    key nobody was given and could move its end."""
    old = repository.find_key(conn, key)
    if old is None or old.principal.connector_id is None:
        raise ApiKeyNotFound(key)
    if old.revoked_at is not None:
        raise ApiKeyNotRotatable(key, "revoked")
    if old.expires_at is not None:
        ends = old.expires_at
        state = (
            "expired" if ends <= now else f"already rotated (it stops at {ends:%Y-%m-%d %H:%M} UTC)"
        )
        raise ApiKeyNotRotatable(key, state)
    new = keys.generate_key()
    repository.insert_key(
        conn,
        connector_id=old.principal.connector_id,
        key=new.key,
        secret_hash=new.secret_hash,
        now=now,
    )
    repository.set_key_expiry(conn, key, now + grace)
    return Rotated(new, now + grace)


def revoke_key(conn: Connection, *, key: str, now: datetime) -> None:
    if repository.key_connector(conn, key) is None:
        raise ApiKeyNotFound(key)
    repository.revoke_key(conn, key, now)


def check_key(record: KeyRecord | None, *, secret: str, prefix: str, now: datetime) -> Principal:
    """The caller behind a looked-up key, or AuthenticationFailed (one error for every cause)."""
    if (
        record is None
        or not keys.secret_matches(secret, record.secret_hash)
        or record.revoked_at is not None
        or (record.expires_at is not None and record.expires_at <= now)
        or record.principal.prefix != prefix
    ):
        raise AuthenticationFailed()
    return record.principal


def authenticate(conn: Connection, *, credentials: keys.Credentials, now: datetime) -> Principal:
    """Look up and check the presented key; remember it for the edge (``known_keys``)."""
    return admit(conn, repository.find_key(conn, credentials.key), credentials=credentials, now=now)


def admit(
    conn: Connection, record: KeyRecord | None, *, credentials: keys.Credentials, now: datetime
) -> Principal:
    """``authenticate`` for a key record the caller read itself, in the same statement as
    what the request reads (``repository.KEY_COLUMNS``): nothing of that read may be used
    unless this returns."""
    principal = check_key(record, secret=credentials.secret, prefix=credentials.prefix, now=now)
    assert record is not None  # check_key refuses a missing record
    known_keys.remember(credentials.key, record)
    if record.all_customers:
        return _named_customer(conn, principal, credentials.customer_reference)
    return principal


def _named_customer(conn: Connection, principal: Principal, reference: str | None) -> Principal:
    """An "All Customers" connector acts for the customer its request names."""
    row = repository.customer_by_reference(conn, reference) if reference else None
    if row is None:
        raise CustomerReferenceRequired(reference)
    return replace(principal, customer_id=row.id, customer_reference_id=row.reference_id)


def as_caller(
    conn: Connection,
    *,
    credentials: keys.Credentials,
    now: datetime,
    operation: Callable[..., T],
) -> T:
    """Authenticate and run ``operation(conn, principal=…)`` in one database call."""
    return operation(conn, principal=authenticate(conn, credentials=credentials, now=now))


@dataclass(frozen=True, slots=True)
class KnownKey:
    """A key that authenticated in this process: whose it is, and its rate limit."""

    secret_hash: str
    customer_reference_id: str
    prefix: str
    rate_limit_per_second: int | None
    seen_at: float  # time.monotonic()
    all_customers: bool = False


class KnownKeys:
    """What authentication learned about recently used keys, for the edge of this process.

    The edge rate-limits and logs a request before it reaches the database, so it cannot
    look the key up; it asks here instead. An entry is trusted only for the secret it
    was authenticated with (its SHA-256 is kept, as in the database) and for ``ttl``
    seconds after its last successful authentication. It never decides access:
    every request is still authenticated against the database, so a revocation or a
    changed rate limit takes effect at that key's next request.
    """

    def __init__(self, *, ttl: float = 300.0, max_keys: int = 100_000) -> None:
        self._keys: dict[str, KnownKey] = {}
        self._ttl = ttl
        self._max_keys = max_keys

    def remember(self, key: str, record: KeyRecord) -> None:
        now = time.monotonic()
        known = self._keys.get(key)
        if (
            known is not None
            and now - known.seen_at < self._ttl / 2
            and known.rate_limit_per_second == record.rate_limit_per_second
            and known.secret_hash == record.secret_hash
        ):
            return  # fresh and unchanged: skip the allocation on the hot path
        if known is None and len(self._keys) >= self._max_keys:
            self._keys.clear()  # a bound, not an LRU: reached only under a key-spraying flood
        principal = record.principal
        self._keys[key] = KnownKey(
            record.secret_hash,
            principal.customer_reference_id,
            principal.prefix,
            record.rate_limit_per_second,
            now,
            record.all_customers,
        )

    def verified(self, key: str, secret: str) -> KnownKey | None:
        """The key's entry if it authenticated here lately with exactly this secret."""
        known = self._keys.get(key)
        if known is None or time.monotonic() - known.seen_at > self._ttl:
            return None
        return known if keys.secret_matches(secret, known.secret_hash) else None

    def forget_connector(self, prefix: str) -> None:
        """Drop a connector's keys (after changing its limit from this process)."""
        for key in [key for key, known in self._keys.items() if known.prefix == prefix]:
            self._keys.pop(key, None)


#: The process's cache (one per API process; each fills its own).
known_keys = KnownKeys()
