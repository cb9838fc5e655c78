"""Stored templates, lookup tables and links, and the API process's cache of links."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

import pytest

from pressline.accounts import service as accounts
from pressline.db import Database, utcnow
from pressline.errors import (
    LookupTableExists,
    TemplateExists,
    TemplateInUse,
    TemplateNotFound,
    ValidationFailed,
)
from pressline.templates import LookupTable, store
from pressline.templates.formats import Format
from pressline.templates.links import NO_LINKS, LinkCache
from pressline.templates.model import TemplateType
from pressline.templates.store import Endpoint, Role


def _customer_and_connector(database: Database) -> tuple[uuid.UUID, uuid.UUID]:
    reference = f"store-{uuid.uuid4().hex[:10]}"
    with database.transaction() as conn:
        customer_id = accounts.create_customer(
            conn, reference_id=reference, name=reference, now=utcnow()
        )
        created = accounts.create_connector(
            conn, customer_reference_id=reference, prefix=reference, name="", now=utcnow()
        )
    return customer_id, created.connector_id


def _create(database: Database, customer_id: uuid.UUID, name: str, source: str) -> None:
    with database.transaction() as conn:
        store.create_template(
            conn, customer_id=customer_id, name=name, kind=TemplateType.SUBMIT_RESPONSE,
            input_format=Format.JSON, output_format=Format.XML, source=source, now=utcnow(),
        )  # fmt: skip


def test_edits_add_versions_and_old_versions_stay_loadable(database: Database) -> None:
    customer_id, _ = _customer_and_connector(database)
    _create(database, customer_id, "ack", "<a>{{ id }}</a>")
    with database.transaction() as conn:
        second = store.add_version(
            conn, customer_id=customer_id, name="ack", source="<b>{{ id }}</b>", now=utcnow()
        )
        assert second.version == 2
        assert store.load(conn, customer_id, "ack").source == "<b>{{ id }}</b>"
        assert store.load(conn, customer_id, "ack", 1).source == "<a>{{ id }}</a>"
        with pytest.raises(TemplateNotFound, match="v3"):
            store.load(conn, customer_id, "ack", 3)
    with pytest.raises(TemplateExists):
        _create(database, customer_id, "ack", "<c/>")
    other, _ = _customer_and_connector(database)
    with database.transaction() as conn, pytest.raises(TemplateNotFound):
        store.load(conn, other, "ack")  # templates are per customer


def test_links_take_only_the_endpoint_roles_template_type(database: Database) -> None:
    customer_id, connector_id = _customer_and_connector(database)
    _create(database, customer_id, "ack", "<a>{{ id }}</a>")
    link = partial(
        store.link, connector_id=connector_id, customer_id=customer_id, name="ack", version=None
    )
    with database.transaction() as conn, pytest.raises(ValidationFailed, match="submit_response"):
        link(conn, endpoint="submit", role="request", now=utcnow())
    with database.transaction() as conn:
        link(conn, endpoint="submit", role="response", now=utcnow())
    with database.transaction() as conn, pytest.raises(TemplateInUse, match="unlink it first"):
        store.delete_template(conn, customer_id, "ack")


def test_lookup_rows_are_set_deleted_and_kept_in_order(database: Database) -> None:
    customer_id, _ = _customer_and_connector(database)
    table = LookupTable.from_rows("sku", [("B", "b-uid"), ("A", "a-uid")], fallback="none")
    with database.transaction() as conn:
        store.save_lookup(conn, customer_id=customer_id, table=table, now=utcnow())
        with pytest.raises(LookupTableExists):
            store.save_lookup(conn, customer_id=customer_id, table=table, now=utcnow())
    with database.transaction() as conn:
        store.set_row(conn, customer_id=customer_id, name="sku", key="C", value="c", now=utcnow())
        store.set_row(conn, customer_id=customer_id, name="sku", key="B", value="b2", now=utcnow())
        assert store.delete_row(conn, customer_id=customer_id, name="sku", key="A", now=utcnow())
        assert not store.delete_row(
            conn, customer_id=customer_id, name="sku", key="Z", now=utcnow()
        )
        loaded = store.load_lookup(conn, customer_id, "sku")
        [listed] = store.list_lookups(conn, customer_id)
    assert loaded.to_rows() == [("B", "b2"), ("C", "c")]
    assert (loaded.fallback, listed.rows) == ("none", 2)


def test_the_link_cache_sees_changes_once_the_revision_moves(database: Database) -> None:
    customer_id, connector_id = _customer_and_connector(database)
    _create(database, customer_id, "ack", "<a>{{ id }}</a>")
    cache = LinkCache(interval=3600)

    async def links() -> object:
        return await cache.for_connector(database, connector_id)

    assert asyncio.run(links()) is NO_LINKS
    with database.transaction() as conn:
        store.link(
            conn, connector_id=connector_id, customer_id=customer_id, endpoint="submit",
            role="response", name="ack", version=None, now=utcnow(),
        )  # fmt: skip
    assert asyncio.run(links()) is NO_LINKS  # cached until the next revision check
    cache.invalidate()
    found = asyncio.run(cache.for_connector(database, connector_id))
    template = found.get(Endpoint.SUBMIT, Role.RESPONSE)
    assert template is not None and (template.name, template.version) == ("ack", 1)
    with database.transaction() as conn:
        store.add_version(conn, customer_id=customer_id, name="ack", source="<b/>", now=utcnow())
    cache.invalidate()
    newer = asyncio.run(cache.for_connector(database, connector_id)).get(
        Endpoint.SUBMIT, Role.RESPONSE
    )
    assert newer is not None and newer.version == 2  # linked to "latest"
