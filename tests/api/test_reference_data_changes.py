"""Operators change reference data while the API serves: imports are whole or not at
all, and every process follows them (issue 3, ADR 0008)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pressline.catalog import service as catalog
from pressline.catalog.reference import ReferenceStore
from pressline.db import Database, utcnow
from pressline.errors import InvalidReferenceFile
from tests.conftest import Caller, order_body

NEW_JERSEY_MAKES_EVERYTHING = (
    "categories: [printed-products, wall-art, photo-books, home-and-living, apparel]"
)
T_SHIRT = "apparel_product_gca_t-shirt_gsc_crewneck_gcu_unisex_gqa_classic_gsi_m_gco_white_gpr_4-0"
PHOTO_BOOK = (
    "photobooks-hardcover_pf_200x200-mm_pt_170-gsm-coated-silk_cl_4-4_cpt_130-gsm-coated-silk"
    "_ccl_4-0_bt_glued-left_pgc_24"
)


def store(database: Database) -> ReferenceStore:
    return catalog.open_store(database)


def import_text(database: Database, kind: str, text: str) -> None:
    with database.transaction() as conn:
        catalog.import_file(conn, kind=kind, text=text, source=f"{kind}.yaml", now=utcnow())


@pytest.fixture
def restored(client: TestClient, database: Database) -> Iterator[ReferenceStore]:
    """The app's store; every kind is put back to the starter file afterwards."""
    app_store: ReferenceStore = client.app.state.reference  # type: ignore[attr-defined]
    yield app_store
    for kind in catalog.KINDS:
        import_text(database, kind, catalog.starter_text(kind))
    app_store.refresh()


def test_a_bad_catalog_is_refused_whole_and_the_old_one_stays(
    database: Database, restored: ReferenceStore
) -> None:
    before = store(database).current.catalog
    broken = catalog.starter_text("catalog").replace("name_uid: classic-semi-glossy-poster", "")
    broken = broken.replace("orientation: required", "orientation: sideways", 1)
    with pytest.raises(InvalidReferenceFile) as caught:
        import_text(database, "catalog", broken)
    messages = [error.message for error in caught.value.field_errors]
    assert len(messages) >= 2
    assert all(message.startswith("line ") for message in messages)
    with database.transaction() as conn:
        assert catalog.export_file(conn, kind="catalog") == catalog.starter_text("catalog")
    assert not restored.refresh()  # nothing changed, nothing to reload
    after = store(database).current.catalog
    assert after.prefixes == before.prefixes


def test_an_import_reaches_a_running_process_through_its_poller(
    database: Database, restored: ReferenceStore
) -> None:
    other = catalog.open_store(database, interval=0.05)
    other.start()
    try:
        seen = other.current.versions.get("rates")
        text = catalog.starter_text("rates").replace(
            "packaging_per_package: 0.50", "packaging_per_package: 0.75"
        )
        import_text(database, "rates", text)
        deadline = time.monotonic() + 5
        while other.current.versions.get("rates") == seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert other.current.versions.get("rates") != seen
    finally:
        other.stop()


def test_no_single_facility_making_every_item_fails_the_order(
    caller: Caller, database: Database, restored: ReferenceStore
) -> None:
    shipping = catalog.starter_text("shipping")
    assert NEW_JERSEY_MAKES_EVERYTHING in shipping
    import_text(
        database,
        "shipping",
        shipping.replace(
            NEW_JERSEY_MAKES_EVERYTHING, "categories: [printed-products, wall-art, home-and-living]"
        ),
    )
    assert restored.refresh()
    body = order_body()
    files = body["items"][0]["files"]
    body["items"] = [
        {"itemReferenceId": "shirt", "productUid": T_SHIRT, "quantity": 1, "files": files},
        {"itemReferenceId": "book", "productUid": PHOTO_BOOK, "quantity": 1, "files": files},
    ]
    response = caller.submit(body)
    assert response.status_code == 200, response.text
    order = caller.get(response.json()["id"]).json()
    assert (order["fulfillmentStatus"], order["financialStatus"]) == ("failed", "canceled")
    assert order["refusalReasonCode"] == "cannot_produce_at_single_location"
    assert "apparel" in order["refusalReason"] and "photo-books" in order["refusalReason"]
    assert order["receipts"] == [] and order["shipment"]["fulfillmentFacilityId"] is None
    assert {item["fulfillmentStatus"] for item in order["items"]} == {"failed"}
    quote = caller.client.post(f"{caller.base}/quote", json=body, headers=caller.headers)
    assert quote.status_code == 400
    assert quote.json()["errors"][0]["code"] == "cannot_produce_at_single_location"


def test_a_catalog_that_drops_a_customers_product_is_refused(
    shop_caller: Caller, database: Database, restored: ReferenceStore
) -> None:
    without_cards = catalog.starter_text("catalog").replace(
        "- prefix: cards\n", "- prefix: kards\n"
    )
    with pytest.raises(InvalidReferenceFile) as caught:
        import_text(database, "catalog", without_cards)
    assert any("Business Card" in error.message for error in caught.value.field_errors)
