"""``pressline templates|lookups|requests`` on a real SQLite file, and what they change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pressline.app import create_app
from pressline.config import Settings, get_settings
from pressline.templates import samples
from tests.e2e.test_cli import ok_json, run

pytestmark = pytest.mark.e2e

SAMPLES = Path(str(samples()))
SHOPIFY_TEMPLATE = str(SAMPLES / "shopify_submit.j2")
SHOPIFY_ORDER = str(SAMPLES / "shopify_order.json")


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file as the CLI's PRESSLINE_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PRESSLINE_DATABASE_URL", url)
    get_settings.cache_clear()
    assert run("migrate").exit_code == 0
    yield url
    get_settings.cache_clear()


def test_lookups_are_created_edited_exported_and_checked(database_url: str, tmp_path: Path) -> None:
    assert run("customers", "create", "acme").exit_code == 0
    created = ok_json(
        "lookups", "create", "sku", "-c", "acme", "-f", str(SAMPLES / "lookups/sku.csv")
    )
    assert created["rows"] == 2
    ok_json("lookups", "set", "sku", "MUG-11OZ", "mug_uid", "-c", "acme")
    ok_json("lookups", "set-fallback", "sku", "fallback_uid", "-c", "acme")
    shown = ok_json("lookups", "show", "sku", "-c", "acme")
    assert (shown["rowCount"], shown["fallback"], shown["rows"][-1]) == (
        3, "fallback_uid", {"key": "MUG-11OZ", "value": "mug_uid"},
    )  # fmt: skip
    exported = run("lookups", "export", "sku", "-c", "acme")
    assert exported.stdout.splitlines()[0] == "key,value"
    assert "MUG-11OZ,mug_uid" in exported.stdout
    ok_json("lookups", "delete", "sku", "MUG-11OZ", "-c", "acme")
    assert [t["rows"] for t in ok_json("lookups", "list", "-c", "acme")] == [2]

    bad = tmp_path / "bad.csv"
    bad.write_text("key,value\nA,1\nA,2\nB\n")
    refused = run("lookups", "import", "sku", "-c", "acme", "-f", str(bad))
    assert refused.exit_code == 1
    assert "line 3: duplicate key 'A'" in refused.output and "line 4" in refused.output
    assert ok_json("lookups", "show", "sku", "-c", "acme")["rowCount"] == 2  # nothing changed


def test_render_shows_output_validation_and_errors_with_lines(
    database_url: str, tmp_path: Path
) -> None:
    assert run("customers", "create", "acme").exit_code == 0
    for name in ("sku", "shipping"):
        ok_json("lookups", "create", name, "-c", "acme", "-f", str(SAMPLES / f"lookups/{name}.csv"))

    result = ok_json("templates", "render", SHOPIFY_TEMPLATE, "-i", SHOPIFY_ORDER, "-c", "acme")
    assert (result["ok"], result["validation"]) == (True, "valid")
    assert json.loads(result["output"])["orderReferenceId"] == "shopify-1042"

    # Without the customer's tables the lookup fails, naming the table and the line.
    missing = run("templates", "render", SHOPIFY_TEMPLATE, "-i", SHOPIFY_ORDER, "--json")
    assert missing.exit_code == 1
    error = json.loads(missing.stdout)["error"]
    first_lookup = next(
        number
        for number, text in enumerate(Path(SHOPIFY_TEMPLATE).read_text().splitlines(), 1)
        if "lookups(" in text and not text.lstrip().startswith("{#")
    )
    assert (error["code"], error["line"]) == ("lookup_not_found", first_lookup)
    assert "no lookup table named 'shipping'" in error["message"]

    broken = tmp_path / "broken.j2"
    broken.write_text('{\n  "orderReferenceId": {{ order.id | json }},\n  "x": {% if %}\n}')
    syntax = run("templates", "render", str(broken), "-i", SHOPIFY_ORDER)
    assert syntax.exit_code == 1
    assert "line 3" in syntax.output

    partial = tmp_path / "partial.j2"
    partial.write_text('{"orderReferenceId": {{ ("x-" ~ order.id) | json }}}')
    invalid = run("templates", "render", str(partial), "-i", SHOPIFY_ORDER, "--json")
    assert invalid.exit_code == 1
    body = json.loads(invalid.stdout)
    assert body["validation"] == "invalid"
    assert "shippingAddress" in {item["param"] for item in body["error"]["errors"]}


def test_a_response_template_is_rendered_with_the_customers_request(database_url: str) -> None:
    template, answer = str(SAMPLES / "cancel_response.j2"), str(SAMPLES / "cancel_response.json")
    command = ("templates", "render", template, "-t", "cancel_response", "-i", answer)
    result = ok_json(*command, "--request", str(SAMPLES / "cancel_request.json"))
    assert json.loads(result["output"]) == {"cancelled": True, "order_number": 1042, "detail": "OK"}
    without = run(*command)  # the request is then {}: the sample reads a field of it
    assert without.exit_code == 1 and "no attribute 'cancellation'" in without.output


@pytest.mark.parametrize(
    "flags",
    [["-i", "/no/such.json"], ["-i", SHOPIFY_ORDER, "--request", "/no/such.json"],
     ["-i", SHOPIFY_ORDER, "--lookup", "sku=/no/such.csv"]],
    ids=["input", "request", "lookup"],
)  # fmt: skip
def test_a_file_that_cannot_be_read_is_a_usage_error(database_url: str, flags: list[str]) -> None:
    result = run("templates", "render", SHOPIFY_TEMPLATE, *flags)
    assert result.exit_code == 2
    assert "No such file or directory" in result.output


def test_templates_are_versioned_linked_applied_and_logged(database_url: str) -> None:
    assert run("customers", "create", "acme").exit_code == 0
    key = ok_json("connectors", "create", "acme", "acme-shop")["apiKey"]
    for name in ("sku", "shipping"):
        ok_json("lookups", "create", name, "-c", "acme", "-f", str(SAMPLES / f"lookups/{name}.csv"))
    create = ("templates", "create", "shopify", "-c", "acme", "-t", "order_submit_request")
    assert ok_json(*create, "-f", SHOPIFY_TEMPLATE)["version"] == 1
    assert (
        ok_json("templates", "import", "shopify", "-c", "acme", "-f", SHOPIFY_TEMPLATE)["version"]
        == 2
    )
    refused = run("templates", "create", "bad", "-c", "acme", "-t", "order_submit_request",
                  "-f", str(SAMPLES / "order.xml"), "--input-format", "xml")  # fmt: skip
    assert refused.exit_code == 0  # XML text is a valid (if odd) template; it compiles
    wrong = run("templates", "link", "acme-shop", "submit", "response", "shopify")
    assert wrong.exit_code == 1 and "submit_response" in wrong.output
    ok_json("templates", "link", "acme-shop", "submit", "request", "shopify", "--version", "1")
    shown = ok_json("templates", "show", "shopify", "-c", "acme")
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert ok_json("templates", "show", "shopify", "-c", "acme", "-v", "1")["sourceVersion"] == 1
    unknown = run("templates", "show", "shopify", "-c", "acme", "--version", "9")
    assert unknown.exit_code == 1 and "9" in unknown.output  # it was ignored
    assert shown["linkedTo"] == [
        {"connector": "acme-shop", "endpoint": "submit", "role": "request", "version": 1}
    ]
    source = run("templates", "export", "shopify", "-c", "acme", "--version", "1").stdout
    assert source == Path(SHOPIFY_TEMPLATE).read_text()
    in_use = run("templates", "delete", "shopify", "-c", "acme")
    assert in_use.exit_code == 1 and "acme-shop" in in_use.output

    app = create_app(Settings(database_url=database_url, rate_limit="off"))
    with TestClient(app, base_url="https://testserver") as client:
        answer = client.post(
            "/api/acme-shop/order",
            content=Path(SHOPIFY_ORDER).read_bytes(),
            headers={"X-API-KEY": key, "Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
    request_id = answer.headers["request-id"]

    listed = ok_json("requests", "list", "--connector", "acme-shop", "--order", "shopify-1042",
                     "--customer", "acme")  # fmt: skip
    assert [(r["id"], r["status"], r["template"]) for r in listed] == [
        (request_id, 200, "shopify v1")
    ]
    shown_request = ok_json("requests", "show", request_id)
    assert json.loads(shown_request["transformedRequest"])["orderReferenceId"] == "shopify-1042"
    assert key.split(":")[1] not in json.dumps(shown_request)
    assert ok_json("requests", "list", "--status", "404") == []
    assert ok_json("requests", "purge", "--older-than-days", "0")["deleted"] == 1

    ok_json("templates", "unlink", "acme-shop", "submit", "request")
    ok_json("templates", "delete", "shopify", "-c", "acme")
    assert ok_json("templates", "list", "-c", "acme") == [
        {"name": "bad", "type": "order_submit_request", "inputFormat": "xml",
         "outputFormat": "json", "latestVersion": 1,
         "updatedAt": ok_json("templates", "list", "-c", "acme")[0]["updatedAt"]},
    ]  # fmt: skip


def test_an_all_customers_connector_is_created_and_shown(database_url: str) -> None:
    assert run("customers", "create", "platform").exit_code == 0
    created = ok_json("connectors", "create", "platform", "every-shop", "--all-customers")
    assert created["allCustomers"] is True
    assert ok_json("connectors", "show", "every-shop")["allCustomers"] is True
