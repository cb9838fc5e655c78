"""The parent's side: a pool of worker processes, replaced when a render overruns.

The process boundary makes the render limits hard ones: the parent kills and
replaces any worker that overruns the render's wall time, which no in-process
check can do for a loop in C. The parent parses each output itself, under the
output size limit (``channel`` has the wire).

Two ways in, one pool:

- ``render`` blocks its thread until the answer or the deadline (CLI, delivery worker);
- ``render_async`` is for the API's event loop. The job is handed to an idle worker,
  or queued; the loop's reader callback takes the answer and gives the worker its
  next queued job at once, before any request task runs. No thread is involved, and
  a worker is never left idle while the loop is busy with other requests: both were
  most of a small render's cost in the server.

Queued renders are served by owner in turn (the API names the connector): a connector
whose template runs to its time limit on every request cannot make the others wait
behind its backlog, only for a worker to come free.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Hashable, Mapping
from functools import partial
from typing import Any

from anyio import to_thread

from pressline.templates.channel import Stopped, WorkerProcess
from pressline.templates.formats import JsonValue, PayloadError, parse
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
from pressline.templates.turns import TurnQueue
from pressline.templates.worker import Job

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[TemplateError]] = {
    "syntax": TemplateError,
    "runtime": TemplateError,
    "forbidden": TemplateForbidden,
    "limit": TemplateLimitExceeded,
    "input": TemplateInputInvalid,
    "output": TemplateOutputInvalid,
    "lookup": LookupNotFound,
}

#: Outputs at least this large are parsed in a thread, not on the event loop.
_PARSE_IN_THREAD = 256 * 1024
_NOTHING = memoryview(b"")


class _Conversation:
    """One ``render_async``: its job, where the answer goes, and its worker once it has one.

    Touched only on its event loop's thread (other threads hand it over with
    ``call_soon_threadsafe``).
    """

    __slots__ = ("future", "job", "lookups", "loop", "outbox", "owner", "timer", "worker")

    def __init__(
        self, job: Job, lookups: LookupResolver, loop: asyncio.AbstractEventLoop, owner: Hashable
    ) -> None:
        self.job, self.lookups, self.loop, self.owner = job, lookups, loop, owner
        self.future: asyncio.Future[bytes] = loop.create_future()
        self.worker: WorkerProcess | None = None
        self.outbox = _NOTHING  # what the socket has not taken yet
        self.timer: asyncio.TimerHandle | None = None  # waiting for a worker, then rendering


class RenderPool:
    """Worker processes that render templates; thread-safe, started lazily.

    ``render`` blocks its thread for up to the render's time limit: call it from a
    thread, not on an event loop; there, ``await render_async(...)``.
    """

    def __init__(
        self, size: int = 2, *, start_timeout: float = 15.0, wait_timeout: float = 10.0
    ) -> None:
        self._size, self._start_timeout, self._wait_timeout = size, start_timeout, wait_timeout
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._idle: list[WorkerProcess] = []
        self._workers: set[WorkerProcess] = set()  # idle and busy
        self._queue: TurnQueue[_Conversation] = TurnQueue()  # async renders waiting for a worker
        #: Workers given to an async render, from the hand-over to its end.
        self._busy: dict[WorkerProcess, _Conversation] = {}
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
        job = _job(template, payload, lookups, limits, variables)
        body = self._run(job, lookups)
        return Rendered(template, body, _parse_output(template, body), time.monotonic() - started)

    async def render_async(
        self,
        template: TemplateSource,
        payload: bytes | Mapping[str, Any],
        *,
        lookups: LookupResolver = NO_LOOKUPS,
        limits: Limits = DEFAULT_LIMITS,
        variables: Mapping[str, Any] | None = None,
        owner: Hashable = None,
    ) -> Rendered:
        """``render`` without blocking the event loop: same limits, errors and results.

        While every worker is busy, renders wait in one line per ``owner``, and the
        lines take turns (see the module's docstring).

        A caller cancelled while its render runs does not stop the render: the
        worker finishes (or overruns and is replaced) and the answer is dropped.
        """
        started = time.monotonic()
        job = _job(template, payload, lookups, limits, variables)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another async library than asyncio: wait in a thread
            call = partial(self.render, lookups=lookups, limits=limits, variables=variables)
            return await to_thread.run_sync(call, template, payload)
        conversation = _Conversation(job, lookups, loop, owner)
        self._submit(conversation)
        body = await conversation.future
        if len(body) < _PARSE_IN_THREAD:
            value = _parse_output(template, body)
        else:
            value = await to_thread.run_sync(_parse_output, template, body)
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
            queued = self._queue.drain()
            self._cond.notify_all()
        for worker in idle:
            worker.stop()
        for conversation in queued:
            _call_on_loop(conversation.loop, self._fail, conversation, _shut_down())

    # --- the blocking path ------------------------------------------------------------

    def _run(self, job: Job, lookups: LookupResolver) -> bytes:
        worker = self._acquire()
        reusable = False
        deadline = time.monotonic() + job.limits.time_seconds
        try:
            worker.send(job, deadline)
            while True:
                header, body = worker.receive(deadline, job.limits.output_bytes)
                if header.get("t") == "need":
                    worker.send(lookups.table(str(header.get("table"))), deadline)
                    continue
                reusable = _reusable(header, worker)
                return _answer(header, body, job.template)
        except TimeoutError:
            reusable = False
            raise _overran(job) from None
        except Stopped:
            reusable = False
            raise _stopped(job) from None
        finally:
            self._release(worker, reusable=reusable)

    def _acquire(self) -> WorkerProcess:
        if os.getpid() != self._pid:  # forked: the workers belong to the parent process
            self._reset()
        with self._cond:
            deadline = time.monotonic() + self._wait_timeout
            while True:
                idle = self._take_idle()
                if idle is not None:
                    return idle
                if self._claim_start():
                    break
                if not self._cond.wait(max(deadline - time.monotonic(), 0)):
                    raise _all_busy()
        worker: WorkerProcess | None = None
        try:
            worker = WorkerProcess.start(self._start_timeout)
            return worker
        finally:
            with self._cond:
                self._starting -= 1
                if worker is not None:
                    self._workers.add(worker)
                self._cond.notify()

    # --- shared bookkeeping (``_cond`` held where said) ---------------------------------

    def _take_idle(self) -> WorkerProcess | None:
        """An idle, living worker, if there is one (``_cond`` held)."""
        if self._closed:
            raise _shut_down()
        while self._idle:
            idle = self._idle.pop()
            if idle.alive():
                return idle
            self._workers.discard(idle)
            idle.stop()  # reaps it
        return None

    def _claim_start(self) -> bool:
        """Whether a worker may be started, counting it as starting if so (``_cond`` held)."""
        if len(self._workers) + self._starting >= self._size:
            self._reclaim_orphans()
        if self._closed or len(self._workers) + self._starting >= self._size:
            return False
        self._starting += 1
        return True

    def _reclaim_orphans(self) -> None:
        """End the workers of async renders whose event loop closed mid-render
        (``_cond`` held): nothing would ever read their answer or time them out."""
        for worker, conversation in list(self._busy.items()):
            if conversation.loop.is_closed():
                del self._busy[worker]
                self._workers.discard(worker)
                worker.stop(wait=False)

    def _next_queued(self) -> _Conversation | None:
        """The next async render still wanted, its owner's turn (``_cond`` held)."""
        while self._queue:
            conversation = self._queue.popleft()
            if not conversation.future.done():  # else cancelled or timed out while queued
                self._queue.served(conversation.owner)
                return conversation
        return None

    def _release(self, worker: WorkerProcess, *, reusable: bool, wait: bool = True) -> None:
        """A worker back: to the next queued async render, to the idle list, or ended."""
        handed_to: _Conversation | None = None
        start = False
        with self._cond:
            keep = reusable and not self._closed
            if keep:
                handed_to = self._next_queued()
                if handed_to is None:
                    self._idle.append(worker)
                else:
                    self._busy[worker] = handed_to
            else:
                self._workers.discard(worker)
                start = bool(self._queue) and self._claim_start()
            self._cond.notify()
        if not keep:
            worker.stop(wait=wait)
        if handed_to is not None and not _call_on_loop(
            handed_to.loop, self._begin, handed_to, worker
        ):
            with self._cond:  # its loop is gone
                self._busy.pop(worker, None)
            self._release(worker, reusable=True)
        if start:
            self._start_in_background()

    # --- the event-loop path ------------------------------------------------------------

    def _submit(self, conversation: _Conversation) -> None:
        if os.getpid() != self._pid:
            self._reset()
        start = False
        with self._cond:
            worker = self._take_idle()
            if worker is None:
                self._queue.append(conversation)
                start = self._claim_start()
            else:
                self._busy[worker] = conversation
                self._queue.served(conversation.owner)
        if worker is not None:
            self._begin(conversation, worker)
            return
        patience = self._wait_timeout + (self._start_timeout if start else 0)
        conversation.timer = conversation.loop.call_later(patience, self._expire, conversation)
        if start:
            self._start_in_background()

    def _start_in_background(self) -> None:
        """Start a worker in a thread for the queue (``_starting`` already counts it)."""
        threading.Thread(
            target=self._start_one, name="pressline-template-start", daemon=True
        ).start()

    def _start_one(self) -> None:
        try:
            worker = WorkerProcess.start(self._start_timeout)
        except RendererUnavailable as exc:
            with self._cond:
                self._starting -= 1
                waiting = self._queue.drain()  # what cannot start now would not for the others
                self._cond.notify()
            for conversation in waiting:
                _call_on_loop(conversation.loop, self._fail, conversation, exc)
            return
        with self._cond:
            self._starting -= 1
            self._workers.add(worker)
        self._release(worker, reusable=True)

    def _begin(self, conversation: _Conversation, worker: WorkerProcess) -> None:
        """Send the job to ``worker`` and watch for its answer (on the render's loop)."""
        if conversation.timer is not None:
            conversation.timer.cancel()
        if conversation.future.done():  # cancelled or timed out while being handed over
            with self._cond:
                self._busy.pop(worker, None)
            self._release(worker, reusable=True)
            return
        loop = conversation.loop
        conversation.worker = worker
        conversation.timer = loop.call_later(
            conversation.job.limits.time_seconds, self._overrun, conversation
        )
        loop.add_reader(worker.fd, self._readable, conversation)
        self._send(conversation, conversation.job)

    def _send(self, conversation: _Conversation, message: object) -> None:
        worker = conversation.worker
        if worker is None:  # ended meanwhile
            return
        try:
            frame = worker.frame(message)
        except Exception as exc:  # e.g. variables that cannot be pickled
            self._end(conversation, exc, reusable=message is conversation.job)
            return
        try:
            conversation.outbox = worker.write(frame)
        except Stopped:
            self._end(conversation, _stopped(conversation.job), reusable=False)
            return
        if conversation.outbox:
            conversation.loop.add_writer(worker.fd, self._writable, conversation)

    def _writable(self, conversation: _Conversation) -> None:
        worker = conversation.worker
        if worker is None:
            return
        try:
            conversation.outbox = worker.write(conversation.outbox)
        except Stopped:
            self._end(conversation, _stopped(conversation.job), reusable=False)
            return
        if not conversation.outbox:
            conversation.loop.remove_writer(worker.fd)

    def _readable(self, conversation: _Conversation) -> None:
        job = conversation.job
        try:
            while (worker := conversation.worker) is not None:
                if (message := worker.take(job.limits.output_bytes)) is None:
                    worker.fill()
                    if (message := worker.take(job.limits.output_bytes)) is None:
                        return
                header, body = message
                if header.get("t") == "need":
                    self._send(conversation, conversation.lookups.table(str(header.get("table"))))
                    continue
                reusable = _reusable(header, worker)
                try:
                    result: bytes | TemplateError = _answer(header, body, job.template)
                except TemplateError as exc:
                    result = exc
                self._end(conversation, result, reusable=reusable)
        except Stopped:
            self._end(conversation, _stopped(job), reusable=False)
        except Exception:  # a bug here must not leave the render hanging
            log.exception("reading a template worker's answer failed")
            self._end(conversation, _stopped(job), reusable=False)

    def _overrun(self, conversation: _Conversation) -> None:
        self._end(conversation, _overran(conversation.job), reusable=False)

    def _end(
        self, conversation: _Conversation, outcome: bytes | Exception, *, reusable: bool
    ) -> None:
        """Stop watching the worker, give it back (or end it), then answer the render."""
        worker, conversation.worker = conversation.worker, None
        if worker is None:
            return
        loop = conversation.loop
        loop.remove_reader(worker.fd)
        if conversation.outbox:
            loop.remove_writer(worker.fd)
            conversation.outbox = _NOTHING
        if conversation.timer is not None:
            conversation.timer.cancel()
            conversation.timer = None
        with self._cond:
            self._busy.pop(worker, None)
        self._release(worker, reusable=reusable, wait=False)  # the next render starts now
        if not conversation.future.done():
            if isinstance(outcome, Exception):
                conversation.future.set_exception(outcome)
            else:
                conversation.future.set_result(outcome)

    def _expire(self, conversation: _Conversation) -> None:
        """No worker came within ``wait_timeout``."""
        with self._cond:
            try:
                self._queue.remove(conversation)
            except ValueError:
                return  # handed a worker meanwhile
        self._fail(conversation, _all_busy())

    def _fail(self, conversation: _Conversation, error: Exception) -> None:
        if conversation.timer is not None:
            conversation.timer.cancel()
            conversation.timer = None
        if not conversation.future.done():
            conversation.future.set_exception(error)


def _call_on_loop(loop: asyncio.AbstractEventLoop, callback: Any, *args: object) -> bool:
    """Run ``callback(*args)`` on ``loop``'s thread: now if this is it. False if it closed."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback(*args)
        return True
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        return False
    return True


def _job(
    template: TemplateSource,
    payload: bytes | Mapping[str, Any],
    lookups: LookupResolver,
    limits: Limits,
    variables: Mapping[str, Any] | None,
) -> Job:
    if isinstance(payload, bytes) and len(payload) > limits.input_bytes:
        raise TemplateLimitExceeded(
            template, f"the input is {len(payload)} bytes; the limit is {limits.input_bytes}"
        )
    fingerprints = dict(lookups.fingerprints())
    return Job(template, payload, dict(variables or {}), limits, fingerprints)


def _parse_output(template: TemplateSource, body: bytes) -> JsonValue:
    try:
        return parse(body, template.output_format)
    except PayloadError as exc:
        raise TemplateOutputInvalid(template, f"the output is {exc}", output=body) from None


def _reusable(header: Mapping[str, Any], worker: WorkerProcess) -> bool:
    """A worker that asked to retire, or sent more than it was asked for, is not."""
    return not header.get("bye", False) and not worker.inbox


def _answer(header: Mapping[str, Any], body: bytes, template: TemplateSource) -> bytes:
    if header.get("t") == "ok":
        return body
    raise _template_error(header, template)


def _template_error(header: Mapping[str, Any], template: TemplateSource) -> Exception:
    error = _ERRORS.get(str(header.get("kind")))
    line = header.get("line")
    if error is None or not isinstance(line, int | None):
        return Stopped("an unknown error kind")
    return error(template, str(header.get("message", ""))[:1000], line=line)


def _overran(job: Job) -> TemplateLimitExceeded:
    seconds = f"{job.limits.time_seconds:g}"
    return TemplateLimitExceeded(job.template, f"rendering took longer than {seconds} s")


def _stopped(job: Job) -> TemplateLimitExceeded:
    return TemplateLimitExceeded(job.template, "the renderer stopped while rendering this template")


def _all_busy() -> RendererUnavailable:
    return RendererUnavailable("Every template worker is busy; retry shortly.")


def _shut_down() -> RendererUnavailable:
    return RendererUnavailable("The template renderer is shut down.")
