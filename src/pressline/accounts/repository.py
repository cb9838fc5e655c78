"""SQL for customers, connectors and keys. Nothing else touches these tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from pressline.accounts.keys import Principal
from pressline.accounts.tables import api_keys, connectors, customers
from pressline.db import AnyRow


@dataclass(frozen=True, slots=True)
class KeyRecord:
    principal: Principal
    secret_hash: str
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_limit_per_second: int | None = None
    #: The connector serves every customer (each request names one).
    all_customers: bool = False


#: What authenticating a request reads of its key, labelled ``key_*`` so that a statement
#: can read them beside other tables' columns (``KEY_FROM`` joined to those tables, where
#: ``KEY_MATCHES``): a read endpoint authenticates in the same round trip as its read.
KEY_COLUMNS = (
    api_keys.c.secret_hash.label("key_secret_hash"),
    api_keys.c.expires_at.label("key_expires_at"),
    api_keys.c.revoked_at.label("key_revoked_at"),
    connectors.c.id.label("key_connector_id"),
    connectors.c.prefix.label("key_prefix"),
    connectors.c.rate_limit_per_second.label("key_rate_limit_per_second"),
    connectors.c.all_customers.label("key_all_customers"),
    customers.c.id.label("key_customer_id"),
    customers.c.reference_id.label("key_reference_id"),
)
KEY_FROM = api_keys.join(connectors).join(customers)
KEY_MATCHES = api_keys.c.key == bindparam("key")
#: The key's customer, for a statement that reads that customer's rows. A subquery of its
#: own, not the joined ``customers.id``: PostgreSQL runs it first and then plans the rest
#: as for a given customer (joined, an order looked up by id or reference was found by
#: reading every order of the customer).
KEY_CUSTOMER_ID = (
    select(connectors.c.customer_id)
    .select_from(api_keys.join(connectors))
    .where(KEY_MATCHES)
    .scalar_subquery()
    .correlate(None)
)

# Built once: constructing a statement costs several times more than running it.
_FIND_KEY = select(*KEY_COLUMNS).select_from(KEY_FROM).where(KEY_MATCHES)


def find_key(conn: Connection, key: str) -> KeyRecord | None:
    """The key with its connector and customer, in one indexed lookup (every request)."""
    return key_record(conn.execute(_FIND_KEY, {"key": key}).first())


def key_record(row: AnyRow | None) -> KeyRecord | None:
    """The key in a row with :data:`KEY_COLUMNS` (None: no such key)."""
    if row is None or row.key_customer_id is None:
        return None
    return KeyRecord(
        principal=Principal(
            row.key_customer_id, row.key_reference_id, row.key_connector_id, row.key_prefix
        ),
        secret_hash=row.key_secret_hash,
        expires_at=row.key_expires_at,
        revoked_at=row.key_revoked_at,
        rate_limit_per_second=row.key_rate_limit_per_second,
        all_customers=row.key_all_customers,
    )


def insert_customer(
    conn: Connection, *, customer_id: uuid.UUID, reference_id: str, name: str, now: datetime
) -> None:
    conn.execute(
        insert(customers).values(
            id=customer_id, reference_id=reference_id, name=name, created_at=now
        )
    )


def customer_by_reference(conn: Connection, reference_id: str) -> AnyRow | None:
    return conn.execute(
        select(
            customers.c.id, customers.c.reference_id, customers.c.name, customers.c.created_at
        ).where(customers.c.reference_id == reference_id)
    ).first()


def list_customers(conn: Connection) -> list[AnyRow]:
    return list(
        conn.execute(
            select(
                customers.c.id, customers.c.reference_id, customers.c.name, customers.c.created_at
            ).order_by(customers.c.reference_id)
        )
    )


def insert_connector(
    conn: Connection,
    *,
    connector_id: uuid.UUID,
    customer_id: uuid.UUID,
    name: str,
    prefix: str,
    now: datetime,
    rate_limit_per_second: int | None = None,
    all_customers: bool = False,
) -> None:
    conn.execute(
        insert(connectors).values(
            all_customers=all_customers,
            id=connector_id,
            customer_id=customer_id,
            name=name,
            prefix=prefix,
            created_at=now,
            rate_limit_per_second=rate_limit_per_second,
        )
    )


_CONNECTOR_COLUMNS = (
    connectors.c.id,
    connectors.c.name,
    connectors.c.prefix,
    connectors.c.created_at,
    connectors.c.rate_limit_per_second,
    connectors.c.all_customers,
    customers.c.reference_id.label("customer_reference_id"),
)


def connector_by_prefix(conn: Connection, prefix: str) -> AnyRow | None:
    return conn.execute(
        select(*_CONNECTOR_COLUMNS)
        .select_from(connectors.join(customers))
        .where(connectors.c.prefix == prefix)
    ).first()


def list_connectors(conn: Connection, customer_reference_id: str | None = None) -> list[AnyRow]:
    query = select(*_CONNECTOR_COLUMNS).select_from(connectors.join(customers))
    if customer_reference_id is not None:
        query = query.where(customers.c.reference_id == customer_reference_id)
    return list(conn.execute(query.order_by(connectors.c.prefix)))


def set_connector_rate_limit(conn: Connection, prefix: str, per_second: int | None) -> bool:
    """Set (or, with None, clear) a connector's own limit; False if there is no such prefix."""
    result = conn.execute(
        update(connectors)
        .where(connectors.c.prefix == prefix)
        .values(rate_limit_per_second=per_second)
    )
    return result.rowcount == 1


def insert_key(
    conn: Connection,
    *,
    connector_id: uuid.UUID,
    key: str,
    secret_hash: str,
    now: datetime,
) -> None:
    conn.execute(
        insert(api_keys).values(
            id=uuid.uuid4(),
            connector_id=connector_id,
            key=key,
            secret_hash=secret_hash,
            created_at=now,
        )
    )


def list_keys(conn: Connection, connector_id: uuid.UUID) -> list[AnyRow]:
    return list(
        conn.execute(
            select(
                api_keys.c.key, api_keys.c.created_at, api_keys.c.expires_at, api_keys.c.revoked_at
            )
            .where(api_keys.c.connector_id == connector_id)
            .order_by(api_keys.c.created_at)
        )
    )


def key_connector(conn: Connection, key: str) -> uuid.UUID | None:
    found: uuid.UUID | None = conn.execute(
        select(api_keys.c.connector_id).where(api_keys.c.key == key)
    ).scalar()
    return found


def set_key_expiry(conn: Connection, key: str, expires_at: datetime) -> None:
    conn.execute(update(api_keys).where(api_keys.c.key == key).values(expires_at=expires_at))


def revoke_key(conn: Connection, key: str, now: datetime) -> None:
    conn.execute(update(api_keys).where(api_keys.c.key == key).values(revoked_at=now))


def set_connector_sandbox(conn: Connection, prefix: str, sandbox: bool) -> bool:
    """Mark a connector as a sandbox (its orders move on their own) or not."""
    result = conn.execute(
        update(connectors).where(connectors.c.prefix == prefix).values(sandbox=sandbox)
    )
    return result.rowcount == 1


def connector_is_sandbox(conn: Connection, connector_id: uuid.UUID) -> bool:
    return connector_id in sandbox_connectors(conn, [connector_id])


def sandbox_connectors(conn: Connection, connector_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these connectors are sandboxes, in one query."""
    return set(conn.execute(_SANDBOX_CONNECTORS, {"ids": list(set(connector_ids))}).scalars())


# Built once: intake asks for every batch (statements on hot paths, ADR 0001).
_SANDBOX_CONNECTORS = select(connectors.c.id).where(
    connectors.c.id.in_(bindparam("ids", expanding=True)), connectors.c.sandbox.is_(True)
)
