"""The operator's ``pressline`` commands on a real SQLite file.

Most commands run in-process through typer's CliRunner (fast); ``migrate``, an error
exit and ``openapi`` also run through the installed console script.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from starlette.testclient import TestClient
from typer.testing import CliRunner

from pressline.app import create_app
from pressline.cli import app as cli
from pressline.config import Settings, get_settings
from pressline.orders import examples
from tests.e2e.conftest import PRESSLINE, free_port, server_env

pytestmark = pytest.mark.e2e

PUBLIC_URL = "https://orders.example.test"
ENDPOINT_KEYS = {
    "baseUrl": "{base}",
    "submitOrder": "POST {base}/order",
    "getOrder": "GET {base}/{{orderId}}",
    "cancelOrder": "POST {base}/{{orderId}}/cancel",
    "updateShipment": "PUT {base}/{{orderId}}",
    "searchOrders": "POST {base}/search",
}


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``command`` (typer vendors its own click: duck-typed)."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _command_paths(sub, (*path, name))
    return found


ROOT = typer.main.get_command(cli)
COMMANDS = _command_paths(ROOT)


def _command(path: tuple[str, ...]) -> Any:
    command: Any = ROOT
    for name in path:
        command = command.commands[name]
    return command


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file as the CLI's PRESSLINE_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PRESSLINE_DATABASE_URL", url)
    monkeypatch.setenv("PRESSLINE_PUBLIC_URL", PUBLIC_URL)
    get_settings.cache_clear()
    assert run("migrate").exit_code == 0
    yield url
    get_settings.cache_clear()


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def ok_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return str(lines[0])


def status_with_key(database_url: str, api_key: str, prefix: str) -> int:
    """What the HTTP API answers this key: 404 (authenticated, no such order) or 401."""
    app = create_app(Settings(database_url=database_url))
    with TestClient(app, base_url="https://testserver") as client:
        return client.get(
            f"/api/{prefix}/no-such-order", headers={"X-API-KEY": api_key}
        ).status_code


def _customer_with_connector() -> tuple[str, str, str]:
    suffix = uuid.uuid4().hex[:8]
    customer, prefix = f"cust-{suffix}", f"shop-{suffix}"
    ok_json("customers", "create", customer, "--name", "Acme Prints")
    created = ok_json("connectors", "create", customer, prefix)
    return customer, prefix, created["apiKey"]


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    env = server_env(PRESSLINE_DATABASE_URL=f"sqlite:///{db}")
    said = []
    for _ in range(2):
        done = subprocess.run(
            [PRESSLINE, "migrate"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        said.append(done.stdout.strip())
    assert said[0].startswith("Database upgraded from revision none to ")
    assert said[1] == f"Database is up to date (revision {said[0].split()[-1].rstrip('.')})."
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"customers", "connectors", "api_keys", "orders", "order_items"} <= tables


@pytest.mark.parametrize("command", [("migrate",), ("serve",)])
def test_an_unreachable_database_is_one_line_not_a_traceback(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/pressline"
    env = server_env(PRESSLINE_DATABASE_URL=url, PRESSLINE_PORT=str(free_port()))
    done = subprocess.run(
        [PRESSLINE, *command], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: database error: connection failed"), line
    assert "is the database server running?" in line


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("PRESSLINE_PORT", "99999"),
        ("PRESSLINE_TRUSTED_PROXIES", "notanip"),
        ("PRESSLINE_DATABASE_URL", "bogus"),
        ("PRESSLINE_DATABASE_URL", "mysql://pressline@db/pressline"),
    ],
)
@pytest.mark.parametrize("command", [("serve",), ("customers", "list")])
def test_a_setting_out_of_range_is_named_with_exit_status_2(
    tmp_path: Path, setting: str, value: str, command: tuple[str, ...]
) -> None:
    env = server_env(**{"PRESSLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", setting: value})
    done = subprocess.run(
        [PRESSLINE, *command], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"error: {setting}: " in done.stderr
    assert "Traceback" not in done.stderr and "pydantic" not in done.stderr


def test_customers_create_then_list_as_json(database_url: str) -> None:
    created = ok_json("customers", "create", "acme-shop", "--name", "Acme Prints")
    assert created["customerReferenceId"] == "acme-shop"
    uuid.UUID(created["id"])
    listed = ok_json("customers", "list")
    assert [(c["customerReferenceId"], c["name"], c["id"]) for c in listed] == [
        ("acme-shop", "Acme Prints", created["id"])
    ]


def test_duplicate_customer_is_a_one_line_error(database_url: str) -> None:
    ok_json("customers", "create", "acme-shop")
    error = one_line_error(run("customers", "create", "acme-shop"))
    assert "acme-shop" in error
    assert len(ok_json("customers", "list")) == 1


def test_connector_for_unknown_customer_exits_1_with_one_line(tmp_path: Path) -> None:
    env = server_env(PRESSLINE_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", COLUMNS="30")
    subprocess.run([PRESSLINE, "migrate"], env=env, check=True, capture_output=True, timeout=60)
    done = subprocess.run(
        [PRESSLINE, "connectors", "create", "no-such-customer", "shop", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == "error: Customer 'no-such-customer' was not found."


def test_connectors_create_list_and_show_the_five_endpoint_urls(database_url: str) -> None:
    customer, prefix, api_key = _customer_with_connector()
    base = f"{PUBLIC_URL}/api/{prefix}"
    expected = {key: value.format(base=base) for key, value in ENDPOINT_KEYS.items()}
    shown = ok_json("connectors", "show", prefix)
    assert {key: shown[key] for key in ENDPOINT_KEYS} == expected
    assert shown["customer"] == customer
    assert api_key not in json.dumps(shown)
    listed = ok_json("connectors", "list", "--customer", customer)
    assert [(c["prefix"], c["baseUrl"]) for c in listed] == [(prefix, base)]
    assert ok_json("connectors", "list", "--customer", "someone-else") == []
    table = run("connectors", "show", prefix)
    assert table.exit_code == 0
    assert expected["cancelOrder"] in table.stdout


def test_connectors_create_prints_the_key_once_and_it_works(database_url: str) -> None:
    _, prefix, api_key = _customer_with_connector()
    assert status_with_key(database_url, api_key, prefix) == 404
    listed = ok_json("keys", "list", prefix)
    assert [k["key"] for k in listed] == [api_key.split(":")[0]]
    assert api_key.split(":")[1] not in json.dumps(listed)


def test_show_unknown_connector_is_a_one_line_error(database_url: str) -> None:
    assert "no-such-prefix" in one_line_error(run("connectors", "show", "no-such-prefix"))


def test_keys_create_rotate_and_revoke(database_url: str) -> None:
    _, prefix, first = _customer_with_connector()
    second = ok_json("keys", "create", prefix)["apiKey"]
    assert status_with_key(database_url, second, prefix) == 404

    kept = ok_json("keys", "rotate", first.split(":")[0])  # default grace: still valid
    assert kept["oldKeyValidForHours"] == 24.0
    assert status_with_key(database_url, first, prefix) == 404
    assert status_with_key(database_url, kept["apiKey"], prefix) == 404

    replaced = ok_json("keys", "rotate", kept["key"], "--grace-hours", "0")
    assert status_with_key(database_url, kept["apiKey"], prefix) == 401
    assert status_with_key(database_url, replaced["apiKey"], prefix) == 404

    assert ok_json("keys", "revoke", second.split(":")[0])["state"] == "revoked"
    assert status_with_key(database_url, second, prefix) == 401

    states = {k["key"]: k["state"] for k in ok_json("keys", "list", prefix)}
    assert states == {
        first.split(":")[0]: "active",  # expires in 24 h
        second.split(":")[0]: "revoked",
        kept["key"]: "expired",
        replaced["key"]: "active",
    }


def test_key_of_another_connector_is_rejected(database_url: str) -> None:
    _, prefix, _ = _customer_with_connector()
    _, _, other_key = _customer_with_connector()
    assert status_with_key(database_url, other_key, prefix) == 401


@pytest.mark.parametrize("command", ["rotate", "revoke"])
def test_unknown_key_is_a_one_line_error(database_url: str, command: str) -> None:
    assert "pk_unknown" in one_line_error(run("keys", command, "pk_unknown"))


def test_set_status_shipped_makes_cancel_a_conflict(database_url: str) -> None:
    customer, prefix, api_key = _customer_with_connector()
    app = create_app(Settings(database_url=database_url))
    with TestClient(app, base_url="https://testserver") as client:
        body = {**examples.SUBMIT["reference"], "orderReferenceId": "cli-shipped"}
        headers = {"X-API-KEY": api_key}
        assert client.post(f"/api/{prefix}/order", json=body, headers=headers).status_code == 200
        # The operator follows the lifecycle too: created -> passed -> shipped.
        refused = run("orders", "set-status", customer, "cli-shipped", "shipped")
        assert "Allowed next statuses" in one_line_error(refused)
        ok_json("orders", "set-status", customer, "cli-shipped", "passed")
        moved = ok_json("orders", "set-status", customer, "cli-shipped", "shipped")
        assert moved == {"order": "cli-shipped", "from": "passed", "to": "shipped"}
        response = client.post(f"/api/{prefix}/cli-shipped/cancel", headers=headers)
    assert response.status_code == 409


def test_set_status_of_unknown_order_is_a_one_line_error(database_url: str) -> None:
    customer, _, _ = _customer_with_connector()
    one_line_error(run("orders", "set-status", customer, "no-such-order", "shipped"))


def test_commands_on_an_unmigrated_database_fail_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRESSLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        error = one_line_error(run("customers", "list"))
    finally:
        get_settings.cache_clear()
    assert "pressline migrate" in error


def test_openapi_writes_the_document_with_every_order_operation(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    env = server_env(PRESSLINE_DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}")
    done = subprocess.run(
        [PRESSLINE, "openapi", "-o", str(target)], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(target.read_text())
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == {
        ("post", "/api/{prefix}/order"),
        ("post", "/api/{prefix}/search"),
        ("get", "/api/{prefix}/{orderId}"),
        ("put", "/api/{prefix}/{orderId}"),
        ("post", "/api/{prefix}/{orderId}/cancel"),
        ("get", "/api/{prefix}/{orderId}/postbacks"),
        ("post", "/api/{prefix}/quote"),
        ("get", "/api/{prefix}/shipment-methods"),
        ("patch", "/api/{prefix}/{orderId}"),
        ("delete", "/api/{prefix}/{orderId}"),
        ("get", "/production/v2/orders"),
        ("post", "/production/v2/order/status"),
    }
    assert not (tmp_path / "unused.db").exists()


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(("pressline", *path)))
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    command = _command(path)
    assert (command.help or "").strip(), f"pressline {' '.join(path)} has no help text"
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert command.help.strip().splitlines()[0][:40] in " ".join(result.stdout.split())
