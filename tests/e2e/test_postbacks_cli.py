"""``pressline triggers …`` and ``pressline deliveries …`` on a real SQLite file."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient
from typer.testing import CliRunner

from pressline.app import create_app
from pressline.cli import app as cli
from pressline.config import get_settings
from pressline.db import Database, utcnow
from pressline.postbacks.events import EventType
from pressline.postbacks.outbox import enqueue_order_events
from pressline.worker import DeliveryWorker
from tests.conftest import order_body
from tests.support.postbacks import FixedRandom
from tests.support.receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PRESSLINE_DATABASE_URL", url)
    monkeypatch.setenv("PRESSLINE_POSTBACK_ALLOW_HTTP", "true")
    monkeypatch.setenv("PRESSLINE_POSTBACK_ALLOWED_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    assert run("migrate").exit_code == 0
    yield url
    get_settings.cache_clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def ok_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return str(line)


def customer() -> tuple[str, str]:
    reference = f"cust-{uuid.uuid4().hex[:8]}"
    ok_json("customers", "create", reference)
    created = ok_json("connectors", "create", reference, f"p-{reference}")
    return reference, created["apiKey"]


def test_trigger_lifecycle(database_url: str, receiver: Receiver) -> None:
    reference, _ = customer()
    url = f"{receiver.url}/hook"
    created = ok_json(
        "triggers", "create", reference, "--event", "order.shipped", "--url", url,
        "--header", "Authorization: Bearer s3cret", "--method", "put",
    )  # fmt: skip
    assert created["secret"].startswith("whsec_")
    trigger_id = created["id"]

    listed = ok_json("triggers", "list", "--customer", reference)
    assert [(t["id"], t["event"], t["to"], t["enabled"]) for t in listed] == [
        (trigger_id, "order.shipped", f"PUT {url}", True)
    ]
    shown = ok_json("triggers", "show", trigger_id)
    assert shown["headers"] == "Authorization"  # names only
    plain = run("triggers", "show", trigger_id)
    assert created["secret"] not in plain.output and "s3cret" not in plain.output

    rotated = ok_json("triggers", "rotate-secret", trigger_id, "--grace-hours", "2")
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["previousSecretValidHours"] == 2
    assert ok_json("triggers", "show", trigger_id)["previousSecretExpiresAt"] is not None

    ok_json("triggers", "disable", trigger_id, "--reason", "maintenance")
    shown = ok_json("triggers", "show", trigger_id)
    assert (shown["enabled"], shown["disabledReason"]) == (False, "maintenance")
    ok_json("triggers", "enable", trigger_id)
    assert ok_json("triggers", "show", trigger_id)["enabled"] is True

    ok_json("triggers", "delete", trigger_id)
    assert ok_json("triggers", "list", "--customer", reference) == []
    assert "was not found" in error_line(run("triggers", "show", trigger_id))


def test_an_email_trigger_shows_no_signing_secret(database_url: str) -> None:
    reference, _ = customer()
    created = run("triggers", "create", reference, "--event", "order.shipped",
                  "--email", "ops@shop.example")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "whsec_" not in created.output and "verify" not in created.output


def test_a_trigger_url_is_checked_when_saved(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, _ = customer()
    monkeypatch.setenv("PRESSLINE_POSTBACK_ALLOWED_NETWORKS", "")
    get_settings.cache_clear()

    def create(event: str, url: str) -> str:
        return error_line(run("triggers", "create", reference, "--event", event, "--url", url))

    assert "127.0.0.1" in create("order.shipped", "http://127.0.0.1:9/x")
    assert "private" in create("order.shipped", "https://10.1.2.3/x")
    assert "order.shipped" in create("order.teleported", "https://x.test")  # names the valid ones
    assert ok_json("triggers", "list") == []


def test_deliveries_list_show_and_redeliver(database_url: str, receiver: Receiver) -> None:
    reference, api_key = customer()
    created = ok_json(
        "triggers", "create", reference, "--event", "order.shipped", "--url", f"{receiver.url}/h"
    )
    settings = get_settings()
    database = Database(database_url)
    try:
        app = create_app(settings, database=database)
        with TestClient(app, base_url="https://testserver") as client:
            answer = client.post(
                f"/api/p-{reference}/order", json=order_body(), headers={"X-API-KEY": api_key}
            )
        order_id = answer.json()["id"]
        with database.transaction() as conn:
            enqueue_order_events(
                conn, order_id=uuid.UUID(order_id), events=[EventType.ORDER_SHIPPED], now=utcnow()
            )
        receiver.script = [410]
        worker = DeliveryWorker(database, settings, rng=FixedRandom(), run_timers=False)
        assert worker.step() == 1

        (listed,) = ok_json("deliveries", "list", "--customer", reference, "--status", "disabled")
        assert listed["order"] == order_id and listed["event"] == "order.shipped"
        assert ok_json("deliveries", "list", "--order", order_id, "--status", "pending") == []
        assert len(ok_json("deliveries", "list", "--trigger", created["id"])) == 1
        shown = ok_json("deliveries", "show", listed["id"])
        assert [a["statusCode"] for a in shown["attemptLog"]] == [410]
        assert json.loads(shown["body"])["id"] == listed["id"]
        assert ok_json("triggers", "show", created["id"])["enabled"] is False

        ok_json("triggers", "enable", created["id"])
        assert ok_json("deliveries", "redeliver", listed["id"])["status"] == "pending"
        assert worker.step() == 1
        shown = ok_json("deliveries", "show", listed["id"])
        assert shown["status"] == "delivered"
        assert [a["statusCode"] for a in shown["attemptLog"]] == [410, 200]
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == listed["id"]
        assert first.body == second.body
        Webhook(created["secret"]).verify(second.body, second.headers)
        purged = ok_json("deliveries", "purge", "--older-than-days", "1")
        assert purged == {"deleted": 0, "olderThanDays": 1}  # delivered just now: kept
        assert ok_json("deliveries", "show", listed["id"])["status"] == "delivered"
    finally:
        database.close()
    assert "not a delivery id" in run("deliveries", "show", "nope").output
    assert "was not found" in error_line(run("deliveries", "show", f"msg_{uuid.uuid4().hex}"))


def test_every_command_has_help(database_url: str) -> None:
    for group, commands in {
        "triggers": ("create", "list", "show", "rotate-secret", "enable", "disable", "delete"),
        "deliveries": ("list", "show", "redeliver", "purge"),
    }.items():
        for command in commands:
            result = run(group, command, "--help")
            assert result.exit_code == 0 and "--json" in result.output, (group, command)
    assert "SIGTERM" in run("worker", "--help").output
