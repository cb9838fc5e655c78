"""``python -m bench.soak``: sustained mixed load on a real server, with zero 5xx and no locks.

reliability.md 21: a minute (``--duration``) of submit, get, search, update shipment and
cancel in an integrator's mix, from many concurrent clients (asyncio, one keep-alive
HTTPS connection each to 127.0.0.1, see ``bench/wire.py``), against `pressline serve` on
SQLite and on PostgreSQL. Afterwards the server is stopped with SIGTERM and its log is
read for "database is locked", tracebacks, error lines and (with access logs on) the 5xx
it answered.

Exit status: 0 nothing went wrong; 1 a 5xx, a transport error, an unexpected status, a
lock error, a traceback or an error line; 2 the soak could not run (no PostgreSQL,
server not starting, the warm-up's own submits failing).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from tests.support.pgcluster import PostgresUnavailable
from tests.support.redisserver import RedisUnavailable

from bench import logscan, mix, server, stack, traffic
from bench.report import note
from bench.traffic import Tally


def _unexpected(tally: Tally) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for operation, counter in tally.statuses.items():
        allowed = mix.EXPECTED[operation] | {mix.RATE_LIMITED}
        odd = {label: n for label, n in counter.items() if label not in allowed}
        if odd:
            found[operation] = odd
    return found


def judge(tally: Tally, findings: logscan.LogFindings, exit_status: int | None) -> list[str]:
    """Every reason the soak failed (none: it passed)."""
    problems = []
    if n := tally.count(traffic.is_5xx):
        problems.append(f"{n} responses were 5xx")
    if n := tally.count(traffic.is_transport_error):
        problems.append(f"{n} requests ended in a transport error")
    if odd := _unexpected(tally):
        problems.append(f"unexpected statuses: {odd}")
    if findings.locked:
        problems.append(f'{findings.locked} log lines say "database is locked"')
    if findings.tracebacks:
        problems.append(f"{findings.tracebacks} tracebacks in the server log")
    if findings.errors:
        problems.append(f"{findings.errors} error lines in the server log")
    if findings.server_5xx:
        problems.append(f"the server logged {findings.server_5xx} 5xx answers")
    if exit_status != 0:
        problems.append(f"the server exited with {exit_status} after SIGTERM, not 0")
    return problems


def soak_backend(backend: str, args: argparse.Namespace, run: stack.Stack) -> dict[str, Any]:
    """Prepare a database and a key, serve, load, stop, read the log; the backend's result."""
    url = run.database_url(backend, f"soak_{backend}")
    caller = stack.prepare(url, "soak")
    redis_url = run.redis_url() if backend == "postgres" else None
    features = server.Features.on(args.rate_limit, redis_url) if args.features == "on" else None
    workers = args.workers if backend == "postgres" else 1
    srv = server.start(
        url,
        run.workdir,
        workers=workers,
        probe_path=f"{caller.base}/not-an-order",
        api_key=caller.api_key,
        features=features,
        log_name=f"server-{backend}.log",
    )
    described = (features or server.Features()).describe()
    try:
        note(
            f"{backend}: {workers} API process(es) on {srv.url}, {args.clients} clients, "
            f"{args.duration} s, features {described}"
        )
        tally, elapsed = asyncio.run(mix.run_load(srv.port, caller, args))
    finally:
        leftovers = srv.stop()
    findings = logscan.scan([srv.log])
    problems = judge(tally, findings, srv.process.returncode)
    if leftovers:
        problems.append(f"server processes {leftovers} outlived SIGTERM and were killed")
    setup = {"backend": backend, "workers": workers, "features": described}
    return {**setup, **_figures(tally, elapsed, args), **_verdict(findings, srv, problems)}


def _figures(tally: Tally, elapsed: float, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(tally.total() / elapsed, 1),
        "overall": tally.overall(),
        "operations": {name: tally.summary(name) for name in mix.MIX if name in tally.statuses},
        "responses_5xx": tally.count(traffic.is_5xx),
        "transport_errors": tally.count(traffic.is_transport_error),
    }


def _verdict(
    findings: logscan.LogFindings, srv: server.Server, problems: list[str]
) -> dict[str, Any]:
    return {
        "log": findings.as_dict(),
        "server_exit_status": srv.process.returncode,
        "problems": problems,
        "passed": not problems,
    }


def print_report(results: list[dict[str, Any]]) -> None:
    """One table per backend on stdout: requests, statuses and latency by operation."""
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    for result in results:
        overall = result["overall"]
        grid = Table(
            title=f"{result['backend']}: {overall['requests']:,} requests in "
            f"{result['seconds']} s ({result['requests_per_second']:,.0f}/s), "
            f"{result['clients']} clients, {result['workers']} API process(es)"
        )
        for name in ("operation", "requests", "statuses", "p50 ms", "p99 ms"):
            grid.add_column(name, justify="left" if name in {"operation", "statuses"} else "right")
        for name, row in result["operations"].items():
            statuses = ", ".join(f"{label}: {n:,}" for label, n in row["statuses"].items())
            grid.add_row(
                name, f"{row['requests']:,}", statuses, f"{row['p50_ms']}", f"{row['p99_ms']}"
            )
        grid.add_row(
            "all", f"{overall['requests']:,}", "", f"{overall['p50_ms']}", f"{overall['p99_ms']}"
        )
        out.print(grid)
        log = result["log"]
        verdict = (
            "[green]pass[/]"
            if result["passed"]
            else "[red]FAIL[/]: " + "; ".join(result["problems"])
        )
        out.print(
            f"5xx: {result['responses_5xx']}, transport errors: {result['transport_errors']}, "
            f'"database is locked": {log["database_is_locked"]}, tracebacks: {log["tracebacks"]}, '
            f"error lines: {log['error_lines']}, server-logged 5xx: {log['server_5xx']} "
            f"(of {log['access_lines']:,} access lines), server exit {result['server_exit_status']}"
            f" → {verdict}"
        )
        for line in log["quoted"]:
            out.print(f"  log: {line}", markup=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Mixed load (submit, get, search, update shipment, cancel) against "
        '`pressline serve` on 127.0.0.1; fails on any 5xx or "database is locked". '
        "See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--backend", choices=["sqlite", "postgres", "both"], default="both")
    add("--duration", type=server.positive, default=60, help="seconds of mixed load per backend")
    add(
        "--clients",
        type=server.positive,
        default=32,
        help="concurrent clients (one connection each)",
    )
    add(
        "--workers", type=server.positive, default=2, help="API processes on PostgreSQL (SQLite: 1)"
    )
    add("--warm-orders", type=server.positive, default=100, help="orders submitted before the mix")
    server.add_stack_options(parser)
    add("--seed", type=int, default=None, help="random seed for the mix")
    add("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return stack.run_each_backend(
        parse_args(argv),
        prefix="pressline-soak-",
        run_backend=soak_backend,
        report=print_report,
        errors=(PostgresUnavailable, RedisUnavailable, server.ServerError, mix.SoakError),
    )


if __name__ == "__main__":
    sys.exit(main())
