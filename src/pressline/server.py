"""``pressline serve``: migrate, optionally seed the demo, and run granian over HTTPS."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces, SSLProtocols
from granian.log import LogLevels

from pressline.accounts import repository
from pressline.accounts import service as accounts
from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.migrate import upgrade

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
        return Tls(settings.tls_cert, settings.tls_key, self_signed=False)
    from pressline.tls import ensure_self_signed

    cert, key = ensure_self_signed(settings.tls_dir)
    return Tls(cert, key, self_signed=True)


def ensure_demo(db: Database) -> str | None:
    """Create the demo customer, connector and key once; the key's ``key:secret`` or None.

    The secret is also kept in ./var/demo-api-key (mode 0600) so every later
    `make run` can print it: a convenience for the sandbox connector only.
    """
    with db.transaction() as conn:
        if repository.customer_by_reference(conn, DEMO_CUSTOMER) is None:
            accounts.create_customer(
                conn, reference_id=DEMO_CUSTOMER, name="Sandbox customer", now=utcnow()
            )
        if repository.connector_by_prefix(conn, DEMO_PREFIX) is not None:
            return DEMO_KEY_FILE.read_text().strip() if DEMO_KEY_FILE.exists() else None
        created = accounts.create_connector(
            conn,
            customer_reference_id=DEMO_CUSTOMER,
            prefix=DEMO_PREFIX,
            name="Sandbox connector",
            now=utcnow(),
        )
    DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(created.key.header_value + "\n")
    return created.key.header_value


def prepare(settings: Settings) -> None:
    if settings.workers > 1 and settings.is_sqlite:
        raise ServeError(
            "The embedded SQLite database runs one process (one writer); "
            "use PostgreSQL (PRESSLINE_DATABASE_URL) for --workers > 1."
        )
    db = Database(settings.database_url)
    try:
        upgrade(db.write_engine)
    finally:
        db.close()


def run(settings: Settings, tls: Tls | None) -> None:
    """Serve until interrupted; the optional plain-HTTP listener runs beside it."""
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
        "pressline.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        websockets=False,
        backlog=2048,
        log_level=LogLevels(settings.log_level),
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
