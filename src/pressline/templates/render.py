"""The one renderer: every template type, customer format in or out, in a sandbox.

A template is customer-written code, so it runs where it cannot hurt the server:
Jinja's immutable sandbox (``filters.Sandbox``) inside a small pool of worker
processes. The sandbox refuses escapes and size bombs with a clear error; the
process boundary makes the limits hard ones. A worker has an address-space limit
per render (a template that allocates too much gets ``MemoryError`` and the worker
retires), and the parent kills and replaces any worker that overruns the render's
wall time, which no in-process check can do for a loop in C.

Parent and worker speak over a socket: the parent sends pickled jobs (it trusts
itself); the worker answers with small JSON headers and raw output bytes, never a
pickle, so even a worker taken over by a sandbox escape could not run code in the
server. The parent parses the output itself, under the output size limit.

::

    ValidationFailed (pressline.errors)
    └── TemplateError               syntax, undefined variable, type error, ...
        ├── TemplateForbidden       an escape attempt, include/import/extends
        ├── TemplateLimitExceeded   time, memory, output, input, huge operation
        ├── TemplateInputInvalid    the payload is not the template's input format
        ├── TemplateOutputInvalid   the output is not well-formed JSON or XML
        └── LookupNotFound          a strict lookups() miss, or an unknown table
    DomainError
    └── RendererUnavailable         no worker could be started or freed in time
"""

from __future__ import annotations

import atexit
import json
import math
import os
import pickle
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import jinja2
from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError

from pressline.errors import FieldError, ServiceUnavailable, ValidationFailed
from pressline.templates.filters import Sandbox, TemplateLimit
from pressline.templates.formats import Format, JsonValue, PayloadError, parse
from pressline.templates.lookups import (
    NO_LOOKUPS,
    LookupFailed,
    LookupResolver,
    LookupTable,
    lookup_function,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    ModelT = TypeVar("ModelT", bound=BaseModel)

MiB = 1 << 20
MAX_SOURCE_CHARS = 256 * 1024


class TemplateType(StrEnum):
    ORDER_SUBMIT_REQUEST = "order_submit_request"
    CANCEL_REQUEST = "cancel_request"
    SUBMIT_RESPONSE = "submit_response"
    CANCEL_RESPONSE = "cancel_response"
    WEBHOOK_BODY = "webhook_body"
    EMAIL_BODY = "email_body"

    @property
    def is_request(self) -> bool:
        """Customer format → canonical request; its output is validated like a request."""
        return self in (TemplateType.ORDER_SUBMIT_REQUEST, TemplateType.CANCEL_REQUEST)

    @property
    def output_noun(self) -> str:
        return {
            TemplateType.ORDER_SUBMIT_REQUEST: "order",
            TemplateType.CANCEL_REQUEST: "cancel request",
        }.get(self, "body")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one render may use. Memory is counted above the worker's own footprint."""

    time_seconds: float = 1.0
    memory_bytes: int = 64 * MiB
    output_bytes: int = 1 * MiB
    input_bytes: int = 1 * MiB

    def __reduce__(self) -> tuple[type[Limits], tuple[float, int, int, int]]:
        # Pickled for every job: positional fields are cheaper than dataclass state.
        return Limits, (self.time_seconds, self.memory_bytes, self.output_bytes, self.input_bytes)

    def __post_init__(self) -> None:
        if not (0 < self.time_seconds <= 60 and self.memory_bytes >= 16 * MiB):
            raise ValueError("time_seconds must be in (0, 60] and memory_bytes at least 16 MiB")
        if self.output_bytes < 1 or self.input_bytes < 1:
            raise ValueError("output_bytes and input_bytes must be positive")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """One version of a customer's template, as stored (enum fields accept their values)."""

    name: str
    version: int
    type: TemplateType
    input_format: Format
    output_format: Format
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", TemplateType(self.type))
        object.__setattr__(self, "input_format", Format(self.input_format))
        object.__setattr__(self, "output_format", Format(self.output_format))
        if self.type.is_request and self.output_format is not Format.JSON:
            raise ValueError(f"a {self.type} template must output JSON (the canonical request)")
        if self.version < 1:
            raise ValueError("template versions start at 1")
        if len(self.source) > MAX_SOURCE_CHARS:
            raise ValueError(f"a template is at most {MAX_SOURCE_CHARS} characters")

    def __reduce__(
        self,
    ) -> tuple[Callable[..., TemplateSource], tuple[str, int, str, str, str, str]]:
        fields = (self.type.value, self.input_format.value, self.output_format.value)
        return TemplateSource, (self.name, self.version, *fields, self.source)

    @property
    def label(self) -> str:
        return f"Template '{self.name}' v{self.version}"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A render's output: the bytes to send or validate, and the parsed value."""

    template: TemplateSource
    body: bytes
    value: JsonValue
    elapsed_seconds: float

    @property
    def media_type(self) -> str:
        return self.template.output_format.media_type


# --- errors ----------------------------------------------------------------------------


class TemplateError(ValidationFailed):
    """A template that could not produce its output; names the template and its line."""

    code = "template_error"

    def __init__(self, template: TemplateSource, detail: str, *, line: int | None = None) -> None:
        self.template_name = template.name
        self.template_version = template.version
        self.template_type = template.type
        self.line = line
        self.detail = detail
        where = f", line {line}" if line else ""
        message = f"{template.label}{where}: {detail}"
        super().__init__([FieldError(self.code, None, message)], summary=message)


class TemplateForbidden(TemplateError):
    code = "template_forbidden"


class TemplateLimitExceeded(TemplateError):
    code = "template_limit_exceeded"


class TemplateInputInvalid(TemplateError):
    code = "template_input_invalid"


class TemplateOutputInvalid(TemplateError):
    code = "template_output_invalid"


class LookupNotFound(TemplateError):
    code = "lookup_not_found"


class RendererUnavailable(ServiceUnavailable):
    code = "renderer_unavailable"
    default_message = "Templates cannot be rendered right now; retry shortly."


_ERRORS: dict[str, type[TemplateError]] = {
    "syntax": TemplateError,
    "runtime": TemplateError,
    "forbidden": TemplateForbidden,
    "limit": TemplateLimitExceeded,
    "input": TemplateInputInvalid,
    "output": TemplateOutputInvalid,
    "lookup": LookupNotFound,
}


# --- the parent's side -----------------------------------------------------------------


class _Job(NamedTuple):
    template: TemplateSource
    payload: bytes | Mapping[str, Any] | None
    variables: Mapping[str, Any]
    limits: Limits
    fingerprints: Mapping[str, str]
    check_only: bool = False


_BOOT_CODE = (
    "import sys; from pressline.templates.render import serve_worker; "
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
        job = _Job(template, payload, dict(variables or {}), limits, fingerprints)
        body = self._run(job, lookups)
        try:
            value = parse(body, template.output_format)
        except PayloadError as exc:
            raise TemplateOutputInvalid(template, f"the output is {exc}") from None
        return Rendered(template, body, value, time.monotonic() - started)

    def check(self, template: TemplateSource, *, limits: Limits = DEFAULT_LIMITS) -> None:
        """Compile ``template`` without rendering: its syntax errors and refused tags."""
        self._run(_Job(template, None, {}, limits, {}, check_only=True), NO_LOOKUPS)

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

    def _run(self, job: _Job, lookups: LookupResolver) -> bytes:
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


_default_pool: RenderPool | None = None
_default_lock = threading.Lock()


def default_pool() -> RenderPool:
    """The process-wide pool ``render`` and ``check_template`` use."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = RenderPool()
            atexit.register(_default_pool.close)
        return _default_pool


def render(
    template: TemplateSource,
    payload: bytes | Mapping[str, Any],
    *,
    lookups: LookupResolver = NO_LOOKUPS,
    limits: Limits = DEFAULT_LIMITS,
    variables: Mapping[str, Any] | None = None,
) -> Rendered:
    """Render ``template`` over ``payload`` in the default pool (see ``RenderPool.render``)."""
    return default_pool().render(
        template, payload, lookups=lookups, limits=limits, variables=variables
    )


def check_template(template: TemplateSource, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise ``TemplateError`` (with its line) if ``template`` does not compile."""
    default_pool().check(template, limits=limits)


def validate_output(rendered: Rendered, model: type[ModelT]) -> ModelT:
    """The output as ``model`` (e.g. ``OrderCreate``), or the usual ``ValidationFailed``.

    Each error keeps the canonical ``param`` (``items[0].productUid``); the message
    names the template, since the client never wrote those fields itself.
    """
    from pydantic import ValidationError

    from pressline.web import field_errors  # the one pydantic → FieldError mapping

    try:
        if rendered.template.output_format is Format.JSON:
            return model.model_validate_json(rendered.body)
        return model.model_validate(rendered.value)
    except ValidationError as exc:
        errors = field_errors(exc)
    first, template = errors[0], rendered.template
    where = f"{first.param}: " if first.param else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise ValidationFailed(
        errors,
        summary=f"{template.label} produced an invalid {template.type.output_noun}: "
        f"{where}{first.message}{more}",
    )


# --- the worker's side -----------------------------------------------------------------


def serve_worker(fd: int) -> None:
    """A worker process's main loop: one job at a time until the parent hangs up."""
    conn = Connection(fd)
    worker = _WorkerState(conn)
    threading.Thread(target=worker.watch, args=(os.getppid(),), daemon=True).start()
    conn.send_bytes(b'{"t":"ready"}\n')
    while True:
        try:
            job = pickle.loads(conn.recv_bytes())  # noqa: S301 - from the parent that started us
        except (EOFError, OSError):
            return
        header, body = worker.handle(job)
        conn.send_bytes(json.dumps(header).encode() + b"\n" + body)
        if header.get("bye"):
            return


class _Refused(Exception):
    def __init__(self, message: str, lineno: int) -> None:
        super().__init__(message)
        self.lineno = lineno


class _WorkerState:
    """Compiled templates and lookup tables a worker keeps between jobs."""

    _LOADING = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sandboxes = {fmt: Sandbox(autoescape=fmt is Format.XML) for fmt in Format}
        self.templates: OrderedDict[tuple[str, int, Format, str], Template] = OrderedDict()
        self.tables: OrderedDict[str, LookupTable] = OrderedDict()
        self.job_started: float | None = None
        self.job_seconds = 1.0
        self.memory = _AddressSpace()

    def watch(self, parent: int) -> None:
        """Exit if the parent is gone or a job runs far past its limit (parent stuck)."""
        while True:
            time.sleep(0.2)
            started = self.job_started
            overdue = started is not None and time.monotonic() - started > 2 * self.job_seconds + 1
            if os.getppid() != parent or overdue:
                os._exit(3)

    def handle(self, job: _Job) -> tuple[dict[str, Any], bytes]:
        self.job_seconds, self.job_started = job.limits.time_seconds, time.monotonic()
        self.memory.limit(job.limits.memory_bytes)
        try:
            return {"t": "ok"}, self._run(job)
        except Exception as exc:  # every failure goes back to the parent as a header
            self.memory.lift()
            kind, message = _classify(exc, job.limits)
            line = getattr(exc, "lineno", None) if kind in ("syntax", "forbidden") else None
            return {
                "t": "err",
                "kind": kind,
                "message": message[:1000],
                "line": line if isinstance(line, int) else _template_line(exc),
                "bye": isinstance(exc, MemoryError),  # a fresh process, not a fragmented one
            }, b""
        finally:
            self.memory.lift()
            self.job_started = None

    def _run(self, job: _Job) -> bytes:
        template = self._compiled(job.template)
        if job.check_only:
            return b""
        payload = job.payload
        data = parse(payload, job.template.input_format) if isinstance(payload, bytes) else payload
        context: dict[str, Any] = dict(data) if isinstance(data, Mapping) else {}
        context.update(job.variables)
        context["payload"] = data
        context["lookups"] = lookup_function(lambda name: self._table(name, job.fingerprints))
        self.sandboxes[job.template.output_format].max_size = job.limits.output_bytes
        return _generate(template, context, job.limits.output_bytes)

    def _compiled(self, source: TemplateSource) -> Template:
        key = (source.name, source.version, source.output_format, source.source)
        template = self.templates.get(key)
        if template is None:
            sandbox = self.sandboxes[source.output_format]
            tree = sandbox.parse(source.source)
            for node in tree.find_all(self._LOADING):
                tag = type(node).__name__.lower().replace("fromimport", "from … import")
                message = f"{{% {tag} %}} is not available: a template stands alone"
                raise _Refused(message, node.lineno)
            template = sandbox.from_string(tree)
            self.templates[key] = template
            if len(self.templates) > 64:
                self.templates.popitem(last=False)
        self.templates.move_to_end(key)
        return template

    def _table(self, name: str, fingerprints: Mapping[str, str]) -> LookupTable | None:
        fingerprint = fingerprints.get(name)
        if fingerprint is None:
            return None
        table = self.tables.get(fingerprint)
        if table is None:
            self.conn.send_bytes(json.dumps({"t": "need", "table": name}).encode() + b"\n")
            table = pickle.loads(self.conn.recv_bytes())  # noqa: S301 - from the parent
            if not isinstance(table, LookupTable):
                return None
            self.tables[fingerprint] = table
            if len(self.tables) > 32:
                self.tables.popitem(last=False)
        self.tables.move_to_end(fingerprint)
        return table


def _generate(template: Template, context: dict[str, Any], limit: int) -> bytes:
    """The output, stopped as soon as it grows past ``limit``."""
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > limit:
            raise TemplateLimit(f"the output is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    body = "".join(chunks).encode()
    if len(body) > limit:
        raise TemplateLimit(f"the output is larger than the limit of {limit} bytes")
    return body


def _classify(exc: Exception, limits: Limits) -> tuple[str, str]:
    """The error kind the parent turns into a ``TemplateError`` subclass, and its text."""
    if isinstance(exc, TemplateLimit | OverflowError):
        return "limit", str(exc)
    if isinstance(exc, MemoryError):
        return "limit", f"the template needed more than {limits.memory_bytes // MiB} MiB of memory"
    if isinstance(exc, RecursionError):
        return "limit", "recursion too deep (a macro that calls itself without end?)"
    if isinstance(exc, SecurityError | _Refused):
        return "forbidden", str(exc)
    if isinstance(exc, LookupFailed):
        return "lookup", str(exc)
    if isinstance(exc, PayloadError):
        return "input", f"the input is {exc}"
    if isinstance(exc, UnicodeEncodeError):
        return "output", "the output contains a character that is not valid Unicode"
    if isinstance(exc, TemplateSyntaxError):
        return "syntax", f"syntax error: {exc.message}"
    if isinstance(exc, jinja2.TemplateError):
        return "runtime", str(exc.message)
    return "runtime", f"{type(exc).__name__}: {exc}"


def _template_line(exc: BaseException) -> int | None:
    """The deepest template line in the traceback (Jinja rewrites frames to template lines)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _AddressSpace:
    """The worker's address-space limit: its size when a job starts, plus the job's share."""

    def __init__(self) -> None:
        self.enabled = sys.platform == "linux"  # RLIMIT_AS is only dependable there
        self.statm = os.open("/proc/self/statm", os.O_RDONLY) if self.enabled else -1
        self.page = os.sysconf("SC_PAGE_SIZE") if self.enabled else 0
        self.hard = resource.getrlimit(resource.RLIMIT_AS)[1] if self.enabled else 0
        self.limited = False

    def limit(self, extra: int) -> None:
        if self.enabled:
            soft = int(os.pread(self.statm, 64, 0).split()[0]) * self.page + extra
            if self.hard != resource.RLIM_INFINITY:
                soft = min(soft, self.hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, self.hard))
            self.limited = True

    def lift(self) -> None:
        if self.limited:
            resource.setrlimit(resource.RLIMIT_AS, (self.hard, self.hard))
            self.limited = False
