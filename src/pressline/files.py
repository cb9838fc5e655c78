"""Files only the service's own user may read: the SQLite database (it holds webhook
signing secrets, receivers' credentials and customers' addresses), private keys, the
demo key. Each is created that way, whatever the process's umask."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def private_dir(path: Path) -> None:
    """``path`` and whichever of its parents are missing, each new one for this user only
    (0700); those that exist are left as they are."""
    for directory in (*reversed(path.parents), path):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)


def create_private(path: Path) -> None:
    """An empty ``path`` for this user only (0600), unless it exists. An empty file is an
    empty SQLite database, and SQLite gives its -wal and -shm files the database's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` for this user only (0600), also when it replaces an
    existing file: a new file, put in the old one's place, so that neither the old
    file's mode nor a handle opened on it while it was readable reaches the new data."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
