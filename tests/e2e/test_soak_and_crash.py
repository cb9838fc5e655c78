"""``bench.soak`` and ``bench.crash`` in a short mode, on SQLite and on PostgreSQL.

reliability.md 21 (mixed load: no 5xx, no "database is locked") and 20 (``kill -9``
during concurrent submits: nothing acknowledged lost, retries make no duplicates), run
as an operator would run them, as scripts that start their own `pressline serve`. The
PostgreSQL runs use a fresh database in the suite's cluster and count rate limits in
the suite's Redis, as several production nodes would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.pg_fixtures import postgres_url

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: Far above a short run's time (about 10-15 s); a hung script fails instead of blocking CI.
SCRIPT_TIMEOUT = 120
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SUBMITS = 200


def run_script(module: str, args: list[str], tmp_path: Path) -> dict[str, Any]:
    """``python -m <module> …`` from the repository root; its one backend's JSON result."""
    report = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSLINE_")}
    done = subprocess.run(
        [sys.executable, "-m", module, *args, "--json", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    [result] = json.loads(report.read_text())["results"]
    assert isinstance(result, dict)
    return result


def backend_args(backend: str, request: pytest.FixtureRequest, name: str) -> list[str]:
    if backend == "sqlite":
        return ["--backend", "sqlite"]
    cluster = request.getfixturevalue("postgres_cluster")
    redis = request.getfixturevalue("redis_server")
    url = postgres_url(cluster, f"tests_e2e_{name}")
    return ["--backend", "postgres", "--postgres-url", url, "--redis-url", redis.url]


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_load_for_seconds_answers_no_5xx_and_logs_no_lock_error(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    args = ["--duration", "5", "--clients", "16", "--warm-orders", "40", "--seed", "21"]
    result = run_script("bench.soak", [*backend_args(backend, request, "soak"), *args], tmp_path)

    assert result["problems"] == []
    assert (result["responses_5xx"], result["transport_errors"]) == (0, 0)
    log = result["log"]
    assert (log["database_is_locked"], log["tracebacks"], log["error_lines"]) == (0, 0, 0)
    operations = result["operations"]
    assert set(operations) == {"submit", "get", "search", "update", "cancel", "resubmit"}
    for name in ("submit", "get", "search", "cancel"):
        assert set(operations[name]["statuses"]) == {"200"}, operations[name]
    assert set(operations["resubmit"]["statuses"]) == {"409"}
    assert set(operations["update"]["statuses"]) <= {"200", "409"}
    # The server logged (access log on) every request the clients counted, and the warm-up.
    assert log["access_lines"] >= result["overall"]["requests"] > 100
    assert log["server_statuses"].keys() <= {"200", "404", "409"}  # 404: the readiness probe


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_during_concurrent_submits_loses_no_acknowledged_order(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Seed 1 kills after 35% are acknowledged: some submits are never sent before the kill.
    args = ["--rounds", "1", "--submits", str(SUBMITS), "--concurrency", "100", "--seed", "1"]
    result = run_script("bench.crash", [*backend_args(backend, request, "crash"), *args], tmp_path)

    [crash] = result["rounds"]
    load = crash["load"]
    assert load["killed_mid_load"] and load["in_flight_at_kill"] > 0 and load["not_sent"] > 0
    acknowledged = load["acknowledged"]
    assert 0 < acknowledged < SUBMITS
    after_restart = crash["after_restart"]
    assert after_restart["acknowledged, complete"] == acknowledged
    assert set(after_restart) <= {
        "acknowledged, complete",
        "unacknowledged, absent",
        "unacknowledged, stored, complete",
    }
    assert set(crash["retry_statuses"]) <= {"200", "409"}
    assert sum(crash["retry_statuses"].values()) == 2 * SUBMITS
    assert crash["after_retries"] == {
        "acknowledged, complete": acknowledged,
        "unacknowledged, stored, complete": SUBMITS - acknowledged,
    }
    assert crash["stored"] == {"orders": SUBMITS, "references_stored_twice": 0, "incomplete": 0}
    assert crash["problems"] == []
