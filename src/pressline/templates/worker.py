"""The worker process's side: one job at a time, rendered in the sandbox.

A template is customer-written code, so it runs here rather than in the server:
Jinja's immutable sandbox (``filters.Sandbox``) refuses escapes and size bombs with a
clear error, and the address-space limit per render turns a template that allocates
too much into ``MemoryError`` (after which the worker retires). The worker answers
the parent with small JSON headers and raw output bytes, never a pickle.

The parent starts workers with ``python -c`` importing ``serve_worker`` from this
module by its path (``channel._BOOT_CODE``): keep both in step if this module moves.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import jinja2
from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError

from pressline.templates.filters import Sandbox, TemplateLimit
from pressline.templates.formats import Format, PayloadError, parse
from pressline.templates.lookups import LookupFailed, LookupTable, lookup_function
from pressline.templates.model import Limits, MiB, TemplateSource


class Job(NamedTuple):
    """One render (or compile-only check) the parent sends a worker, pickled."""

    template: TemplateSource
    payload: bytes | Mapping[str, Any] | None
    variables: Mapping[str, Any]
    limits: Limits
    fingerprints: Mapping[str, str]
    check_only: bool = False


def serve_worker(fd: int) -> None:
    """A worker process's main loop: one job at a time until the parent hangs up."""
    conn = Connection(fd)
    _yield_to_the_server()
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


def _yield_to_the_server() -> None:
    """Run as a batch process (Linux): a job arriving never pre-empts the server.

    Woken by a job, a normal process may take the CPU from the server that sent it,
    which then waits out the render instead of serving other requests. A batch one
    runs on an idle CPU at once, or when the server's time slice ends: the server
    keeps its requests moving, and the render's wall-time limit is unchanged.
    """
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


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

    def handle(self, job: Job) -> tuple[dict[str, Any], bytes]:
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

    def _run(self, job: Job) -> bytes:
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
