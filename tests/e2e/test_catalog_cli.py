"""``pressline catalog|shipping|rates|customer-products``: the operator's reference data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pressline.app import create_app
from pressline.catalog import service as catalog
from pressline.config import Settings
from tests.conftest import order_body
from tests.e2e.test_cli import database_url, ok_json, run

__all__ = ["database_url"]  # the fixture, shared with test_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("kind", ["catalog", "shipping", "rates"])
def test_export_gives_the_starter_file_until_something_is_imported(
    database_url: str, kind: str
) -> None:
    result = run(kind, "export")
    assert result.exit_code == 0, result.output
    assert result.stdout == catalog.starter_text(kind)


def test_a_bad_file_is_refused_with_every_problem_by_line(
    database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        catalog.starter_text("catalog")
        .replace("name_uid: classic-semi-glossy-poster", "")
        .replace("orientation: required", "orientation: sideways", 1)
    )
    result = run("catalog", "import", str(bad))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: {bad} was not imported (2 problems)")
    assert all(line.startswith("  - line ") for line in lines[1:]) and len(lines) == 3
    assert run("catalog", "export").stdout == catalog.starter_text("catalog")


def test_an_imported_file_is_exported_as_written_and_used(
    database_url: str, tmp_path: Path
) -> None:
    rates = tmp_path / "rates.yaml"
    text = "# our rates, reviewed monthly\n" + catalog.starter_text("rates").replace(
        "packaging_per_package: 0.50", "packaging_per_package: 1.50"
    )
    rates.write_text(text)
    result = run("rates", "import", str(rates))
    assert result.exit_code == 0, result.output
    written = tmp_path / "out.yaml"
    assert run("rates", "export", "--output", str(written)).exit_code == 0
    assert written.read_text() == text


def test_customer_products_import_list_use_and_delete(database_url: str, tmp_path: Path) -> None:
    ok_json("customers", "create", "card-shop")
    created = ok_json("connectors", "create", "card-shop", "card-shop")
    example = tmp_path / "products.yaml"
    example.write_text(catalog.example_customer_products())
    result = run("customer-products", "import", "card-shop", str(example))
    assert result.exit_code == 0, result.output
    assert "Business Card" in result.stdout
    listed = ok_json("customer-products", "list", "card-shop")
    names = [entry["productName"] for entry in listed]
    assert "Business Card" in names
    business = next(entry for entry in listed if entry["productName"] == "Business Card")
    assert "Premium Matte" in business["options"]

    app = create_app(Settings(database_url=database_url))
    body = order_body(items=[{
        "itemReferenceId": "cards", "productName": "Business Card", "quantity": 100,
        "productVariant": {"Size": "Standard", "Paper": "Premium Matte",
                           "Color": "Full Color Both Sides"},
        "files": [{"type": "front", "url": "https://example.com/front.pdf"}],
    }])  # fmt: skip
    with TestClient(app, base_url="https://testserver") as client:
        headers = {"X-API-KEY": created["apiKey"]}
        response = client.post("/api/card-shop/order", json=body, headers=headers)
        assert response.status_code == 200, response.text
        order = client.get(f"/api/card-shop/{response.json()['id']}", headers=headers).json()
    assert order["items"][0]["finalProductUid"].startswith("cards_")

    assert run("customer-products", "delete", "card-shop", "Business Card").exit_code == 0
    again = run("customer-products", "delete", "card-shop", "Business Card")
    assert again.exit_code == 1 and "no product named 'Business Card'" in again.stderr
    assert "Business Card" not in json.dumps(ok_json("customer-products", "list", "card-shop"))


def test_customer_products_for_an_unknown_customer_is_a_one_line_error(
    database_url: str, tmp_path: Path
) -> None:
    example = tmp_path / "products.yaml"
    example.write_text(catalog.example_customer_products())
    result = run("customer-products", "import", "nobody", str(example))
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: Customer 'nobody' was not found."


def test_customer_products_create_one_from_the_command_line(database_url: str) -> None:
    ok_json("customers", "create", "poster-shop")
    result = run(
        "customer-products", "create", "poster-shop", "Wall Poster",
        "--base", "large-posters_pt_170-gsm-coated-silk", "--orientation", "ver",
        "--option", "Size=Medium:pf=500x700-mm", "--option", "Size=Large:pf=700x1000-mm",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = ok_json("customer-products", "list", "poster-shop")
    assert listed == [{"productName": "Wall Poster", "options": "Size: Medium, Large"}]


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("Size=Huge:pf=9x9-mm", "9x9-mm"),  # resolves to no catalog product
        ("Size-Medium", "Option=Value:code=value"),  # malformed
    ],
)
def test_customer_products_create_refuses_what_cannot_resolve(
    database_url: str, option: str, problem: str
) -> None:
    ok_json("customers", "create", "bad-shop")
    result = run(
        "customer-products", "create", "bad-shop", "Poster",
        "--base", "large-posters", "--orientation", "ver", "--option", option,
    )  # fmt: skip
    assert result.exit_code != 0
    assert problem in result.output
    assert ok_json("customer-products", "list", "bad-shop") == []
