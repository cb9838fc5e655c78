"""``python -m bench.crash``: kill -9 during concurrent submits; nothing acknowledged is lost.

reliability.md 20 (and 19, 12): each round starts `pressline serve`, fires hundreds of
concurrent submits (each with its own orderReferenceId and ``Idempotency-Key``),
SIGKILLs the server's whole process group once a random share of them has been
acknowledged, restarts it on the same database and checks, through the API and in the
database itself:

1. every acknowledged order is there and complete (its id and creation time as
   acknowledged, every item, a shipment, a receipt);
2. every other one is there completely or not at all;
3. retrying every submit with the same key and body (two copies at once) answers
   200 or 409 naming the one order, and leaves exactly one order per reference.

Until idempotency keys are served, the header is ignored and a retry of a stored order
is a 409 duplicate; once they are, it replays the 200. Either way, never a second order.

Exit status: 0 nothing lost, duplicated or incomplete; 1 something was; 2 the run could
not start (no PostgreSQL, server not starting).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.pgcluster import PostgresUnavailable
from tests.support.redisserver import RedisUnavailable

from bench import crashcheck, logscan, server, stack
from bench.crashcheck import Attempt
from bench.crashload import Load, fire, make_attempts, read_back, retry_all
from bench.report import note


@dataclass(frozen=True, slots=True)
class Target:
    """What every round of one backend shares: the database, the caller, the settings."""

    backend: str
    url: str
    caller: stack.Caller
    workdir: Path
    workers: int
    features: server.Features | None

    def start(self, log_name: str) -> server.Server:
        return server.start(
            self.url,
            self.workdir,
            workers=self.workers,
            probe_path=f"{self.caller.base}/not-an-order",
            api_key=self.caller.api_key,
            features=self.features,
            log_name=f"server-{self.backend}-{log_name}.log",
        )


def load_facts(load: Load) -> dict[str, Any]:
    sent = [a for a in load.attempts if a.sent]
    statuses = Counter(a.outcome.label for a in sent if a.outcome is not None)
    return {
        "submits": len(load.attempts),
        "kill_after_acknowledged": load.kill_after,
        "killed_mid_load": load.killed,
        "acknowledged_at_kill": load.acknowledged_at_kill,
        "in_flight_at_kill": load.in_flight_at_kill,
        "acknowledged": sum(a.acknowledged for a in load.attempts),
        "sent": len(sent),
        "not_sent": len(load.attempts) - len(sent),
        "statuses": dict(sorted(statuses.items())),
    }


def _load_problems(facts: dict[str, Any]) -> list[str]:
    problems = []
    if not facts["killed_mid_load"]:
        problems.append("the load ended before the kill: nothing was tested")
    odd = {k: n for k, n in facts["statuses"].items() if k.isdigit() and k != "200"}
    if odd:
        problems.append(f"before the kill, submits answered {odd}")
    return problems


def crash_and_load(
    target: Target,
    attempts: list[Attempt],
    args: argparse.Namespace,
    rng: random.Random,
    number: int,
) -> tuple[Load, server.Server]:
    """Serve, submit until a random share is acknowledged, SIGKILL the process group."""
    srv = target.start(f"round{number}")
    share = rng.uniform(0.3, 0.7)
    load = Load(attempts, max(1, round(share * len(attempts))), srv.kill)
    try:
        asyncio.run(fire(srv.port, target.caller, load, args.concurrency))
    finally:
        if srv.process.poll() is None:  # the kill never came (or the load failed)
            srv.stop()
    return load, srv


def after_restart(
    target: Target, attempts: list[Attempt], args: argparse.Namespace, number: int
) -> tuple[dict[str, Any], server.Server]:
    """Restart on the same database; read everything back, retry everything, read again."""
    began = time.monotonic()
    srv = target.start(f"round{number}-restart")
    port, caller = srv.port, target.caller
    checks: dict[str, Any] = {"restart_seconds": round(time.monotonic() - began, 1)}
    try:
        checks["after_restart"] = asyncio.run(
            read_back(port, caller, attempts, args.concurrency, all_stored=False)
        )
        checks["stored_after_restart"] = crashcheck.stored_facts(target.url, caller.customer)
        retried = asyncio.run(retry_all(port, caller, attempts, args.concurrency, args.copies))
        checks["retry_statuses"] = dict(sorted(retried.items()))
        checks["after_retries"] = asyncio.run(
            read_back(port, caller, attempts, args.concurrency, all_stored=True)
        )
        checks["stored_after_retries"] = crashcheck.stored_facts(target.url, caller.customer)
    finally:
        leftovers = srv.stop()
    checks["server_exit_status"] = srv.process.returncode
    checks["leftover_processes"] = leftovers
    return checks, srv


def _log_problems(findings: logscan.LogFindings, checks: dict[str, Any]) -> list[str]:
    problems = []
    if findings.locked:
        problems.append(f'{findings.locked} log lines say "database is locked"')
    if findings.tracebacks or findings.errors or findings.server_5xx:
        problems.append(
            f"server log: {findings.tracebacks} tracebacks, {findings.errors} "
            f"error lines, {findings.server_5xx} 5xx answers"
        )
    if checks["server_exit_status"] != 0 or checks["leftover_processes"]:
        problems.append(
            f"the restarted server exited with {checks['server_exit_status']} "
            f"after SIGTERM, leftovers {checks['leftover_processes']}"
        )
    return problems


def run_round(
    target: Target,
    args: argparse.Namespace,
    rng: random.Random,
    run_id: str,
    number: int,
    stored_before: int,
) -> dict[str, Any]:
    """One kill and restart; the round's figures and every problem found."""
    attempts = make_attempts(run_id, number, args.submits)
    load, first = crash_and_load(target, attempts, args, rng, number)
    facts = load_facts(load)
    checks, second = after_restart(target, attempts, args, number)
    findings = logscan.scan([first.log, second.log])
    restart, final = checks["stored_after_restart"], checks["stored_after_retries"]
    problems = [
        *_load_problems(facts),
        *checks["after_restart"]["problems"],
        *crashcheck.stored_problems(restart, "after the restart"),
        *checks["after_retries"]["problems"],
        *crashcheck.stored_problems(final, "after the retries"),
        *crashcheck.final_problems(attempts, final, stored_before),
        *_log_problems(findings, checks),
    ]
    return {
        "round": number,
        "load": facts,
        "restart_seconds": checks["restart_seconds"],
        "after_restart": checks["after_restart"]["found"],
        "retry_statuses": checks["retry_statuses"],
        "after_retries": checks["after_retries"]["found"],
        "stored": crashcheck.stored_summary(final),
        "log": findings.as_dict(),
        "problems": problems,
        "passed": not problems,
    }


def crash_backend(backend: str, args: argparse.Namespace, run: stack.Stack) -> dict[str, Any]:
    """Every round on one database of ``backend``."""
    url = run.database_url(backend, f"crash_{backend}")
    caller = stack.prepare(url, "crash")
    redis_url = run.redis_url() if backend == "postgres" else None
    features = server.Features.on(args.rate_limit, redis_url) if args.features == "on" else None
    workers = args.workers if backend == "postgres" else 1
    target = Target(backend, url, caller, run.workdir, workers, features)
    rng = random.Random(args.seed)
    run_id = f"crash-{secrets.token_hex(3)}"
    rounds: list[dict[str, Any]] = []
    stored = 0
    for number in range(1, args.rounds + 1):
        result = run_round(target, args, rng, run_id, number, stored)
        stored = result["stored"]["orders"]
        rounds.append(result)
        note(_round_line(backend, result))
    return {
        "backend": backend,
        "workers": workers,
        "features": (features or server.Features()).describe(),
        "rounds": rounds,
        "passed": all(r["passed"] for r in rounds),
    }


def _round_line(backend: str, r: dict[str, Any]) -> str:
    load = r["load"]
    verdict = "[green]pass[/]" if r["passed"] else f"[red]FAIL[/] ({len(r['problems'])} problems)"
    return (
        f"{backend} round {r['round']}: killed with {load['in_flight_at_kill']} submits in "
        f"flight after {load['acknowledged_at_kill']} of {load['submits']} were acknowledged "
        f"({load['acknowledged']} in all); restart {r['restart_seconds']} s; after it "
        f"{r['after_restart']}; retries {r['retry_statuses']}; stored "
        f"{r['stored']} → {verdict}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.crash",
        description="kill -9 `pressline serve` during concurrent submits, restart it, and "
        "check that no acknowledged order was lost and no retry made a duplicate. "
        "See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--backend", choices=["sqlite", "postgres", "both"], default="both")
    add("--rounds", type=server.positive, default=3, help="kills (and restarts) per backend")
    add("--submits", type=server.positive, default=500, help="submits per round")
    add("--concurrency", type=server.positive, default=100, help="submits in flight at once")
    add("--copies", type=server.positive, default=2, help="concurrent retries of each submit")
    add(
        "--workers", type=server.positive, default=2, help="API processes on PostgreSQL (SQLite: 1)"
    )
    server.add_stack_options(parser)
    add("--seed", type=int, default=None, help="random seed for the moments of the kills")
    add("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def print_report(results: list[dict[str, Any]]) -> None:
    """Each round's figures and, for a failed one, its first problems (all in --json)."""
    for result in results:
        print(
            f"{result['backend']} ({result['workers']} API process(es), features "
            f"{result['features']}):"
        )
        for r in result["rounds"]:
            load = r["load"]
            print(
                f"  round {r['round']}: {load['submits']} submits, "
                f"{load['acknowledged']} acknowledged, killed with "
                f"{load['in_flight_at_kill']} in flight; restarted in {r['restart_seconds']} s"
            )
            print(f"    after the restart: {r['after_restart']}")
            print(f"    retries ({r['retry_statuses']}), then: {r['after_retries']}")
            print(
                f"    stored: {r['stored']}; log: {r['log']['database_is_locked']} locked, "
                f"{r['log']['tracebacks']} tracebacks, {r['log']['error_lines']} errors"
            )
            print(f"    {'pass' if r['passed'] else 'FAIL'}")
            for problem in r["problems"][:10]:
                print(f"    - {problem}")
    verdict = all(result["passed"] for result in results)
    print("no acknowledged order lost, none incomplete, no duplicate" if verdict else "FAILED")


def main(argv: list[str] | None = None) -> int:
    return stack.run_each_backend(
        parse_args(argv),
        prefix="pressline-crash-",
        run_backend=crash_backend,
        report=print_report,
        errors=(PostgresUnavailable, RedisUnavailable, server.ServerError),
    )


if __name__ == "__main__":
    sys.exit(main())
