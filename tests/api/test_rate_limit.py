"""Per-key rate limits on one process (reliability.md 10), with the in-memory backend.

A burst of 150 requests in one second from one key gets exactly the 50 over the quota
refused with 429, ``Retry-After`` and the ``RateLimit`` / ``RateLimit-Policy`` headers,
while another key at the same time is unaffected. The shared (Redis) backend and several
processes are in ``tests/integration/test_rate_limit_redis.py`` and
``tests/e2e/test_rate_limit_processes.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.testclient import TestClient
from typer.testing import CliRunner

from pressline.accounts import keys
from pressline.accounts import service as accounts
from pressline.accounts.keys import Principal
from pressline.accounts.repository import KeyRecord
from pressline.accounts.service import KnownKeys
from pressline.app import create_app
from pressline.cli import app as cli
from pressline.config import Settings, get_settings
from pressline.db import Database, utcnow
from pressline.ratelimit import EXPIRE_EVERY, NAMESPACE, MemoryBackend, Policy
from tests.conftest import Caller, order_body

RATE_LIMIT = re.compile(r'^"default";r=(\d+);t=(\d+)$')
WRONG_SECRET = "sk_" + "x" * 43


def limited_app(database: Database, **settings: Any) -> FastAPI:
    """An application of its own (fresh counters) on the shared test database."""
    return create_app(Settings(database_url=database.url, **settings), database=database)


def http(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def _gather(app: FastAPI, calls: list[tuple[str, str, dict[str, str]]]) -> list[Any]:
    """All ``(method, url, headers)`` calls at once; the responses in the same order."""
    async with http(app) as client:
        return list(
            await asyncio.gather(
                *(client.request(method, url, headers=headers) for method, url, headers in calls)
            )
        )


def burst(app: FastAPI, calls: list[tuple[str, str, dict[str, str]]]) -> tuple[list[Any], float]:
    started = time.perf_counter()
    responses = asyncio.run(_gather(app, calls))
    return responses, time.perf_counter() - started


def get_calls(caller: Caller, path: str, count: int, *, key: str | None = None) -> list[Any]:
    headers = {"X-API-KEY": key or caller.api_key}
    return [("GET", f"{caller.base}/{path}", headers)] * count


def statuses(responses: list[Any]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


@pytest.fixture
def app(database: Database) -> FastAPI:
    return limited_app(database, rate_limit="100/second")


@pytest.fixture
def reference(caller: Caller) -> str:
    """An order of ``caller``'s (its submit also authenticates the key once)."""
    body = order_body()
    assert caller.submit(body).status_code == 200
    return str(body["orderReferenceId"])


def _authenticate(caller: Caller) -> None:
    """One request through another app: this process now knows the key and its limit.

    The key cache is per process, the counters per app, so the apps under test start
    with empty buckets for a key they already recognise.
    """
    assert caller.get("warm-up").status_code == 404


def test_a_burst_of_150_in_one_second_gets_50_429s_and_another_key_is_unaffected(
    app: FastAPI, caller: Caller, other_caller: Caller, reference: str
) -> None:
    _authenticate(caller)
    _authenticate(other_caller)
    mine = get_calls(caller, reference, 150)
    theirs = get_calls(other_caller, "no-such-order", 30)
    calls = [call for pair in zip(mine[:30], theirs, strict=True) for call in pair] + mine[30:]

    responses, elapsed = burst(app, calls)

    assert elapsed < 1.0, f"the burst took {elapsed:.2f} s: not one second's worth"
    by_caller = [r for r in responses if caller.prefix in str(r.url)]
    assert statuses(by_caller) == {200: 100, 429: 50}
    assert statuses([r for r in responses if other_caller.prefix in str(r.url)]) == {404: 30}
    for response in responses:
        assert response.headers["ratelimit-policy"] == '"default";q=100;w=1'
        assert RATE_LIMIT.match(response.headers["ratelimit"]), response.headers["ratelimit"]
    remaining = sorted(
        int(RATE_LIMIT.match(r.headers["ratelimit"])[1])  # type: ignore[index]
        for r in by_caller
        if r.status_code == 200
    )
    assert remaining == list(range(100))  # each admitted request counted exactly once


def test_a_429_has_the_error_body_retry_after_and_no_quota_left(
    app: FastAPI, caller: Caller
) -> None:
    _authenticate(caller)
    responses, _ = burst(app, get_calls(caller, "no-such-order", 101))
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 1
    response = refused[0]
    body = response.json()
    assert body["code"] == 429
    assert body["type"] == "rate_limit"
    assert [e["code"] for e in body["errors"]] == ["rate_limit_exceeded"]
    assert "100 requests per second" in body["message"]
    assert body["requestId"] == response.headers["request-id"]
    assert response.headers["retry-after"] == "1"
    assert RATE_LIMIT.match(response.headers["ratelimit"])[1] == "0"  # type: ignore[index]
    assert "max-age=" in response.headers["strict-transport-security"]


def test_the_quota_comes_back_after_retry_after(app: FastAPI, caller: Caller) -> None:
    _authenticate(caller)
    responses, _ = burst(app, get_calls(caller, "no-such-order", 110))
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 10
    time.sleep(int(refused[-1].headers["retry-after"]) + 0.05)
    (again,), _ = burst(app, get_calls(caller, "no-such-order", 1))
    assert again.status_code == 404


def test_a_wrong_secret_cannot_use_up_the_key_owners_quota(app: FastAPI, caller: Caller) -> None:
    _authenticate(caller)
    key_id = caller.api_key.split(":")[0]
    forged, _ = burst(app, get_calls(caller, "x", 130, key=f"{key_id}:{WRONG_SECRET}"))
    assert statuses(forged) == {401: 100, 429: 30}  # counted, but in a bucket of their own
    genuine, _ = burst(app, get_calls(caller, "no-such-order", 100))
    assert statuses(genuine) == {404: 100}


def test_requests_without_a_usable_key_are_not_counted(app: FastAPI, caller: Caller) -> None:
    calls = get_calls(caller, "x", 60, key="not-a-key") + [
        ("GET", f"{caller.base}/x", {}) for _ in range(60)
    ]
    responses, _ = burst(app, calls)
    assert statuses(responses) == {401: 120}
    assert not any("ratelimit" in r.headers for r in responses)


@pytest.mark.parametrize("second", ["junk", "own key again", "another customer's key"])
def test_a_second_x_api_key_header_is_a_401_not_a_way_around_the_limit(
    app: FastAPI, caller: Caller, other_caller: Caller, reference: str, second: str
) -> None:
    """The limit counted the last header and the routes authenticated the first: with a
    junk key last, requests were served and never counted."""
    _authenticate(caller)
    last = {"junk": "junk", "own key again": caller.api_key}.get(second, other_caller.api_key)
    headers = [("X-API-KEY", caller.api_key), ("X-API-KEY", last)]
    (response,), _ = burst(app, [("GET", f"{caller.base}/{reference}", headers)])  # type: ignore[list-item]
    assert response.status_code == 401, response.text
    assert [e["code"] for e in response.json()["errors"]] == ["invalid_api_key"]
    assert "ratelimit" not in response.headers
    assert response.headers["request-id"] == response.json()["requestId"]
    responses, _ = burst(app, get_calls(caller, reference, 100))
    assert statuses(responses) == {200: 100}  # nothing was spent from the owner's quota


def test_health_and_documentation_are_not_rate_limited(app: FastAPI, caller: Caller) -> None:
    calls = [("GET", path, caller.headers) for path in ("/healthz", "/openapi.json") * 80]
    responses, _ = burst(app, calls)
    assert statuses(responses) == {200: 160}
    assert not any("ratelimit" in r.headers for r in responses)


def test_the_default_limit_and_window_come_from_the_setting(
    database: Database, caller: Caller
) -> None:
    app = limited_app(database, rate_limit="3 per 2 seconds")
    _authenticate(caller)
    responses, _ = burst(app, get_calls(caller, "no-such-order", 5))
    assert statuses(responses) == {404: 3, 429: 2}
    assert {r.headers["ratelimit-policy"] for r in responses} == {'"default";q=3;w=2'}
    assert "3 requests per 2 seconds" in responses[-1].json()["message"]


def test_rate_limit_off_sends_no_headers_and_refuses_nothing(
    database: Database, caller: Caller
) -> None:
    app = limited_app(database, rate_limit="off")
    responses, _ = burst(app, get_calls(caller, "no-such-order", 150))
    assert statuses(responses) == {404: 150}
    assert not any("ratelimit" in r.headers for r in responses)


def test_a_connectors_own_limit_applies_from_the_next_request(
    app: FastAPI, database: Database, caller: Caller
) -> None:
    _authenticate(caller)
    with database.transaction() as conn:
        accounts.set_rate_limit(conn, prefix=caller.prefix, per_second=5)
    _authenticate(caller)  # the next request learns the new limit
    responses, _ = burst(app, get_calls(caller, "no-such-order", 8))
    assert statuses(responses) == {404: 5, 429: 3}
    assert {r.headers["ratelimit-policy"] for r in responses} == {'"default";q=5;w=1'}
    assert "5 requests per second" in responses[-1].json()["message"]


def test_each_key_of_a_connector_has_its_own_quota(
    app: FastAPI, database: Database, caller: Caller
) -> None:
    with database.transaction() as conn:
        accounts.set_rate_limit(conn, prefix=caller.prefix, per_second=5)
        second = accounts.create_key(conn, prefix=caller.prefix, now=utcnow()).header_value
    _authenticate(caller)
    _authenticate(Caller(caller.client, caller.customer_reference_id, caller.prefix, second))
    first_key = get_calls(caller, "no-such-order", 6)
    second_key = get_calls(caller, "no-such-order", 6, key=second)
    responses, _ = burst(app, first_key + second_key)
    assert statuses(responses[:6]) == {404: 5, 429: 1}
    assert statuses(responses[6:]) == {404: 5, 429: 1}


# -- the operator's command --------------------------------------------------------------


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PRESSLINE_DATABASE_URL", url)
    get_settings.cache_clear()
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0
    yield url
    get_settings.cache_clear()


def _cli_json(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_set_rate_limit_command_sets_shows_and_resets_a_connectors_limit(
    cli_database: str,
) -> None:
    _cli_json("customers", "create", "acme")
    created = _cli_json("connectors", "create", "acme", "acme-shop", "--rate-limit", "20")
    assert created["rateLimit"] == "20/second"
    assert _cli_json("connectors", "set-rate-limit", "acme-shop", "--per-second", "250") == {
        "prefix": "acme-shop",
        "rateLimit": "250/second",
    }
    assert _cli_json("connectors", "show", "acme-shop")["rateLimit"] == "250/second"
    _cli_json("connectors", "set-rate-limit", "acme-shop", "--default")
    assert [c["rateLimit"] for c in _cli_json("connectors", "list")] == ["default"]
    app = create_app(Settings(database_url=cli_database, rate_limit="2/second"))
    with TestClient(app, base_url="https://testserver") as client:
        key = created["apiKey"]
        codes = [
            client.get("/api/acme-shop/x", headers={"X-API-KEY": key}).status_code for _ in range(4)
        ]
    assert codes == [404, 404, 404, 429]  # first request: before the key was known here


@pytest.mark.parametrize(
    "args",
    [
        ["acme-shop"],
        ["acme-shop", "--per-second", "0"],
        ["acme-shop", "--per-second", "5", "--default"],
    ],
)
def test_set_rate_limit_refuses_a_missing_or_out_of_range_limit(
    cli_database: str, args: list[str]
) -> None:
    _cli_json("customers", "create", "acme")
    _cli_json("connectors", "create", "acme", "acme-shop")
    result = CliRunner().invoke(cli, ["connectors", "set-rate-limit", *args])
    assert result.exit_code == 2, result.output
    assert _cli_json("connectors", "show", "acme-shop")["rateLimit"] == "default"


def test_set_rate_limit_of_an_unknown_connector_is_an_error(cli_database: str) -> None:
    result = CliRunner().invoke(cli, ["connectors", "set-rate-limit", "nope", "--per-second", "5"])
    assert result.exit_code == 1
    assert "Connector 'nope' was not found." in result.stderr


def test_set_rate_limit_help_explains_the_options() -> None:
    result = CliRunner().invoke(cli, ["connectors", "set-rate-limit", "--help"])
    assert result.exit_code == 0
    for text in ("--per-second", "--default", "PRESSLINE_RATE_LIMIT", "second request"):
        assert text in result.stdout


# -- the parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [("rate_limit", "100/sec0nd"), ("rate_limit", "lots"), ("redis_url", "localhost:6379")],
)
def test_settings_refuse_a_rate_limit_or_redis_url_they_cannot_use(
    setting: str, value: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({setting: value})
    assert caught.value.errors()[0]["loc"] == (setting,)


def test_the_memory_backend_sweeps_expired_entries_with_one_thread() -> None:
    backend = MemoryBackend()
    policy = Policy.parse("50/second")

    async def hits() -> None:
        for _ in range(200):
            await backend.hit(policy, "sweep-test")
            await asyncio.sleep(0.001)

    before = threading.active_count()
    asyncio.run(hits())
    assert threading.active_count() <= before + 1  # not a thread per 10 ms
    events = backend._storage.events  # limits' own list of admitted requests per key
    assert events
    time.sleep(1 + EXPIRE_EVERY + 0.3)
    assert not events.get(f"LIMITER/{NAMESPACE}/sweep-test/50/1/second")
    asyncio.run(backend.aclose())


def test_a_known_key_counts_only_with_its_own_secret_and_only_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = KnownKeys(ttl=60)
    new = keys.generate_key()
    principal = Principal(uuid.uuid4(), "acme", None, "acme")
    cache.remember(new.key, KeyRecord(principal, new.secret_hash, None, None, 7))
    known = cache.verified(new.key, new.secret)
    assert known is not None and known.rate_limit_per_second == 7
    assert cache.verified(new.key, "sk_" + "x" * 43) is None
    assert cache.verified("pk_" + "0" * 24, new.secret) is None
    later = time.monotonic() + 61
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert cache.verified(new.key, new.secret) is None
