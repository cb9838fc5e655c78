"""A throwaway Redis server for tests.

Usage::

    with RedisServer(tmp_path) as redis:
        url = redis.url              # redis://127.0.0.1:PORT/0

``redis-server`` (Debian's ``redis-server`` package) is started as our own child
process, listens on 127.0.0.1 only (on a free port picked at start), keeps nothing on
disk (no RDB snapshots, no AOF) and is stopped by its PID with SIGTERM (SIGKILL only
if it hangs). Nothing else is ever signalled.

When the binary is missing or the server will not start, :func:`start_redis` skips the
test on a developer machine but fails it when ``PRESSLINE_REQUIRE_REDIS=1`` or ``CI`` is
set, so CI can never go green by skipping the Redis tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["RedisServer", "RedisUnavailable", "redis_required", "start_redis"]

HOST = "127.0.0.1"
REQUIRE_ENV = "PRESSLINE_REQUIRE_REDIS"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# A free port can be taken by someone else between picking and binding; retry this often.
START_ATTEMPTS = 3
LOG_TAIL_LINES = 30


class RedisUnavailable(RuntimeError):
    """Redis cannot be used here: binary missing, or the server would not start."""


def redis_required() -> bool:
    """True when a missing/broken Redis must fail the run instead of skipping."""
    return os.environ.get(REQUIRE_ENV) == "1" or bool(os.environ.get("CI"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    """Whether a Redis on ``port`` answers PING (inline command, no client library)."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A private ``redis-server``: :meth:`start` (or ``with``) it, :meth:`stop` it."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.log_path = self.base_dir / "redis.log"
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("RedisServer is not running; call start() or use `with`")
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        """Start on a free port; raises :class:`RedisUnavailable` on failure."""
        if self._process is not None:
            raise RuntimeError("RedisServer is already running")
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable(
                "redis-server not found on PATH. Install it with: apt-get install redis-server"
            )
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port()
            if self._start_on(binary, port):
                self.port = port
                return
            if attempt == START_ATTEMPTS or "Address already in use" not in self._log_tail():
                raise RedisUnavailable(
                    f"redis-server did not start on {HOST}:{port}; last lines of "
                    f"{self.log_path}:\n{self._log_tail()}"
                )

    def outage(self) -> Callable[[], None]:
        """Stop the server now; the returned function starts it again on the same port
        (empty: it persists nothing), as an outage and a recovery look to its clients."""
        port = self.port
        if port is None:
            raise RuntimeError("RedisServer is not running")
        self.stop()

        def recover() -> None:
            binary = shutil.which("redis-server")
            if binary is None or not self._start_on(binary, port):
                raise RedisUnavailable(f"redis-server did not start again on {HOST}:{port}")
            self.port = port

        return recover

    def stop(self) -> None:
        """SIGTERM our server, SIGKILL it only if it hangs. Safe to call twice."""
        process, self._process = self._process, None
        self.port = None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def _start_on(self, binary: str, port: int) -> bool:
        args = [
            binary,
            "--port", str(port),
            "--bind", HOST,
            "--protected-mode", "yes",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.base_dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if _answers_ping(port):
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").splitlines()
            return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty)"
        return "(no log)"


def start_redis(base_dir: Path) -> RedisServer:
    """Start a server under ``base_dir``, or fail/skip the current test with the reason.

    The caller must call ``stop()`` on the returned server.
    """
    server = RedisServer(base_dir)
    try:
        server.start()
    except RedisUnavailable as exc:
        reason = f"Redis unavailable: {exc}"
        if redis_required():
            pytest.fail(
                f"{reason}\n({REQUIRE_ENV}=1 or CI is set, so this is an error)", pytrace=False
            )
        pytest.skip(reason)
    return server
