"""Start `pressline serve` on 127.0.0.1 for a run, and stop it (and its workers) by PID.

:class:`Features` says what runs on every request besides the work itself (the rate
limiter, the access log, and where rate-limit counts live), so a run can measure the
server with and without them. :meth:`Server.kill` is a crash: SIGKILL to the server's
own process group, so no shutdown code runs in any of its processes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import client
from bench.report import note

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
#: A quota no benchmark reaches: every request is counted, none is refused.
COUNTING_LIMIT = "1000000/second"


class ServerError(RuntimeError):
    """The server did not start or did not stop; the message quotes its log."""


@dataclass(frozen=True, slots=True)
class Features:
    """The per-request work besides the endpoint's own: rate limiting and logs.

    Off (the throughput benchmark's default): no rate limiter, log level ``warning`` (no
    access lines), no request log. On: what production runs, a limiter that counts every
    request (:data:`COUNTING_LIMIT` by default, so the load is measured rather than
    refused), in memory or in Redis, one JSON access line per request, and the request
    log of every connector call with its bodies. ``request_log`` set to True or False
    keeps the request log on or off in both, so that the others are measured alone.
    """

    rate_limit: str = "off"
    log_level: str = "warning"
    redis_url: str | None = None
    request_log: bool | None = None  # None: on exactly when the other features are

    @classmethod
    def on(
        cls,
        rate_limit: str = COUNTING_LIMIT,
        redis_url: str | None = None,
        request_log: bool | None = None,
    ) -> Features:
        return cls(
            rate_limit=rate_limit, log_level="info", redis_url=redis_url, request_log=request_log
        )

    @property
    def logs_requests(self) -> bool:
        return self.enabled if self.request_log is None else self.request_log

    @property
    def enabled(self) -> bool:
        return self.rate_limit.lower() != "off" or self.log_level in {"info", "debug"}

    def describe(self) -> str:
        log = "request log" if self.logs_requests else "no request log"
        if not self.enabled:
            return "off" if self.request_log is None else f"off, {log}"
        store = "redis" if self.redis_url else "memory"
        return f"rate limit {self.rate_limit} ({store}), {self.log_level} JSON logs, {log}"

    def env(self) -> dict[str, str]:
        settings = {
            "PRESSLINE_RATE_LIMIT": self.rate_limit,
            "PRESSLINE_LOG_LEVEL": self.log_level,
            "PRESSLINE_LOG_FORMAT": "json",
            "PRESSLINE_REQUEST_LOG_ENABLED": "true" if self.logs_requests else "false",
        }
        if self.redis_url:
            settings["PRESSLINE_REDIS_URL"] = self.redis_url
        return settings


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((client.HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _command() -> list[str]:
    script = Path(sys.executable).parent / "pressline"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-c", "from pressline.cli import main; main()", "serve"]


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (granian's workers), from /proc."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(c) for c in (task / "children").read_text().split()]
                found.extend(children)
                pending.extend(children)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


class Server:
    """A running `pressline serve`; use :func:`serve` or :func:`start` to get one."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.workers: list[int] = []

    @property
    def url(self) -> str:
        return f"https://{client.HOST}:{self.port}"

    def wait_ready(self, probe_path: str, api_key: str) -> None:
        """Until the server answers HTTPS at all (any status: a 404 is a live server)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"pressline serve exited with {self.process.returncode}:\n{_tail(self.log)}"
                )
            try:
                client.request(self.port, "GET", probe_path, api_key=api_key, timeout=2)
            except OSError:
                time.sleep(0.2)
                continue
            self.workers = _descendants(self.process.pid)
            return
        raise ServerError(
            f"pressline serve not ready after {READY_TIMEOUT:.0f} s:\n{_tail(self.log)}"
        )

    def stop(self) -> list[int]:
        """SIGTERM the server; SIGKILL whatever outlives the grace period (returns those PIDs).

        A Ctrl-C during the grace period skips straight to SIGKILL, then is re-raised,
        so an interrupted run still leaves nothing running.
        """
        workers = self.workers or _descendants(self.process.pid)
        interrupted = False
        try:
            self._terminate(workers)
        except KeyboardInterrupt:
            interrupted = True
        # The server's own PID only while it is unreaped: once reaped it may be reused.
        main = [self.process.pid] if self.process.poll() is None else []
        leftovers = [pid for pid in (*main, *workers) if _alive(pid)]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        if interrupted:
            raise KeyboardInterrupt
        return leftovers

    def kill(self) -> None:
        """Crash the server: SIGKILL its whole process group at once, then wait until it is gone.

        The group is the server's own (it started in a new session), and its leader is
        our unreaped child, so the group id cannot have been reused by anyone else.
        """
        workers = self.workers or _descendants(self.process.pid)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(_alive(pid) for pid in workers):
            if time.monotonic() > deadline:
                raise ServerError(f"processes {workers} survived SIGKILL")
            time.sleep(0.05)

    def _terminate(self, workers: list[int]) -> None:
        """SIGTERM, then wait up to STOP_TIMEOUT for the server and its workers to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None and not any(_alive(pid) for pid in workers):
                return
            time.sleep(0.1)


def _environment(
    database_url: str,
    workdir: Path,
    port: int,
    workers: int,
    embedded_worker: bool,
    read_pool_size: int | None,
) -> dict[str, str]:
    """The caller's environment without its PRESSLINE_* settings, and the run's own."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PRESSLINE_")}
    if read_pool_size is not None:
        inherited["PRESSLINE_READ_POOL_SIZE"] = str(read_pool_size)
    return {
        **inherited,
        "PRESSLINE_DATABASE_URL": database_url,
        "PRESSLINE_HOST": client.HOST,
        "PRESSLINE_PORT": str(port),
        "PRESSLINE_TLS_DIR": str(workdir / "tls"),
        "PRESSLINE_WORKERS": str(workers),
        "PRESSLINE_EMBEDDED_WORKER": "true" if embedded_worker else "false",
    }


def start(
    database_url: str,
    workdir: Path,
    *,
    workers: int,
    probe_path: str,
    api_key: str,
    features: Features | None = None,
    log_name: str = "server.log",
    embedded_worker: bool = True,
    read_pool_size: int | None = None,
) -> Server:
    """`pressline serve` on a free port of 127.0.0.1, ready; the caller stops (or kills) it.
    ``embedded_worker``: whether the server also runs the delivery worker (order intake,
    hand-offs, postbacks), as it does by default. ``read_pool_size``: its
    PRESSLINE_READ_POOL_SIZE (None: the default)."""
    port = free_port()
    env = {
        **_environment(database_url, workdir, port, workers, embedded_worker, read_pool_size),
        **(features or Features()).env(),
    }
    log = workdir / log_name
    with log.open("ab") as out:
        process = subprocess.Popen(
            _command(),
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the server ourselves
        )
    server = Server(process, port, log)
    try:
        server.wait_ready(probe_path, api_key)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def serve(
    database_url: str,
    workdir: Path,
    *,
    workers: int,
    probe_path: str,
    api_key: str,
    features: Features | None = None,
    log_name: str = "server.log",
    embedded_worker: bool = True,
    read_pool_size: int | None = None,
) -> Iterator[Server]:
    """`pressline serve` on a free port of 127.0.0.1, stopped when the block ends."""
    server = start(
        database_url,
        workdir,
        workers=workers,
        probe_path=probe_path,
        api_key=api_key,
        features=features,
        log_name=log_name,
        embedded_worker=embedded_worker,
        read_pool_size=read_pool_size,
    )
    try:
        yield server
    finally:
        leftovers = server.stop()
        if leftovers:
            note(
                f"[yellow]server processes {leftovers} did not exit within {STOP_TIMEOUT:.0f} s "
                "of SIGTERM and were killed (SIGKILL)[/]"
            )
        else:
            note(
                f"server stopped (pid {server.process.pid} and its "
                f"{len(server.workers)} child(ren))"
            )


def positive(text: str) -> int:
    """An ``argparse`` type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """The feature, Redis and PostgreSQL options bench.soak and bench.crash share."""
    add = parser.add_argument
    add(
        "--features",
        choices=["on", "off"],
        default="on",
        help="on: rate limiter counting every request and JSON access logs, as in production",
    )
    add(
        "--rate-limit",
        default=COUNTING_LIMIT,
        help="the limit with --features on (the default counts but never refuses)",
    )
    add("--redis", action="store_true", help="PostgreSQL: count rate limits in a throwaway Redis")
    add("--redis-url", help="PostgreSQL: count rate limits in this Redis (implies --redis)")
    add("--postgres-url", help="use this (empty) database instead of a throwaway cluster")
