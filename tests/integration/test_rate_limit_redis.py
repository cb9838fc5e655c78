"""Rate limits on the shared Redis backend (reliability.md 10 and 11), and failing open.

Each test runs its requests on one event loop (the Redis client's connections belong
to the loop that opened them, as in a server process) against a throwaway
``redis-server`` the suite starts on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from structlog.testing import capture_logs

from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database
from pressline.metrics import Metrics
from pressline.ratelimit import (
    FAILURES_BEFORE_SKIPPING,
    NAMESPACE,
    RETRY_AFTER_FAILURE,
    Policy,
    local_share,
    record_every,
)
from tests.api.test_rate_limit import RATE_LIMIT
from tests.conftest import Caller
from tests.support.redisserver import RedisServer


def redis_app(database: Database, redis_url: str, **settings: Any) -> FastAPI:
    options: dict[str, Any] = {"rate_limit": "100/second", "metrics_port": 9, **settings}
    return create_app(
        Settings(database_url=database.url, redis_url=redis_url, **options), database=database
    )


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``app``; closes the app's Redis connections on this loop at the end."""
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            yield client
    finally:
        await app.state.limiter.backend.aclose()


def get(client: httpx.AsyncClient, caller: Caller, path: str = "no-such-order") -> Any:
    return client.get(f"{caller.base}/{path}", headers=caller.headers)


async def concurrently(calls: list[Awaitable[Any]], limit: int = 16) -> list[Any]:
    """``calls`` with at most ``limit`` in flight, like a client with that many connections."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


def statuses(responses: list[Any]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def counter(app: FastAPI, name: str) -> float:
    metrics: Metrics = app.state.metrics
    value = metrics.registry.get_sample_value(name)
    return value or 0.0


def _authenticate(*callers: Caller) -> None:
    """Through the session's app: this process knows the keys, the apps' buckets are empty."""
    for caller in callers:
        assert caller.get("warm-up").status_code == 404


def test_a_burst_of_150_through_redis_gets_50_429s_and_another_key_is_unaffected(
    database: Database, redis_server: RedisServer, caller: Caller, other_caller: Caller
) -> None:
    app = redis_app(database, redis_server.url)
    _authenticate(caller, other_caller)

    async def scenario() -> tuple[list[Any], list[Any], float]:
        async with serving(app) as client:
            started = time.perf_counter()
            mine = [get(client, caller) for _ in range(150)]
            theirs = [get(client, other_caller) for _ in range(30)]
            responses = await concurrently([*mine, *theirs])
            return responses[:150], responses[150:], time.perf_counter() - started

    mine, theirs, elapsed = asyncio.run(scenario())
    assert elapsed < 1.0, f"the burst took {elapsed:.2f} s: not one second's worth"
    assert statuses(mine) == {404: 100, 429: 50}
    assert statuses(theirs) == {404: 30}
    assert {r.headers["ratelimit-policy"] for r in mine} == {'"default";q=100;w=1'}
    assert all(r.headers["retry-after"] == "1" for r in mine if r.status_code == 429)
    assert counter(app, "pressline_rate_limited_requests_total") == 50
    for response in mine:
        remaining = int(RATE_LIMIT.match(response.headers["ratelimit"])[1])  # type: ignore[index]
        assert 0 <= remaining < 100
        assert remaining == 0 or response.status_code == 404


def test_the_ratelimit_header_counts_down_one_per_request(
    database: Database, redis_server: RedisServer, caller: Caller
) -> None:
    app = redis_app(database, redis_server.url)
    _authenticate(caller)

    async def scenario() -> list[Any]:
        async with serving(app) as client:
            return [await get(client, caller) for _ in range(12)]

    headers = [r.headers["ratelimit"] for r in asyncio.run(scenario())]
    assert headers == [f'"default";r={99 - i};t=1' for i in range(12)]


def test_two_applications_on_one_redis_share_one_quota(
    database: Database, redis_server: RedisServer, caller: Caller
) -> None:
    first, second = redis_app(database, redis_server.url), redis_app(database, redis_server.url)
    _authenticate(caller)

    async def scenario() -> list[Any]:
        async with serving(first) as one, serving(second) as two:
            return await concurrently([get(one if i % 2 else two, caller) for i in range(150)])

    responses = asyncio.run(scenario())
    assert statuses(responses) == {404: 100, 429: 50}
    admitted_by = Counter(i % 2 for i, r in enumerate(responses) if r.status_code == 404)
    assert admitted_by[0] > 0 and admitted_by[1] > 0  # both "processes" served some


def counted_in_redis(redis_url: str, policy: Policy, caller: Caller) -> int:
    """How many requests of ``caller``'s key Redis holds in the current window."""
    limiter = MovingWindowRateLimiter(RedisStorage(redis_url))
    key_id = caller.api_key.split(":")[0]
    return policy.quota - limiter.get_window_stats(policy.item, NAMESPACE, key_id).remaining


def script_calls(redis_url: str) -> int:
    """Lua script calls Redis has answered so far (every count and window read is one)."""
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return sum(
        int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval")
    )


def test_far_from_the_limit_most_requests_cost_no_redis_call_and_redis_counts_them_all(
    database: Database, redis_server: RedisServer, caller: Caller
) -> None:
    """A process admits a share on its own and records it in one hit: 200 requests, each
    counted in Redis exactly once, in a small fraction of the round trips."""
    policy = Policy.parse("1000 per 10 seconds")  # a long window: the count is still there
    app = redis_app(database, redis_server.url, rate_limit="1000 per 10 seconds")
    _authenticate(caller)
    calls_before = script_calls(redis_server.url)

    async def scenario() -> list[Any]:
        async with serving(app) as client:
            return await concurrently([get(client, caller) for _ in range(200)])

    responses = asyncio.run(scenario())
    assert statuses(responses) == {404: 200}
    assert counted_in_redis(redis_server.url, policy, caller) == 200
    calls = script_calls(redis_server.url) - calls_before
    # One request at a time would be 200 hits and some window reads. A record (a hit
    # and a read) covers up to local_share requests: 50 here.
    assert calls <= 2 * (200 // local_share(policy) + 4), calls


def test_requests_admitted_on_their_own_reach_redis_without_another_request(
    database: Database, redis_server: RedisServer, caller: Caller
) -> None:
    """The other processes see them within a twentieth of the window, not at the next request."""
    policy = Policy.parse("1000 per 10 seconds")
    app = redis_app(database, redis_server.url, rate_limit="1000 per 10 seconds")
    _authenticate(caller)

    async def scenario() -> tuple[int, int]:
        async with serving(app) as client:
            for _ in range(4):  # the first records itself; the other three are admitted here
                assert (await get(client, caller)).status_code == 404
            before = counted_in_redis(redis_server.url, policy, caller)
            await asyncio.sleep(record_every(policy) + 0.3)
            return before, counted_in_redis(redis_server.url, policy, caller)

    before, after = asyncio.run(scenario())
    assert before == 1
    assert after == 4


def test_two_applications_in_memory_would_each_admit_a_full_quota(
    database: Database, caller: Caller
) -> None:
    """The contrast that makes the test above meaningful: separate counters double it."""
    settings = Settings(database_url=database.url, rate_limit="100/second")
    first = create_app(settings, database=database)
    second = create_app(settings, database=database)
    _authenticate(caller)

    async def scenario() -> list[Any]:
        transports = [httpx.ASGITransport(app=app) for app in (first, second)]
        async with (
            httpx.AsyncClient(transport=transports[0], base_url="https://testserver") as one,
            httpx.AsyncClient(transport=transports[1], base_url="https://testserver") as two,
        ):
            return list(
                await asyncio.gather(*(get(one if i % 2 else two, caller) for i in range(150)))
            )

    assert statuses(asyncio.run(scenario())) == {404: 150}


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def test_an_unreachable_redis_fails_open_is_counted_and_warned_once(
    database: Database, caller: Caller, closed_port: int
) -> None:
    app = redis_app(database, f"redis://127.0.0.1:{closed_port}/0")
    _authenticate(caller)

    async def scenario() -> list[Any]:
        async with serving(app) as client:
            return [await get(client, caller) for _ in range(30)]

    started = time.perf_counter()
    with capture_logs() as logs:
        responses = asyncio.run(scenario())
    elapsed = time.perf_counter() - started
    assert statuses(responses) == {404: 30}  # served, never 500, never 429
    assert elapsed < 3.0
    for response in responses:
        assert response.headers["ratelimit-policy"] == '"default";q=100;w=1'
        assert "ratelimit" not in response.headers  # nothing known about the quota left
    warnings = [line for line in logs if line["event"] == "rate_limit_backend_unreachable"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning" and warnings[0]["backend"] == "redis"
    assert counter(app, "pressline_rate_limit_backend_errors_total") >= 1
    assert counter(app, "pressline_rate_limit_unchecked_requests_total") == 30


def test_a_hung_redis_delays_a_request_by_at_most_its_timeout(
    database: Database, caller: Caller, silent_port: int
) -> None:
    app = redis_app(database, f"redis://127.0.0.1:{silent_port}/0", redis_timeout=0.05)
    _authenticate(caller)

    async def scenario() -> list[tuple[int, float]]:
        timed = []
        async with serving(app) as client:
            for _ in range(20):
                started = time.perf_counter()
                response = await get(client, caller)
                timed.append((response.status_code, time.perf_counter() - started))
        return timed

    timed = asyncio.run(scenario())
    assert [status for status, _ in timed] == [404] * 20
    assert max(seconds for _, seconds in timed) < 0.5
    # Only the first few requests waited for Redis; the rest skipped it while it was down.
    assert sum(seconds for _, seconds in timed[FAILURES_BEFORE_SKIPPING:]) < 0.2
    errors = counter(app, "pressline_rate_limit_backend_errors_total")
    assert errors == FAILURES_BEFORE_SKIPPING


def test_readyz_includes_redis_and_names_it_when_it_is_down(
    database: Database, redis_server: RedisServer, closed_port: int
) -> None:
    up = redis_app(database, redis_server.url)
    down = redis_app(database, f"redis://127.0.0.1:{closed_port}/0")

    async def scenario() -> tuple[Any, Any]:
        async with serving(up) as good, serving(down) as bad:
            return await good.get("/readyz"), await bad.get("/readyz")

    ready, not_ready = asyncio.run(scenario())
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert not_ready.status_code == 503
    body = not_ready.json()
    assert [(e["code"], e["param"]) for e in body["errors"]] == [
        ("dependency_unavailable", "redis")
    ]
    assert str(closed_port) not in not_ready.text


def test_after_an_outage_the_limit_is_enforced_again_once_redis_is_back(
    database: Database, caller: Caller, tmp_path: Any
) -> None:
    """Fail-open is for the outage only: when Redis answers again, 429s come back.

    A window Redis reported full stays full until its oldest request leaves it (a moving
    window), so right after the first burst the process refuses without asking Redis,
    outage or not. Once that window is over, the outage shows: requests are served.
    """
    with RedisServer(tmp_path / "redis") as redis:
        app = redis_app(database, redis.url, rate_limit="20/second")
        _authenticate(caller)

        async def burst(client: httpx.AsyncClient) -> Counter[int]:
            return statuses(await concurrently([get(client, caller) for _ in range(40)]))

        async def scenario() -> list[Counter[int]]:
            async with serving(app) as client:
                before = await burst(client)
                recover = redis.outage()
                still_full = await burst(client)
                await asyncio.sleep(1.1)  # the full window is over
                during = await burst(client)
                recover()
                await asyncio.sleep(RETRY_AFTER_FAILURE + 1.1)  # the skip and the window end
                after = await burst(client)
                return [before, still_full, during, after]

        with capture_logs() as logs:
            before, still_full, during, after = asyncio.run(scenario())
    assert before == {404: 20, 429: 20}
    assert still_full == {429: 40}  # known full: refused without Redis
    assert during == {404: 40}  # served unchecked, never 500
    assert after == {404: 20, 429: 20}  # enforced again
    events = [line["event"] for line in logs if line["event"].startswith("rate_limit_backend")]
    assert events == ["rate_limit_backend_unreachable", "rate_limit_backend_recovered"]


def test_a_request_after_a_quiet_spell_is_recorded_before_it_is_answered(
    database: Database, redis_server: RedisServer, caller: Caller
) -> None:
    """A process's view of Redis is good for a twentieth of the window: a request after
    that records itself (and refreshes the view), it is not admitted on a stale one."""
    policy = Policy.parse("1000 per 10 seconds")
    app = redis_app(database, redis_server.url, rate_limit="1000 per 10 seconds")
    _authenticate(caller)

    async def scenario() -> list[int]:
        counted = []
        async with serving(app) as client:
            for _ in range(3):
                assert (await get(client, caller)).status_code == 404
                counted.append(counted_in_redis(redis_server.url, policy, caller))
                await asyncio.sleep(record_every(policy) + 0.1)  # the view is stale now
        return counted

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_requests_admitted_from_the_view_during_an_outage_do_not_end_it(
    database: Database, caller: Caller, tmp_path: Any
) -> None:
    """While one request finds Redis away, others are admitted from the process's view:
    that is no sign of Redis being back, and the log says "recovered" only once it is."""
    with RedisServer(tmp_path / "redis") as redis_server:
        app = redis_app(database, redis_server.url, rate_limit="1000 per 10 seconds")
        _authenticate(caller)

        async def scenario() -> Counter[int]:
            async with serving(app) as client:
                assert (await get(client, caller)).status_code == 404  # a fresh view
                redis_server.outage()
                await asyncio.sleep(record_every(Policy.parse("1000 per 10 seconds")) + 0.1)
                return statuses(await concurrently([get(client, caller) for _ in range(40)]))

        with capture_logs() as logs:
            during = asyncio.run(scenario())
    assert during == {404: 40}
    events = [line["event"] for line in logs if line["event"].startswith("rate_limit_backend")]
    assert events == ["rate_limit_backend_unreachable"]
