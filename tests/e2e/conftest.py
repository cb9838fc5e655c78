"""A real ``pressline serve`` process, started in a fresh working directory and stopped by PID.

Each :class:`Server` runs the installed console script with its own ``./var/`` (so the
embedded database, the self-signed certificate and the demo key are fresh), listens on
127.0.0.1 only, and is stopped with SIGTERM (SIGKILL only if it hangs). Stopping checks
that every process the server started (granian's workers, the plain-HTTP listener and
its worker) is gone too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

PRESSLINE = str(Path(sys.executable).with_name("pressline"))
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any PRESSLINE_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSLINE_")}
    env.update(settings)
    return env


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from ``ps --ppid``."""
    out = subprocess.run(
        ["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, check=False
    ).stdout
    return [int(line) for line in out.split()]


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def is_alive(pid: int) -> bool:
    """Running and not a zombie (a reaped or exited process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def tls_ready(port: int) -> bool:
    """Whether a TLS handshake on ``port`` completes (the certificate is not checked here)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((HOST, port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname="localhost"),
        ):
            return True
    except OSError:
        return False


@dataclass
class Server:
    """One ``pressline serve`` process and what it printed."""

    cwd: Path
    port: int
    http_port: int | None
    env: dict[str, str]
    args: tuple[str, ...] = ("--demo",)
    process: subprocess.Popen[bytes] | None = None
    tree: list[int] = field(default_factory=list)

    @property
    def stdout_path(self) -> Path:
        return self.cwd / "server.out"

    @property
    def stderr_path(self) -> Path:
        return self.cwd / "server.err"

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def cert(self) -> Path:
        return Path(self.env.get("PRESSLINE_TLS_CERT") or self.cwd / "var" / "tls" / "cert.pem")

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def api_key(self) -> str:
        match = re.search(r"^X-API-KEY: (\S+)$", self.output(), re.MULTILINE)
        assert match, f"no X-API-KEY in the banner:\n{self.output()}"
        return match.group(1)

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=self.base_url, verify=context, timeout=30)

    def start(self) -> Server:
        assert self.process is None, "already started"
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                [PRESSLINE, "serve", *self.args], cwd=self.cwd, env=self.env, stdout=out, stderr=err
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not tls_ready(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"pressline serve did not start:\n{self.logs()}", pytrace=False)
            time.sleep(0.1)
        if self.http_port is not None:
            while not _accepts(self.http_port) and time.monotonic() < deadline:
                time.sleep(0.1)
        self.tree = descendants(self.process.pid)
        return self

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL only if it hangs; the exit status (None if never started)."""
        process, self.process = self.process, None
        if process is None:
            return None
        tree = descendants(process.pid) or self.tree
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(is_alive(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in tree if is_alive(pid)]
        for pid in survivors:  # ours by PID; never leave them running, then report it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not survivors, f"processes left running after the server stopped: {survivors}"
        return status

    def logs(self) -> str:
        return f"stdout:\n{self.output()}\nstderr:\n{self.stderr_path.read_text(errors='replace')}"


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def new_server(cwd: Path, *, plain_http: bool = True, **settings: str) -> Server:
    """A demo server (not yet started) in ``cwd`` on free ports."""
    port = free_port()
    http_port = free_port() if plain_http else None
    env = server_env(PRESSLINE_HOST=HOST, PRESSLINE_PORT=str(port), **settings)
    if http_port is not None:
        env["PRESSLINE_HTTP_PORT"] = str(http_port)
    cwd.mkdir(parents=True, exist_ok=True)
    return Server(cwd=cwd, port=port, http_port=http_port, env=env)


def refused(server: Server, started: str) -> tuple[int, str]:
    """Run ``pressline serve`` that should refuse to start: its exit status and stderr;
    the test fails with ``started`` if it serves instead."""
    with server.stdout_path.open("wb") as out, server.stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [PRESSLINE, "serve"], cwd=server.cwd, env=server.env, stdout=out, stderr=err
        )
    try:
        status = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.process = process
        server.stop()
        pytest.fail(started)
    return status, server.stderr_path.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One demo server on the embedded SQLite database, shared by a module's tests."""
    running = new_server(tmp_path_factory.mktemp("serve")).start()
    try:
        yield running
    finally:
        running.stop()
