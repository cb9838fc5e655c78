"""``python -m bench.run``: submit, get and search against a real server, with targets.

For each backend: a seeded database (cached), a fresh connector and key, `pressline
serve` on 127.0.0.1, one preflight request per scenario, then wrk for each scenario
(a warm-up, then the measured run). Everything started is stopped at the end.

``--features on`` runs the server as production does: a rate limiter that counts every
request (in memory, or in Redis with ``--redis`` on PostgreSQL), JSON access logs at
level info, and an ``Idempotency-Key`` on every submit. ``--features both`` measures
each backend without and then with them, and prints what they cost.

Exit status: 0 every scenario met its target with no errors, 1 something failed,
2 the benchmark could not run (wrk missing, server or database would not start).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.pgcluster import PostgresUnavailable
from tests.support.redisserver import RedisServer, RedisUnavailable

from bench import costs, report, server, store, targets, workload
from bench import wrk as wrk_runner
from bench.report import Measurement, note

BENCH_DIR = Path(__file__).parent


def _scenarios(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(workload.SCENARIOS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(workload.SCENARIOS)}")
    return [name for name in workload.SCENARIOS if name in chosen]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Throughput and p50/p99 latency of submit, get and search against "
        "`pressline serve` on 127.0.0.1, on SQLite and PostgreSQL, with wrk. "
        "See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--backend", choices=["sqlite", "postgres", "both"], default="both")
    add(
        "--only",
        type=_scenarios,
        default=",".join(workload.SCENARIOS),
        metavar="LIST",
        help="comma-separated scenarios: submit,get,search",
    )
    add("--duration", type=server.positive, default=10, help="measured seconds per scenario")
    add("--warmup", type=int, default=2, help="unmeasured seconds before each scenario (0: none)")
    add(
        "--connections",
        type=server.positive,
        default=targets.TARGET_CONNECTIONS,
        help="wrk connections",
    )
    add("--threads", type=server.positive, default=2, help="wrk threads")
    add(
        "--workers",
        type=server.positive,
        default=os.cpu_count() or 1,
        help="API processes on PostgreSQL, one per core by default, as docs/deploy.md "
        "advises (SQLite always runs one)",
    )
    add(
        "--embedded-worker",
        choices=["on", "off"],
        default="on",
        help="whether the server also runs the delivery worker (each submitted order's "
        "intake and hand-off), as `pressline serve` does by default; off measures the API "
        "alone, as when `pressline worker` runs elsewhere",
    )
    add(
        "--read-pool-size",
        type=server.positive,
        default=None,
        help="PRESSLINE_READ_POOL_SIZE of each API process (PostgreSQL reads run on that "
        "many threads); default: the server's own",
    )
    add(
        "--orders",
        type=int,
        default=1_000_000,
        help="orders the benchmark customer owns (others get a fifth as many more)",
    )
    add(
        "--cache-dir",
        type=Path,
        default=BENCH_DIR / ".cache",
        help="where seeded databases are kept between runs",
    )
    add("--results-dir", type=Path, default=BENCH_DIR / "results")
    add(
        "--features",
        choices=["off", "on", "both"],
        default="off",
        help="rate limiter, access logs and idempotency keys: off, on (as in production), "
        "or both, one after the other, with the cost of turning them on",
    )
    add(
        "--rate-limit",
        default=server.COUNTING_LIMIT,
        help="the limit with features on (the default counts every request, refuses none)",
    )
    add(
        "--repeat",
        type=server.positive,
        default=1,
        help="run every scenario this many times (with --features both: off, on, off, on…)",
    )
    add(
        "--request-log",
        choices=["with-features", "on", "off"],
        default="with-features",
        help="the request log: on exactly when the features are (default), or on (off) in "
        "both modes, so that --features both measures the other features alone",
    )
    add(
        "--redis",
        action="store_true",
        help="PostgreSQL with features on: count rate limits in a throwaway Redis",
    )
    args = parser.parse_args(argv)
    if args.orders < 1000:
        parser.error("--orders must be at least 1000")
    return args


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def _modes(args: argparse.Namespace) -> list[str]:
    """Features off and on in turn, ``--repeat`` times: drift on a shared machine hits both."""
    modes: list[str] = ["off", "on"] if args.features == "both" else [args.features]
    return modes * int(args.repeat)


def _features(
    mode: str, backend: str, args: argparse.Namespace, redis_url: str | None
) -> server.Features:
    request_log = {"with-features": None, "on": True, "off": False}[args.request_log]
    if mode == "off":
        return server.Features(request_log=request_log)
    redis = redis_url if backend == "postgres" else None
    return server.Features.on(args.rate_limit, redis, request_log)


def run_backend(
    backend: str,
    args: argparse.Namespace,
    wrk: str,
    run_id: str,
    measurements: list[Measurement],
    redis_url: str | None = None,
) -> None:
    """Every selected scenario on ``backend``, appended to ``measurements`` as each finishes."""
    note(f"[bold]{backend}[/bold]: preparing {args.orders:,} orders")
    with tempfile.TemporaryDirectory(prefix=f"pressline-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        with store.dataset(backend, workdir, args.orders, args.cache_dir) as data:
            how = "from cache" if data.from_cache else "seeded"
            note(f"{backend}: database ready ({how}) in {data.prepare_seconds:.0f} s")
            account = workload.prepare_account(data.url, run_id)
            workers = api_processes(backend, args)
            for index, mode in enumerate(_modes(args)):
                features = _features(mode, backend, args, redis_url)
                server_run = f"{run_id}s{index}"  # each server's submits have references of its own
                with server.serve(
                    data.url,
                    workdir,
                    workers=workers,
                    probe_path=f"{account.base}/not-an-order",
                    api_key=account.api_key,
                    features=features,
                    log_name=f"server-{mode}.log",
                    embedded_worker=args.embedded_worker == "on",
                    read_pool_size=args.read_pool_size,
                ) as srv:
                    note(
                        f"{backend}: pressline serve on {srv.url} (pid {srv.process.pid}), "
                        f"{workers} API process(es), embedded worker {args.embedded_worker}, "
                        f"features {features.describe()}"
                    )
                    for name in args.only:  # each appended as it finishes
                        measurements.append(
                            run_scenario(
                                backend, name, args, wrk, server_run, srv, account, data, mode
                            )
                        )


def api_processes(backend: str, args: argparse.Namespace) -> int:
    """API processes the run's server has: ``--workers`` on PostgreSQL, one on SQLite."""
    return int(args.workers) if backend == "postgres" else 1


def run_scenario(
    backend: str,
    scenario: str,
    args: argparse.Namespace,
    wrk: str,
    run_id: str,
    srv: server.Server,
    account: workload.Account,
    data: store.Dataset,
    mode: str = "off",
) -> Measurement:
    payload = workload.write_payload(
        scenario, srv.log.parent, account, data.seeded_at, data.info.bench_orders
    )
    facts = workload.preflight(scenario, srv.port, account, payload)
    env = {"BENCH_BASE": account.base, "BENCH_API_KEY": account.api_key}
    # With features on, submits carry an Idempotency-Key (lua/submit_keyed.lua).
    script = "submit_keyed" if scenario == "submit" and mode == "on" else scenario
    if args.warmup > 0:
        warm = wrk_runner.Load(args.connections, args.threads, args.warmup)
        wrk_runner.run(
            wrk, script, srv.url, warm, payload=payload, env={**env, "BENCH_RUN_ID": f"{run_id}w"}
        )
    load = wrk_runner.Load(args.connections, args.threads, args.duration)
    note(
        f"{backend}: {scenario} for {args.duration} s at {args.connections} connections, "
        f"features {mode} (load average {os.getloadavg()[0]:.2f})"
    )
    result = wrk_runner.run(
        wrk, script, srv.url, load, payload=payload, env={**env, "BENCH_RUN_ID": run_id}
    )
    target = targets.TARGETS[(backend, scenario)]
    passed, why = targets.verdict(target, result.rps, result.p99_ms, result.errors)
    note(
        f"{backend}: {scenario} {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, {result.errors} errors"
    )
    label = backend if args.features == "off" else f"{backend} (features {mode})"
    facts = {**facts, "backend": backend, "features": mode}
    facts |= {
        "workers": api_processes(backend, args),
        "embedded_worker": args.embedded_worker,
        "read_pool_size": args.read_pool_size,
    }
    return Measurement(
        label, scenario, args.connections, result, target.describe(), passed, why, facts
    )


def _redis(args: argparse.Namespace, backends: list[str], resources: ExitStack) -> str | None:
    """A throwaway Redis when a PostgreSQL run with features on asked for one."""
    if not args.redis or args.features == "off" or "postgres" not in backends:
        return None
    directory = resources.enter_context(tempfile.TemporaryDirectory(prefix="pressline-redis-"))
    return resources.enter_context(RedisServer(Path(directory))).url


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk = wrk_runner.find_wrk()
    except wrk_runner.WrkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    run_id = secrets.token_hex(4)
    started = datetime.now(UTC)
    measurements: list[Measurement] = []
    try:
        with ExitStack() as resources:
            redis_url = _redis(args, backends, resources)
            for backend in backends:
                run_backend(backend, args, wrk, run_id, measurements, redis_url)
    except (
        PostgresUnavailable,
        RedisUnavailable,
        server.ServerError,
        wrk_runner.WrkError,
        workload.PreflightError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped", file=sys.stderr)
        return 130
    finally:
        if measurements:
            _finish(args, run_id, started, measurements)
    return 0 if all(m.passed for m in measurements) else 1


def _finish(
    args: argparse.Namespace, run_id: str, started: datetime, measurements: list[Measurement]
) -> None:
    run: dict[str, Any] = {
        "run_id": run_id,
        "started_at": started.isoformat(),
        "commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "settings": {
            key: value
            for key, value in vars(args).items()
            if key not in {"cache_dir", "results_dir"}
        },
    }
    title = (
        f"Pressline benchmark: {args.orders:,} orders, {args.duration} s per scenario, "
        f"{os.cpu_count()} CPUs shared by server and wrk"
    )
    report.table(measurements, title)
    compared = costs.compare(measurements)
    if compared:
        costs.table(compared)
        run["feature_costs"] = [cost.as_dict() for cost in compared]
    if args.connections != targets.TARGET_CONNECTIONS:
        note(f"targets are stated for {targets.TARGET_CONNECTIONS} connections")
    path = report.write_json(args.results_dir, run, measurements)
    note(f"results written to {path}")


if __name__ == "__main__":
    sys.exit(main())
