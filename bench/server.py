"""Start `pressline serve` on 127.0.0.1 for a run, and stop it (and its workers) by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import client
from bench.report import note

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class ServerError(RuntimeError):
    """The server did not start or did not stop; the message quotes its log."""


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
    """A running `pressline serve`; use :func:`serve` to get one."""

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

    def _terminate(self, workers: list[int]) -> None:
        """SIGTERM, then wait up to STOP_TIMEOUT for the server and its workers to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None and not any(_alive(pid) for pid in workers):
                return
            time.sleep(0.1)


@contextmanager
def serve(
    database_url: str, workdir: Path, *, workers: int, probe_path: str, api_key: str
) -> Iterator[Server]:
    """`pressline serve` on a free port of 127.0.0.1, stopped when the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "PRESSLINE_DATABASE_URL": database_url,
        "PRESSLINE_HOST": client.HOST,
        "PRESSLINE_PORT": str(port),
        "PRESSLINE_TLS_DIR": str(workdir / "tls"),
        "PRESSLINE_WORKERS": str(workers),
        "PRESSLINE_LOG_LEVEL": "warning",
        # wrk drives one key far beyond 100 requests/s: measure the work, not the 429s.
        "PRESSLINE_RATE_LIMIT": os.environ.get("PRESSLINE_RATE_LIMIT", "off"),
    }
    log = workdir / "server.log"
    with log.open("wb") as out:
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
        yield server
    finally:
        leftovers = server.stop()
        if leftovers:
            note(
                f"[yellow]server processes {leftovers} did not exit within {STOP_TIMEOUT:.0f} s "
                "of SIGTERM and were killed (SIGKILL)[/]"
            )
        else:
            note(f"server stopped (pid {process.pid} and its {len(server.workers)} child(ren))")
