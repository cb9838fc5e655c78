"""The parent's side: a pool of worker processes, replaced when a render overruns.

The process boundary makes the render limits hard ones: the parent kills and
replaces any worker that overruns the render's wall time, which no in-process
check can do for a loop in C.

Parent and worker speak over a socket: the parent sends pickled jobs (it trusts
itself); the worker answers with small JSON headers and raw output bytes, never a
pickle, so even a worker taken over by a sandbox escape could not run code in the
server. The parent parses the output itself, under the output size limit.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from pressline.templates.formats import PayloadError, parse
from pressline.templates.lookups import NO_LOOKUPS, LookupResolver
from pressline.templates.model import (
    DEFAULT_LIMITS,
    Limits,
    LookupNotFound,
    Rendered,
    RendererUnavailable,
    TemplateError,
    TemplateForbidden,
    TemplateInputInvalid,
    TemplateLimitExceeded,
    TemplateOutputInvalid,
    TemplateSource,
)
from pressline.templates.worker import Job

_ERRORS: dict[str, type[TemplateError]] = {
    "syntax": TemplateError,
    "runtime": TemplateError,
    "forbidden": TemplateForbidden,
    "limit": TemplateLimitExceeded,
    "input": TemplateInputInvalid,
    "output": TemplateOutputInvalid,
    "lookup": LookupNotFound,
}


_BOOT_CODE = (
    "import sys; from pressline.templates.worker import serve_worker; "
    "serve_worker(int(sys.argv[1]))"
)


class _Stopped(Exception):
    """The worker went away, or answered something it never sends."""


class _Worker:
    """One worker process and the socket to it.

    Every message from the worker is one frame: a JSON header line, then for
    ``{"t": "ok"}`` the output bytes.
    """

    def __init__(self, proc: subprocess.Popen[bytes], conn: Connection) -> None:
        self.proc, self.conn = proc, conn
        self.poller = select.poll()  # kept: a selector per wait costs more than the render
        self.poller.register(conn.fileno(), select.POLLIN)

    @classmethod
    def start(cls, timeout: float) -> _Worker:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", _BOOT_CODE, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the server's group is not the worker's
            env=env,
        )
        theirs.close()
        worker = cls(proc, Connection(ours.detach()))
        try:
            if worker.receive(time.monotonic() + timeout, 0)[0] != {"t": "ready"}:
                raise _Stopped("no ready message")
        except (_Stopped, TimeoutError):
            worker.stop()
            raise RendererUnavailable("A template worker did not start.") from None
        return worker

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, message: object) -> None:
        try:
            self.conn.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
        except OSError:
            raise _Stopped("the worker is gone") from None

    def receive(self, deadline: float, max_body: int) -> tuple[dict[str, Any], bytes]:
        """The next header and body, waiting until ``deadline`` (then ``TimeoutError``)."""
        wait_ms = max(deadline - time.monotonic(), 0) * 1000
        if not self.poller.poll(math.ceil(wait_ms)):
            raise TimeoutError
        try:
            frame = self.conn.recv_bytes(max_body + 64 * 1024)
            head, _, body = frame.partition(b"\n")
            header = json.loads(head)
        except (EOFError, OSError, ValueError):
            raise _Stopped("the worker is gone or unreadable") from None
        if not isinstance(header, dict):
            raise _Stopped("an unreadable message")
        return header, body

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.conn.close()


class RenderPool:
    """Worker processes that render templates; thread-safe, started lazily.

    ``render`` blocks its thread for up to the render's time limit: call it from a
    thread (``anyio.to_thread.run_sync``), not on an event loop.
    """

    def __init__(
        self, size: int = 2, *, start_timeout: float = 15.0, wait_timeout: float = 10.0
    ) -> None:
        self._size, self._start_timeout, self._wait_timeout = size, start_timeout, wait_timeout
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()  # idle and busy
        self._starting = 0
        self._closed = False

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (for operators' diagnostics and tests)."""
        with self._cond:
            return sorted(worker.proc.pid for worker in self._workers)

    def render(
        self,
        template: TemplateSource,
        payload: bytes | Mapping[str, Any],
        *,
        lookups: LookupResolver = NO_LOOKUPS,
        limits: Limits = DEFAULT_LIMITS,
        variables: Mapping[str, Any] | None = None,
    ) -> Rendered:
        """Render ``payload`` (raw bytes in the input format, or an already-parsed value)."""
        started = time.monotonic()
        if isinstance(payload, bytes) and len(payload) > limits.input_bytes:
            raise TemplateLimitExceeded(
                template, f"the input is {len(payload)} bytes; the limit is {limits.input_bytes}"
            )
        fingerprints = dict(lookups.fingerprints())
        job = Job(template, payload, dict(variables or {}), limits, fingerprints)
        body = self._run(job, lookups)
        try:
            value = parse(body, template.output_format)
        except PayloadError as exc:
            raise TemplateOutputInvalid(template, f"the output is {exc}") from None
        return Rendered(template, body, value, time.monotonic() - started)

    def check(self, template: TemplateSource, *, limits: Limits = DEFAULT_LIMITS) -> None:
        """Compile ``template`` without rendering: its syntax errors and refused tags."""
        self._run(Job(template, None, {}, limits, {}, check_only=True), NO_LOOKUPS)

    def warm(self) -> None:
        """Start every worker now rather than on the first renders."""
        workers = [self._acquire() for _ in range(self._size)]
        for worker in workers:
            self._release(worker, reusable=True)

    def close(self) -> None:
        """Stop the idle workers now and the busy ones when their render ends."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._workers.difference_update(idle)
            self._cond.notify_all()
        for worker in idle:
            worker.stop()

    def _run(self, job: Job, lookups: LookupResolver) -> bytes:
        worker = self._acquire()
        reusable = False
        deadline = time.monotonic() + job.limits.time_seconds
        try:
            worker.send(job)
            while True:
                header, body = worker.receive(deadline, job.limits.output_bytes)
                if header.get("t") == "need":
                    worker.send(lookups.table(str(header.get("table"))))
                    continue
                reusable = not header.get("bye", False)
                if header.get("t") == "ok":
                    return body
                raise _template_error(header, job.template)
        except TimeoutError:
            reusable = False
            seconds = f"{job.limits.time_seconds:g}"
            raise TemplateLimitExceeded(
                job.template, f"rendering took longer than {seconds} s"
            ) from None
        except _Stopped:
            reusable = False
            raise TemplateLimitExceeded(
                job.template, "the renderer stopped while rendering this template"
            ) from None
        finally:
            self._release(worker, reusable=reusable)

    def _acquire(self) -> _Worker:
        if os.getpid() != self._pid:  # forked: the workers belong to the parent process
            self._reset()
        with self._cond:
            deadline = time.monotonic() + self._wait_timeout
            while True:
                if self._closed:
                    raise RendererUnavailable("The template renderer is shut down.")
                while self._idle:
                    idle = self._idle.pop()
                    if idle.alive():
                        return idle
                    self._workers.discard(idle)
                    idle.stop()  # reaps it
                if len(self._workers) + self._starting < self._size:
                    self._starting += 1
                    break
                if not self._cond.wait(max(deadline - time.monotonic(), 0)):
                    raise RendererUnavailable("Every template worker is busy; retry shortly.")
        worker: _Worker | None = None
        try:
            worker = _Worker.start(self._start_timeout)
            return worker
        finally:
            with self._cond:
                self._starting -= 1
                if worker is not None:
                    self._workers.add(worker)
                self._cond.notify()

    def _release(self, worker: _Worker, *, reusable: bool) -> None:
        with self._cond:
            keep = reusable and not self._closed
            if keep:
                self._idle.append(worker)
            else:
                self._workers.discard(worker)
            self._cond.notify()
        if not keep:
            worker.stop()


def _template_error(header: Mapping[str, Any], template: TemplateSource) -> Exception:
    error = _ERRORS.get(str(header.get("kind")))
    line = header.get("line")
    if error is None or not isinstance(line, int | None):
        return _Stopped("an unknown error kind")
    return error(template, str(header.get("message", ""))[:1000], line=line)
