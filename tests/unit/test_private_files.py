"""What holds secrets on disk is readable by the service's user only (the database holds
webhook signing secrets and receivers' credentials; private keys; the demo key)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from pressline.config import Settings
from pressline.db import Database
from pressline.server import sole_server
from pressline.tls import VALIDITY, ensure_self_signed


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lenient_umask() -> object:
    """A umask that lets everyone read what is created (many systems' default)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_sqlite_database_its_wal_and_its_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "pressline.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.transaction() as conn:
            conn.execute(text("CREATE TABLE t (secret TEXT)"))
            conn.execute(text("INSERT INTO t VALUES ('whsec_x')"))
        files = [path, path.with_name("pressline.db-wal"), path.with_name("pressline.db-shm")]
        assert [(file.name, mode(file)) for file in files] == [(file.name, 0o600) for file in files]
        assert mode(path.parent) == 0o700
    finally:
        db.close()


def test_the_self_signed_key_is_private_also_when_renewed_over_a_readable_file(
    tmp_path: Path,
) -> None:
    made_long_ago = datetime.now(UTC) - VALIDITY + timedelta(days=10)  # 10 days left
    tls = tmp_path / "var" / "tls"  # serve makes it first, var/ with it
    _, key = ensure_self_signed(tls, now=made_long_ago)
    assert (mode(key), mode(tls), mode(tls.parent)) == (0o600, 0o700, 0o700)
    key.chmod(0o644)
    first = key.read_bytes()
    with key.open("rb") as opened_while_readable:
        _, key = ensure_self_signed(tls)  # renewed
        assert opened_while_readable.read() == first  # the old file, not the new key
    assert key.read_bytes() != first
    assert mode(key) == 0o600
    assert sorted(path.name for path in tls.iterdir()) == ["cert.pem", "key.pem"]


def test_the_serve_lock_beside_a_new_database_makes_its_directory_private(
    tmp_path: Path,
) -> None:
    """`serve` takes its lock before it opens the database: it made var/ 0755."""
    path = tmp_path / "var" / "pressline.db"
    with sole_server(Settings(database_url=f"sqlite:///{path}")):
        assert mode(path.parent) == 0o700
