"""Files only the service's own user may read: the SQLite database (it holds webhook
signing secrets, receivers' credentials and customers' addresses), private keys, the
demo key. Each is created that way, whatever the process's umask."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def private_dir(path: Path) -> None:
    """``path`` and its parents; ``path`` itself, if new, for this user only (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_private(path: Path) -> None:
    """An empty ``path`` for this user only (0600), unless it exists. An empty file is an
    empty SQLite database, and SQLite gives its -wal and -shm files the database's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` for this user only (0600), also when it replaces an
    existing file, whose mode ``open``'s would not change."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
