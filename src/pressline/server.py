"""``pressline serve``: migrate, optionally seed the demo, and run granian over HTTPS.

Process layout: this (parent) process supervises granian's API workers, the optional
plain-HTTP listener and, with ``PRESSLINE_METRICS_PORT``, serves ``/metrics`` itself,
adding up what every worker recorded (``pressline.metrics``).

Shutdown: on SIGTERM or SIGINT granian stops accepting connections and lets each
worker finish the requests it has started; then every worker's application shuts
down, which drains the batch writer (``Database.close``: queued writes are committed
and answered) before the process exits. A 2xx is only ever sent after its commit.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from granian import Granian
from granian.constants import Interfaces, Loops, SSLProtocols
from granian.log import LogLevels
from sqlalchemy.engine import make_url

from pressline.accounts import repository
from pressline.accounts import service as accounts
from pressline.catalog import service as catalog
from pressline.config import Settings, get_settings
from pressline.db import Database, create_engines, utcnow
from pressline.files import private_dir, write_private
from pressline.migrate import Migrated, upgrade
from pressline.observability import configure_logging, granian_log_config

if TYPE_CHECKING:
    from fastapi import FastAPI

#: Seconds granian gives a worker to finish its in-flight requests after SIGTERM.
SHUTDOWN_GRACE = 25

DEMO_CUSTOMER = "sandbox-customer"
DEMO_PREFIX = "sandbox"
DEMO_KEY_FILE = Path("var/demo-api-key")


class ServeError(Exception):
    """A setting that makes serving impossible, explained for the operator."""


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    self_signed: bool


def resolve_tls(settings: Settings) -> Tls | None:
    if not settings.tls_enabled:
        if not settings.trusted_proxies:
            raise ServeError(
                "PRESSLINE_TLS_ENABLED=false needs PRESSLINE_TRUSTED_PROXIES: without a "
                "trusted TLS-terminating proxy every request would be refused as plain HTTP."
            )
        return None
    if settings.tls_cert or settings.tls_key:
        if not (settings.tls_cert and settings.tls_key):
            raise ServeError("Set both PRESSLINE_TLS_CERT and PRESSLINE_TLS_KEY, or neither.")
        for path in (settings.tls_cert, settings.tls_key):
            if not path.is_file():
                raise ServeError(f"TLS file not found: {path}")
        _check_pair(settings.tls_cert, settings.tls_key)
        return Tls(settings.tls_cert, settings.tls_key, self_signed=False)
    from pressline.tls import ensure_self_signed

    cert, key = ensure_self_signed(settings.tls_dir)
    return Tls(cert, key, self_signed=True)


def _check_pair(cert: Path, key: Path) -> None:
    """Load the pair as the server will, before serving: a mismatched pair, a file that
    is no PEM, or a key with a passphrase (the server cannot ask for one) is an error
    naming the files, not a traceback after the banner."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")  # an encrypted key fails
    except (ssl.SSLError, OSError) as exc:
        said = f"{getattr(exc, 'reason', None)} {exc}"
        reason = next((text for mark, text in _TLS_REASONS.items() if mark in said), str(exc))
        raise ServeError(
            f"PRESSLINE_TLS_CERT ({cert}) and PRESSLINE_TLS_KEY ({key}) cannot be used: {reason}."
        ) from None


_TLS_REASONS = {
    "KEY_VALUES_MISMATCH": "the key is not the certificate's",
    "PEM lib": "not a PEM certificate and an unencrypted PEM key",
}


def ensure_demo(db: Database) -> str:
    """Create the demo customer, connector and key once; the key's ``key:secret``.

    The secret is also kept in ./var/demo-api-key (mode 0600) so every later
    `make run` can print it: a convenience for the sandbox connector only. When that
    file is gone, the sandbox connector gets a new key (the old ones stay valid until
    revoked), so the quick start's ``KEY=$(cat var/demo-api-key)`` works again.
    """
    with db.transaction() as conn:
        if repository.customer_by_reference(conn, DEMO_CUSTOMER) is None:
            accounts.create_customer(
                conn, reference_id=DEMO_CUSTOMER, name="Sandbox customer", now=utcnow()
            )
            # The guide's customer-product example ("Business Card") works as pasted.
            catalog.import_customer_products(
                conn,
                customer_reference_id=DEMO_CUSTOMER,
                text=catalog.example_customer_products(),
                source="the example customer products",
                now=utcnow(),
            )
        if repository.connector_by_prefix(conn, DEMO_PREFIX) is not None:
            if DEMO_KEY_FILE.exists():
                return DEMO_KEY_FILE.read_text().strip()
            key = accounts.create_key(conn, prefix=DEMO_PREFIX, now=utcnow())
        else:
            key = accounts.create_connector(
                conn,
                customer_reference_id=DEMO_CUSTOMER,
                prefix=DEMO_PREFIX,
                name="Sandbox connector",
                now=utcnow(),
            ).key
            # Its orders move on their own (passed … delivered), firing real postbacks.
            repository.set_connector_sandbox(conn, DEMO_PREFIX, True)
    private_dir(DEMO_KEY_FILE.parent)
    write_private(DEMO_KEY_FILE, f"{key.header_value}\n".encode())
    return key.header_value


def prepare(settings: Settings) -> Migrated:
    """Check what serving needs, and migrate the database."""
    if settings.workers > 1 and settings.is_sqlite:
        raise ServeError(
            "The embedded SQLite database runs one process (one writer); "
            "use PostgreSQL (PRESSLINE_DATABASE_URL) for --workers > 1."
        )
    for port in (settings.port, settings.http_port):
        if port:
            _check_port_free(settings.host, port)
    db = Database(settings.database_url)
    try:
        return upgrade(db.write_engine)
    finally:
        db.close()


@contextmanager
def sole_server(settings: Settings) -> Iterator[None]:
    """While serving an SQLite file, hold a lock beside it: one ``pressline serve`` per
    file, whatever its port. Two would be two batch writers contending for SQLite's one
    write lock (the issue's prototype: p99 0.4 s instead of 0.05 s).

    ``fcntl.lockf`` (a POSIX lock) belongs to this process alone: granian's forked
    workers do not inherit it, and the kernel drops it when this process dies, however
    it dies, so a crash never leaves a stale lock. Other commands (``pressline
    worker``, ``migrate``, the operator CLI) are not servers and do not take it.
    """
    database = make_url(settings.database_url).database
    if not settings.is_sqlite or not database or database == ":memory:":
        yield
        return
    path = Path(f"{database}-serve.lock")
    private_dir(path.parent)
    with path.open("a+") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ServeError(
                f"{database} is already being served (pid {holder}): one pressline serve "
                "per SQLite database; stop that one first"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port another server listens on. granian binds with SO_REUSEPORT, so a
    second ``pressline serve`` on it started without a word and took half its
    connections: on SQLite, a second writer on the same database file. A plain bind
    (SO_REUSEADDR only, which Linux refuses beside a listener) tells."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        raise ServeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another pressline serve running on it? PRESSLINE_PORT picks another port)"
        ) from None


def worker_app() -> FastAPI:
    """granian's factory, run in each worker: this process's logging, then the app."""
    from pressline.app import create_app  # here: importing it imports prometheus_client

    settings = get_settings()
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    return create_app(settings, freeze_heap=True)


@contextmanager
def metrics_listener(settings: Settings) -> Iterator[None]:
    """``GET /metrics`` on its own port, summing every worker's values (a no-op if unset)."""
    if settings.metrics_port is None:
        yield
        return
    # prometheus_client picks per-process or shared values when first imported: the
    # variable is set before that import here, and inherited by every worker.
    directory = tempfile.mkdtemp(prefix="pressline-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from pressline.metrics import OrdersByStatus, multiprocess_registry, serve_metrics

    registry = multiprocess_registry(directory)
    read, write = create_engines(settings.database_url, pool_size=1)
    registry.register(OrdersByStatus(read))
    try:
        try:
            http = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            raise ServeError(
                f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc}"
            ) from exc
        try:
            yield
        finally:
            http.shutdown()
    finally:
        read.dispose()
        write.dispose()
        shutil.rmtree(directory, ignore_errors=True)


def run(settings: Settings, tls: Tls | None) -> None:
    """Serve until interrupted; the plain-HTTP and metrics listeners run beside it."""
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    try:
        with metrics_listener(settings):
            _serve(settings, tls)
    except ServeError as exc:  # same exit as the CLI's own checks: a message, status 2
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(settings: Settings, tls: Tls | None) -> None:
    plain: subprocess.Popen[bytes] | None = None
    if settings.http_port:
        plain = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--no-ws",
                "--host",
                settings.host,
                "--port",
                str(settings.http_port),
                "--log-level",
                "warning",
                "pressline.app:plain_http_app",
            ]
        )
    server = Granian(
        "pressline.server:worker_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        # uvloop: measured +10-15% on get over asyncio's own loop (bench/README.md).
        loop=Loops.uvloop,
        workers=settings.workers,
        websockets=False,
        backlog=2048,
        log_level=LogLevels(settings.log_level),
        log_dictconfig=granian_log_config(settings.log_format),
        workers_kill_timeout=SHUTDOWN_GRACE,
        ssl_cert=tls.cert if tls else None,
        ssl_key=tls.key if tls else None,
        ssl_protocol_min=SSLProtocols.tls12,
    )
    try:
        server.serve()
    finally:
        if plain is not None:
            plain.terminate()
            plain.wait(timeout=10)
