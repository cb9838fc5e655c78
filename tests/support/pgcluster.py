"""A throwaway PostgreSQL server for tests.

Usage::

    with PostgresCluster(tmp_path) as pg:
        engine = sqlalchemy.create_engine(pg.url)
        other_url = pg.create_database("orders_tests")

The cluster is created with ``initdb`` in a private data directory, listens on
127.0.0.1 only (on a free port picked at start), trusts loopback connections
(so URLs carry no password) and is stopped with ``pg_ctl -m fast stop``.
Nothing outside the processes this object started is ever signalled.

Running as root: ``initdb`` and ``postgres`` refuse to run as root, so they are
run as the ``postgres`` system user (created by Debian's ``postgresql``
package) through ``runuser``.  Because ``base_dir`` is typically under a
root-only directory (pytest's ``/tmp/pytest-of-root`` is mode 0700), the data
directory then lives in a fresh ``tempfile.mkdtemp()`` owned by ``postgres``
that is removed again on :meth:`PostgresCluster.stop`.  The server log is still
written to ``base_dir``: we open it ourselves and hand the open file to
``pg_ctl`` as stdout, which the server inherits.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_bindir"]

# Only these addresses are ever used: the server listens on nothing else.
HOST = "127.0.0.1"
# Database that exists in every fresh cluster; ``PostgresCluster.url`` points at it.
DEFAULT_DBNAME = "postgres"
# System user that runs the server when we are root (Debian's postgresql package creates it).
SYSTEM_USER = "postgres"
# How long pg_ctl may wait for start/stop (seconds), as passed to ``pg_ctl -t``.
PG_CTL_TIMEOUT = 60
# Lines of server log quoted in startup error messages.
LOG_TAIL_LINES = 40
# Unix socket paths are limited to 107 bytes on Linux (sun_path); leave some slack.
MAX_SOCKET_PATH = 100
# A free port can be taken by someone else between picking and binding; retry this often.
START_ATTEMPTS = 3

_DBNAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be used here: binaries missing, or the server would not start.

    The message says why (and, for startup failures, quotes the server log).
    """


def _version_key(bindir: str) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: numeric version, e.g. (9, 6) or (15,)."""
    version = Path(bindir).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def find_bindir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Tries ``pg_config --bindir`` first (on Debian that may only be libpq-dev's
    client tools, hence the check for initdb), then the highest version under
    ``/usr/lib/postgresql/*/bin``.  Raises :class:`PostgresUnavailable` if none has initdb.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    debian_dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates.extend(Path(d) for d in debian_dirs)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    looked = ", ".join(str(c) for c in candidates) or "nothing found"
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; "
        f"looked in pg_config --bindir and /usr/lib/postgresql/*/bin ({looked}). "
        "Install them with: apt-get install postgresql"
    )


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Last ``lines`` lines of a text file, or a note if it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(could not read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _is_running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    # The postmaster is not our child (pg_ctl daemonises it), so once it exits it may
    # linger as a zombie until init reaps it; /proc tells the two apart.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


class PostgresCluster:
    """A private PostgreSQL server: :meth:`start` (or ``with``) it, :meth:`stop` it.

    ``base_dir`` receives the server log (``postgres.log``) and, unless running as
    root, the data directory (``pgdata``).  It is created if missing.
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.log_path = self.base_dir / "postgres.log"
        self._as_root = os.geteuid() == 0
        # Superuser of the new cluster: the OS user the server runs as.
        self.user = SYSTEM_USER if self._as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.port: int | None = None
        self.data_dir: Path | None = None
        self._bindir: Path | None = None
        self._private_dir: Path | None = None  # mkdtemp() made for root runs; removed on stop
        self._pid: int | None = None

    # -- context manager ---------------------------------------------------------------

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- public API ----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the postmaster while running, else None."""
        return self._pid

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database (``postgres``)."""
        return self.url_for(DEFAULT_DBNAME)

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver, no password) for database ``dbname``."""
        if self.port is None:
            raise RuntimeError("PostgresCluster is not running; call start() or use `with`")
        return f"postgresql+psycopg://{quote(self.user, safe='')}@{HOST}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL.

        ``name`` must be a plain lower-case identifier (so it needs no quoting in
        URLs); creating a name that already exists raises ``psycopg.errors.DuplicateDatabase``.
        """
        if not _DBNAME_RE.match(name):
            raise ValueError(f"database name must match {_DBNAME_RE.pattern}: {name!r}")
        if self.port is None:
            raise RuntimeError("PostgresCluster is not running; call start() or use `with`")
        # CREATE DATABASE cannot run inside a transaction, hence autocommit.
        with psycopg.connect(
            host=HOST,
            port=self.port,
            user=self.user,
            dbname=DEFAULT_DBNAME,
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def start(self) -> None:
        """initdb a fresh cluster and start it; raises :class:`PostgresUnavailable` on failure."""
        if self._pid is not None:
            raise RuntimeError("PostgresCluster is already running")
        self._bindir = find_bindir()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._init_data_dir()
            self._start_server()
        except BaseException:
            # Leave nothing behind: a timed-out pg_ctl may still have a server running.
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (``pg_ctl -m fast stop``) if it is running. Safe to call twice."""
        pid = self._pid
        if pid is not None and self.data_dir is not None:
            result = self._run(self._pg_ctl("-m", "fast", "stop"), check=False)
            if result.returncode != 0 and _is_running(pid):
                # pg_ctl could not stop it: signal the postmaster we started, by its
                # recorded PID only (SIGQUIT = immediate shutdown, then SIGKILL).
                self._kill(pid)
        self._pid = None
        self.port = None
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    # -- internals -------------------------------------------------------------------------

    def _tool(self, name: str) -> str:
        assert self._bindir is not None
        return str(self._bindir / name)

    def _pg_ctl(self, *args: str) -> list[str]:
        """``pg_ctl`` command line for our data directory, waiting up to PG_CTL_TIMEOUT."""
        assert self.data_dir is not None
        return [
            self._tool("pg_ctl"),
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            str(PG_CTL_TIMEOUT),
            *args,
        ]

    def _run(
        self, args: list[str], *, check: bool = True, stdout: int = subprocess.PIPE
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool, as the ``postgres`` user when we are root.

        Raises :class:`PostgresUnavailable` (with the tool's output) if ``check``
        and it fails.
        """
        if self._as_root:
            args = ["runuser", "-u", SYSTEM_USER, "--", *args]
        # C locale: no dependence on which locales the machine has generated.
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        # Don't let the caller's PG* settings (PGDATA, PGPORT, ...) steer the tools.
        for key in [k for k in env if k.startswith("PG")]:
            del env[key]
        cwd = self.data_dir.parent if self.data_dir is not None else None
        try:
            result = subprocess.run(
                args,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                cwd=cwd,
                check=False,
                timeout=PG_CTL_TIMEOUT + 30,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{' '.join(args)} failed: {exc}") from exc
        if check and result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(args)} exited with {result.returncode}:\n{result.stdout or ''}"
            )
        return result

    def _init_data_dir(self) -> None:
        """Create the data directory with initdb and write our server settings."""
        if self._as_root:
            try:
                system_user = pwd.getpwnam(SYSTEM_USER)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"running as root but there is no {SYSTEM_USER!r} user to run the server as "
                    "(Debian's postgresql package creates it)"
                ) from exc
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root but `runuser` is not installed")
            # mkdtemp() lives in /tmp (world-traversable) and is mode 0700; hand it over.
            self._private_dir = Path(tempfile.mkdtemp(prefix="pressline-pg-"))
            os.chown(self._private_dir, system_user.pw_uid, system_user.pw_gid)
            self.data_dir = self._private_dir / "data"
        else:
            self.data_dir = self.base_dir / "pgdata"

        socket_path = self.data_dir / ".s.PGSQL.65535"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            raise PostgresUnavailable(
                f"data directory path too long for a unix socket: {self.data_dir}"
            )

        # --no-sync only skips initdb's own final flush of the template files; the
        # server itself runs with fsync=on (see _write_config).
        self._run(
            [
                self._tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        # Trust connections over loopback TCP and the private unix socket only.
        (self.data_dir / "pg_hba.conf").write_text(
            "# written by tests/support/pgcluster.py\n"
            "local all all trust\n"
            f"host  all all {HOST}/32 trust\n"
        )

    def _write_config(self, port: int) -> None:
        """Append our settings to postgresql.conf (later lines override earlier ones)."""
        assert self.data_dir is not None
        settings = {
            "port": str(port),
            "listen_addresses": f"'{HOST}'",
            "unix_socket_directories": f"'{self.data_dir}'",
            "max_connections": "200",
            "fsync": "on",  # tests check durability: keep real flushes
            "synchronous_commit": "on",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# --- tests/support/pgcluster.py ---\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_server(self) -> None:
        """pg_ctl start on a free port, retrying if the port was taken meanwhile."""
        assert self.data_dir is not None
        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port()
            self._write_config(port)
            # The log file is opened by us (root may not be able to let `postgres` open a
            # path under base_dir); pg_ctl without -l passes this stdout on to the server.
            with self.log_path.open("a") as log:
                result = self._run(self._pg_ctl("start"), check=False, stdout=log.fileno())
            self._pid = self._read_pid()
            if result.returncode == 0 and self._pid is not None:
                self.port = port
                return
            log_tail = _tail(self.log_path)
            if attempt < START_ATTEMPTS and "could not bind" in log_tail and self._pid is None:
                continue
            raise PostgresUnavailable(
                f"PostgreSQL did not start (pg_ctl exited with {result.returncode}); "
                f"last lines of {self.log_path}:\n{log_tail}"
            )

    def _read_pid(self) -> int | None:
        """Postmaster PID from ``postmaster.pid`` (first line), if the file exists."""
        assert self.data_dir is not None
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first_line)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _kill(pid: int) -> None:
        """Last resort for a postmaster that pg_ctl could not stop."""
        for sig, grace in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if not _is_running(pid):
                    return
                time.sleep(0.1)
