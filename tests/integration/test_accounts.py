"""Customers, connectors and keys: the rules the operator's commands rely on."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection

from pressline.accounts import repository, service
from pressline.accounts.keys import NewKey
from pressline.db import Database, utcnow
from pressline.errors import (
    ApiKeyNotFound,
    ApiKeyNotRotatable,
    AuthenticationFailed,
    ConnectorNotFound,
    ConnectorPrefixTaken,
    CustomerExists,
    CustomerNotFound,
    ValidationFailed,
)


def _unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("reference", ["", "-leading-dash", "has space", "x" * 101, "ünïcode"])
def test_a_customer_reference_must_be_url_and_log_safe(database: Database, reference: str) -> None:
    with pytest.raises(ValidationFailed) as caught, database.transaction() as conn:
        service.create_customer(conn, reference_id=reference, name="", now=utcnow())
    assert [(e.code, e.param) for e in caught.value.errors] == [
        ("invalid_reference", "customerReferenceId")
    ]


def test_a_customer_reference_is_unique(database: Database) -> None:
    reference = _unique("acme")
    with database.transaction() as conn:
        service.create_customer(conn, reference_id=reference, name="Acme", now=utcnow())
    with pytest.raises(CustomerExists), database.transaction() as conn:
        service.create_customer(conn, reference_id=reference, name="Acme again", now=utcnow())


@pytest.mark.parametrize("prefix", ["a", "Upper", "under_score", "-dash", "x" * 64])
def test_a_connector_prefix_must_fit_in_a_url_path(database: Database, prefix: str) -> None:
    reference = _unique("shop")
    with database.transaction() as conn:
        service.create_customer(conn, reference_id=reference, name="", now=utcnow())
    with pytest.raises(ValidationFailed) as caught, database.transaction() as conn:
        service.create_connector(
            conn, customer_reference_id=reference, prefix=prefix, name="", now=utcnow()
        )
    assert caught.value.errors[0].param == "prefix"


def test_a_prefix_belongs_to_one_connector_across_customers(database: Database) -> None:
    first, second, prefix = _unique("one"), _unique("two"), _unique("shared")
    with database.transaction() as conn:
        for reference in (first, second):
            service.create_customer(conn, reference_id=reference, name="", now=utcnow())
        service.create_connector(
            conn, customer_reference_id=first, prefix=prefix, name="", now=utcnow()
        )
    with pytest.raises(ConnectorPrefixTaken), database.transaction() as conn:
        service.create_connector(
            conn, customer_reference_id=second, prefix=prefix, name="", now=utcnow()
        )


def test_a_connector_needs_an_existing_customer(database: Database) -> None:
    with pytest.raises(CustomerNotFound), database.transaction() as conn:
        service.create_connector(
            conn, customer_reference_id=_unique("ghost"), prefix=_unique("p"), name="", now=utcnow()
        )


def test_keys_cannot_be_issued_rotated_or_revoked_for_what_does_not_exist(
    database: Database,
) -> None:
    with database.transaction() as conn:
        with pytest.raises(ConnectorNotFound):
            service.create_key(conn, prefix=_unique("nowhere"), now=utcnow())
        with pytest.raises(ApiKeyNotFound):
            service.rotate_key(conn, key="pk_" + "0" * 24, grace=timedelta(hours=1), now=utcnow())
        with pytest.raises(ApiKeyNotFound):
            service.revoke_key(conn, key="pk_" + "0" * 24, now=utcnow())


def _first_key(conn: Connection, name: str, now: datetime) -> tuple[str, str, NewKey]:
    """A new customer and connector: (customer reference, prefix, its first key)."""
    reference, prefix = _unique(name), _unique(name)
    service.create_customer(conn, reference_id=reference, name="", now=now)
    created = service.create_connector(
        conn, customer_reference_id=reference, prefix=prefix, name="", now=now
    )
    return reference, prefix, created.key


def test_rotation_keeps_the_old_key_only_until_its_grace_ends(database: Database) -> None:
    now = utcnow()
    with database.transaction() as conn:
        reference, prefix, old = _first_key(conn, "rot", now)
        new = service.rotate_key(conn, key=old.key, grace=timedelta(hours=2), now=now).key
        old_record = repository.find_key(conn, old.key)
        new_record = repository.find_key(conn, new.key)
    assert new_record is not None and new_record.expires_at is None
    principal = service.check_key(old_record, secret=old.secret, prefix=prefix, now=now)
    assert principal.customer_reference_id == reference
    with pytest.raises(AuthenticationFailed):
        service.check_key(
            old_record, secret=old.secret, prefix=prefix, now=now + timedelta(hours=2)
        )
    assert service.check_key(new_record, secret=new.secret, prefix=prefix, now=now) == principal


def test_a_key_is_rotated_once_and_never_brought_back(database: Database) -> None:
    """A rotation run twice (a script, a typo) made an expired or revoked key work again,
    for as long as the new grace, and minted another key each time."""
    now = utcnow()
    with database.transaction() as conn:
        _, _, old = _first_key(conn, "rerot", now)
        first = service.rotate_key(conn, key=old.key, grace=timedelta(hours=2), now=now)
        assert first.old_expires_at == now + timedelta(hours=2)
        with pytest.raises(ApiKeyNotRotatable, match="already rotated"):
            service.rotate_key(conn, key=old.key, grace=timedelta(hours=48), now=now)
        with pytest.raises(ApiKeyNotRotatable, match="expired"):
            service.rotate_key(conn, key=old.key, grace=timedelta(hours=5),
                               now=now + timedelta(hours=3))  # fmt: skip
        service.revoke_key(conn, key=first.key.key, now=now)
        with pytest.raises(ApiKeyNotRotatable, match="revoked"):
            service.rotate_key(conn, key=first.key.key, grace=timedelta(hours=5), now=now)
        record = repository.find_key(conn, old.key)
    assert record is not None and record.expires_at == now + timedelta(hours=2)
