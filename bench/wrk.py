"""Run wrk (the C load generator) with one of the Lua scenario scripts; parse its summary.

A Python load generator would compete with the server for this machine's two
cores and under-measure it; wrk costs a fraction of a core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).parent / "lua"
MARKER = "BENCH_RESULT "
#: A request slower than this counts as a timeout error (wrk's default is 2 s).
REQUEST_TIMEOUT = "10s"
INSTALL_HINT = (
    "wrk (the HTTP load generator) is not installed. On Debian/Ubuntu: "
    "sudo apt-get update && sudo apt-get install -y wrk  (other systems: "
    "https://github.com/wg/wrk)"
)


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no summary."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def find_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkError(INSTALL_HINT)
    return path


def parse(stdout: str) -> WrkResult:
    """The summary line the Lua ``done()`` hook printed."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise WrkError(f"wrk printed no summary:\n{stdout}")
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p75_ms=data["p75_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        # wrk counts every response with a status above 399 here.
        non_2xx=data["status"],
        socket_errors={key: data[key] for key in ("connect", "read", "write", "timeout")},
    )


@dataclass(frozen=True, slots=True)
class Load:
    """How hard to push: wrk's -c, -t and -d."""

    connections: int
    threads: int
    seconds: float


def run(
    wrk: str, scenario: str, url: str, load: Load, *, payload: Path, env: dict[str, str]
) -> WrkResult:
    """``wrk -s lua/<scenario>.lua`` against ``url`` for ``load.seconds``; stops by itself."""
    command = [
        wrk,
        f"--connections={load.connections}",
        f"--threads={min(load.threads, load.connections)}",
        f"--duration={max(1, round(load.seconds))}s",
        f"--timeout={REQUEST_TIMEOUT}",
        f"--script={LUA_DIR / f'{scenario}.lua'}",
        url,
    ]
    full_env = {
        **os.environ,
        **env,
        "BENCH_LUA_DIR": str(LUA_DIR),
        "BENCH_PAYLOAD": str(payload),
    }
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=load.seconds + 60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not stop within {load.seconds + 60:.0f} s") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return parse(done.stdout)
