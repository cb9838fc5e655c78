"""Engines, table metadata and the transaction boundary.

Database code is synchronous SQLAlchemy Core everywhere (docs/adr/0001). The async
HTTP edge reaches it through :class:`Database`:

* ``await db.read(fn)`` runs ``fn(conn)`` with an autocommit connection (each statement
  one round trip, no BEGIN/ROLLBACK, no pre-ping): on SQLite on the event loop, on
  PostgreSQL on one of the ``read_pool_size`` reader threads.
* ``await db.write(fn)`` queues ``fn`` for the single writer thread, which commits
  concurrent writes together (group commit) and answers each caller only after
  its commit: a 2xx is never sent for an uncommitted order (reliability.md 19).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

import orjson
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    Row,
    Table,
    bindparam,
    create_engine,
    event,
    update,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from pressline.errors import DomainError
from pressline.files import create_private, private_dir

if TYPE_CHECKING:
    from pressline.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A result row whatever its columns (repositories document what they select).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; UTC on disk (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _AsText(FunctionElement[str]):
    """The column wrapped for reading as text; its type (``type_``) reads the result."""

    inherit_cache = True

    def __init__(self, column: Any, *, type_: TypeEngine[str]) -> None:
        super().__init__(column)
        self.type = type_


class _iso_text(_AsText):
    name = "iso_text"
    inherit_cache = True


class _uuid_text(_AsText):
    name = "uuid_text"
    inherit_cache = True


@compiles(_iso_text)
@compiles(_uuid_text)
def _as_stored(element: FunctionElement[str], compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_iso_text, "postgresql")
def _iso_text_postgresql(element: _iso_text, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')"""


@compiles(_uuid_text, "postgresql")
def _uuid_text_postgresql(element: _uuid_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


class _ReadAsText(UserDefinedType[str]):
    """A column read as the text Pressline answers with, with no Python object in between.
    For reading only: ``type_coerce(column, …)`` in a select. PostgreSQL writes the text
    itself (``_sql``, through ``column_expression``: SQLAlchemy applies it to the outermost
    select only, so subqueries still sort and compare the column itself), and the value
    is used as the driver gives it. SQLite's stored text is reshaped in Python
    (``_from_sqlite``), which measured cheaper there than any SQLite function.

    A plain type rather than a ``TypeDecorator``: a search page reads up to 200 of these
    values, and the decorator's two calls per value (its own processor, then
    ``process_result_value``) were most of their cost."""

    cache_ok = True
    _sql: type[_AsText]
    _from_sqlite: Callable[[str], str]

    def get_col_spec(self, **kw: Any) -> str:
        return "TEXT"  # never used in a table: these types only read

    def column_expression(self, colexpr: Any) -> Any:
        return self._sql(colexpr, type_=self)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], str | None] | None:
        if dialect.name != "sqlite":
            return None  # the database wrote the text
        reshape = self._from_sqlite
        return lambda value: None if value is None else reshape(value)


class IsoText(_ReadAsText):
    """A :class:`UTCDateTime` column as text to the second (``2026-01-02T03:04:05+00:00``):
    a search page has up to 300 of them, and parsing, converting and formatting each was
    a tenth of the search's time on SQLite."""

    cache_ok = True
    _sql = _iso_text

    @staticmethod
    def _from_sqlite(value: str) -> str:
        return f"{value[:10]}T{value[11:19]}+00:00"  # 'YYYY-MM-DD HH:MM:SS.ffffff', UTC


class UuidText(_ReadAsText):
    """A ``Uuid`` column as its canonical text (search's ids only go out as text)."""

    cache_ok = True
    _sql = _uuid_text

    @staticmethod
    def _from_sqlite(value: str) -> str:
        # The 32 hex digits SQLAlchemy's Uuid writes on SQLite, dashed.
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def update_each(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``UPDATE table SET … WHERE id = :target_id`` for every row (its other keys are the
    columns to set), as one executemany per set of columns: one round trip for many rows
    instead of one statement each."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    for params in groups.values():
        conn.execute(_update_by_id(table), params)


@cache
def _update_by_id(table: Table) -> Any:
    return update(table).where(table.c.id == bindparam("target_id"))


#: How long a new PostgreSQL connection may take before the request that needs it is a
#: 503 (a URL's own ``?connect_timeout=`` wins).
CONNECT_TIMEOUT_SECONDS = 10


def create_engines(url: str, *, pool_size: int = 8) -> tuple[Engine, Engine]:
    """The (read, write) engines for ``url``.

    SQLite: the writer begins with BEGIN IMMEDIATE, so a second process (the CLI)
    waits on ``busy_timeout`` instead of failing with "database is locked" halfway
    through a transaction; readers never begin a transaction (WAL gives each
    statement a consistent snapshot).

    PostgreSQL: reads have their own pool of ``pool_size`` connections (up to 2 more),
    in autocommit from the moment each connects, and returned without a rollback (there
    is no transaction to end); writes have a pool of 2 (up to 2 more). A read view of
    one engine (``execution_options(isolation_level=...)``) set autocommit at every
    checkout and unset it at every check-in, then rolled back: ~40 µs of CPU per read,
    a fifth of a key lookup's.
    """
    sa_url = make_url(url)
    common: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        # A failed statement is logged with its error; its bound values (addresses,
        # signing secrets, key hashes) must not be, so SQLAlchemy leaves them out.
        "hide_parameters": True,
    }
    if sa_url.get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = {}
        if sa_url.get_driver_name() == "psycopg":  # the documented driver
            from pressline.pgcursor import Cursor  # imported for PostgreSQL only

            connect_args["cursor_factory"] = Cursor
        if "connect_timeout" not in sa_url.query:
            # libpq waits for ever by default: a server that does not answer (a dropped
            # route, a full backlog) would hold every request that needs a connection.
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        read = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=2,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            connect_args=connect_args,
            **common,
        )
        write = create_engine(url, pool_size=2, max_overflow=2, connect_args=connect_args, **common)
        for engine in (read, write):
            event.listen(engine, "connect", _postgresql_session)
        return read, write
    if sa_url.database and sa_url.database != ":memory:":
        private_dir(Path(sa_url.database).parent)
        create_private(Path(sa_url.database))
    connect_args = {"check_same_thread": False, "timeout": 30}
    read = create_engine(url, pool_size=pool_size, connect_args=connect_args, **common)
    write = create_engine(url, pool_size=1, max_overflow=2, connect_args=connect_args, **common)
    for engine in (read, write):
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(write, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return read, write


def _postgresql_session(dbapi_conn: Any, _record: object) -> None:
    """A 2xx means the order is on disk, whatever the server's or database's default.

    Times come back in UTC: psycopg then gives them Python's own UTC, which
    :class:`UTCDateTime` keeps as they are. In any other session time zone, even
    ``Etc/UTC``, every time read was converted twice (to that zone by psycopg, back to
    UTC by :class:`UTCDateTime`): three per search result.
    """
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True  # a SET inside a transaction is undone by its rollback
    cursor = dbapi_conn.cursor()
    cursor.execute("SET synchronous_commit TO on")
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    dbapi_conn.autocommit = autocommit


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN; the driver must not start its own.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


#: Write jobs of one kind that run together: ``bulk(conn, items)`` answers each item.
Bulk: TypeAlias = Callable[[Connection, list[Any]], list[Any]]


class _Job(Generic[T]):
    """A write job and whoever waits for it: a coroutine on an event loop, or a thread.

    A job of a ``bulk`` kind runs with the other jobs of that kind next to it in its
    batch, in one call; ``fn`` is the same job alone."""

    __slots__ = ("bulk", "fn", "future", "item", "loop")

    def __init__(
        self,
        fn: Callable[[Connection], T],
        loop: asyncio.AbstractEventLoop | None,
        bulk: Bulk | None = None,
        item: Any = None,
    ) -> None:
        self.fn = fn
        self.loop = loop
        self.bulk = bulk
        self.item = item
        self.future: asyncio.Future[T] | concurrent.futures.Future[T] = (
            concurrent.futures.Future() if loop is None else loop.create_future()
        )

    def settle(self, result: T | None = None, error: BaseException | None = None) -> None:
        if self.loop is None:  # a thread waits: a concurrent future is thread-safe
            self._settle(result, error)
            return
        try:
            self.loop.call_soon_threadsafe(self._settle, result, error)
        except RuntimeError:
            # The caller's event loop has closed (its process is shutting down): nobody
            # waits for this answer, and the writer must go on serving the others.
            log.debug("write job settled after its event loop closed")

    def _settle(self, result: T | None, error: BaseException | None) -> None:
        if self.future.done():  # the caller went away (client disconnected)
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)  # type: ignore[arg-type]


class BatchWriter:
    """One thread that runs write jobs and commits many of them together.

    A job is ``fn(conn)``: deterministic given the database and its inputs (ids and
    timestamps are chosen before it is queued), because a batch may be rolled back
    and run again. When a job raises, the whole batch rolls back; that job alone is
    answered with its error (it saw only the effects of the jobs before it, which
    are re-applied identically) and the rest run again. So a failing job never
    leaves partial writes and never costs the others their commit.
    """

    def __init__(self, engine: Engine, *, batch_max: int) -> None:
        self._engine = engine
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pressline-writer", daemon=True)
        self._thread.start()

    async def submit(self, fn: Callable[[Connection], T]) -> T:
        return await self._wait(_Job(fn, asyncio.get_running_loop()))

    async def submit_together(self, bulk: Bulk, item: Any) -> Any:
        def alone(conn: Connection) -> Any:
            (answer,) = bulk(conn, [item])
            return answer

        return await self._wait(_Job(alone, asyncio.get_running_loop(), bulk, item))

    async def _wait(self, job: _Job[T]) -> T:
        self._queue.put(job)
        future = job.future
        assert isinstance(future, asyncio.Future)
        return await future

    def submit_blocking(self, fns: Sequence[Callable[[Connection], T]]) -> list[T]:
        """Run ``fns`` from a plain thread and wait: queued together, they usually share
        a batch (and its commit) with each other and with the API's writes."""
        jobs = [_Job(fn, None) for fn in fns]
        for job in jobs:
            self._queue.put(job)
        return [job.future.result() for job in jobs]

    def close(self) -> None:
        """Finish every queued job, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._batch_max:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._commit(batch)

    def _commit(self, batch: list[_Job[Any]]) -> None:
        reconnected = False
        conflicts = 0
        while batch:
            results: list[Any] = []
            failed_at: int | None = None
            failed_run = 1  # how many jobs ran in the call that failed
            failure: BaseException | None = None
            try:
                with self._engine.begin() as conn:
                    for index, size, run in _runs(batch):
                        try:
                            results.extend(run(conn))
                        except Exception as exc:
                            failed_at, failed_run, failure = index, size, exc
                            raise
            except Exception as exc:
                cause = exc if failed_at is None else failure
                if _transient_conflict(cause) and conflicts < _CONFLICT_RETRIES:
                    # PostgreSQL chose this batch as a deadlock or serialization victim
                    # (other nodes, the worker or the CLI lock the same rows in another
                    # order). Nothing was written and no job is at fault: run the batch
                    # again after a short, growing, jittered pause.
                    conflicts += 1
                    log.warning(
                        "write batch of %d hit %s; retry %d",
                        len(batch),
                        _sqlstate(cause),
                        conflicts,
                    )
                    time.sleep(random.uniform(0.5, 1.0) * 0.01 * 2**conflicts)  # noqa: S311 (jitter)
                    continue
                if failed_at is None:  # BEGIN or COMMIT itself failed: nobody is committed
                    log_failure(log, exc, "write batch of %d failed to commit", len(batch))
                    for job in batch:
                        job.settle(error=exc)
                    return
                if failure is not None and _disconnected(failure) and not reconnected:
                    # The server dropped the connection mid-batch, before COMMIT: nothing
                    # was written, so the whole batch runs again on a fresh connection.
                    reconnected = True
                    continue
                if failed_run > 1:
                    # Jobs that ran together failed together: run those alone, so the
                    # failure is the one job's that causes it, and the others commit.
                    log.warning(
                        "%d write jobs run together failed; running each alone",
                        failed_run,
                        exc_info=failure,
                    )
                    for job in batch[failed_at : failed_at + failed_run]:
                        job.bulk = None
                    continue
                if failure is not None and not isinstance(failure, DomainError):
                    log_failure(log, failure, "write job failed")
                batch[failed_at].settle(error=failure)
                del batch[failed_at]
                continue
            for job, result in zip(batch, results, strict=True):
                job.settle(result)
            return


def _runs(
    batch: Sequence[_Job[Any]],
) -> Iterator[tuple[int, int, Callable[[Connection], list[Any]]]]:
    """The batch as calls, each with the index of its first job and how many it runs: a
    job alone, or the jobs of one ``bulk`` kind that stand next to each other, together."""
    index = 0
    while index < len(batch):
        job = batch[index]
        if job.bulk is None:
            yield index, 1, partial(_alone, job)
            index += 1
            continue
        end = index + 1
        while end < len(batch) and batch[end].bulk == job.bulk:  # == : bound methods too
            end += 1
        yield index, end - index, partial(_together, job.bulk, batch[index:end])
        index = end


def _alone(job: _Job[Any], conn: Connection) -> list[Any]:
    return [job.fn(conn)]


def _together(bulk: Bulk, jobs: Sequence[_Job[Any]], conn: Connection) -> list[Any]:
    answers = bulk(conn, [job.item for job in jobs])
    if len(answers) != len(jobs):
        raise RuntimeError(f"{bulk!r} answered {len(answers)} of {len(jobs)} jobs")
    return answers


def _disconnected(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


#: SQLSTATE classes of a server that cannot serve now: 08 the connection, 53 its
#: resources (too many connections, out of memory or disk), 40 a transaction rolled back
#: (deadlock, serialization: the writer already ran it again a few times).
_PASSING_CLASSES = ("08", "53", "40")
#: Shutting down, crashed, cannot connect now; a statement cancelled (by a timeout), or
#: a lock it could not take at once.
_PASSING_STATES = frozenset({"57P01", "57P02", "57P03", "57014", "55P03"})
#: SQLite's errors that say the file cannot be used right now, not that a statement is
#: wrong (sqlite3 reports both as OperationalError).
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk I/O error")


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or used right now (the server
    down, restarting or out of connections; the pool exhausted; the SQLite file locked or
    unreadable), so that the request may succeed if retried, rather than a fault of
    Pressline's."""
    if isinstance(exc, SQLAlchemyTimeoutError) or _disconnected(exc):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.OperationalError):
        return str(exc.orig).startswith(_SQLITE_UNAVAILABLE)
    # psycopg also files statement faults under OperationalError (a value too large for
    # an index, a statement too complex): those fail the same way every time, so only
    # what the state says is passing is unavailability. No state: no server answered.
    state = _sqlstate(exc)
    return state is None or state.startswith(_PASSING_CLASSES) or state in _PASSING_STATES


def log_failure(logger: logging.Logger, exc: BaseException, message: str, *args: object) -> None:
    """``message`` about ``exc``: one warning line while the database is away for a
    moment (the requests' 503s say so too, every poll may meet it), the traceback for
    anything else."""
    if unavailable(exc):
        logger.warning(message + " (database unavailable: %s)", *args, why(exc))
    else:
        logger.error(message, *args, exc_info=exc)


def why(exc: BaseException) -> str:
    """The first line of what the driver said (SQLAlchemy's own text adds the statement
    and a link): enough for a log line about an unavailable database."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: Deadlock detected, serialization failure: the server rolled the transaction back
#: and running it again is the documented remedy.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
_CONFLICT_RETRIES = 5


def _sqlstate(exc: BaseException | None) -> str | None:
    if not isinstance(exc, DBAPIError):
        return None
    code = getattr(exc.orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def _transient_conflict(exc: BaseException | None) -> bool:
    return _sqlstate(exc) in _TRANSIENT_SQLSTATES


#: For NUL, which PostgreSQL cannot store in a text column (SQLite can): a URL may carry
#: ``%00``, a receiver may answer with one.
NUL_STAND_IN = "\ufffd"


def storable_text(text: str) -> str:
    """``text`` as a text column of either database can hold it (NUL as U+FFFD)."""
    return text.replace("\x00", NUL_STAND_IN)


class Database:
    """The async edge's handle on the database: reads off the loop, one batching writer."""

    def __init__(self, url: str, *, batch_max: int = 64, read_pool_size: int = 8) -> None:
        self.url = url
        self.read_engine, self.write_engine = create_engines(url, pool_size=read_pool_size)
        self._writer = BatchWriter(self.write_engine, batch_max=batch_max)
        # An indexed read of a local SQLite file takes tens of microseconds: cheaper on
        # the event loop than a hop to a thread, which under load costs far more in GIL
        # hand-offs. PostgreSQL reads wait on the network, so they go to our own pool,
        # which close() shuts down (a process never waits on idle reader threads).
        self._readers: ThreadPoolExecutor | None = None
        if self.read_engine.dialect.name != "sqlite":
            self._readers = ThreadPoolExecutor(read_pool_size, thread_name_prefix="pressline-read")

    @classmethod
    def for_process(cls, settings: Settings) -> Database:
        """The database handle of a serving or working process, sized by ``settings``."""
        return cls(
            settings.database_url,
            batch_max=settings.write_batch_max,
            read_pool_size=settings.read_pool_size,
        )

    async def read(self, fn: Callable[[Connection], T]) -> T:
        if self._readers is None:
            return self.read_blocking(fn)
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, self.read_blocking, fn
        )

    def read_blocking(self, fn: Callable[[Connection], T]) -> T:
        """``read`` for a thread that is not the event loop (the worker, the reference
        store's poller): ``fn`` on a read connection, once more on a fresh one if the
        server had dropped the first."""
        # No pre-ping (a round trip per read): a connection the server dropped is found
        # by the read itself, the pool discards it, and the read runs once more.
        try:
            with self.read_engine.connect() as conn:
                return fn(conn)
        except DBAPIError as exc:
            if not _disconnected(exc):
                raise
        with self.read_engine.connect() as conn:
            return fn(conn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        return await self._writer.submit(fn)

    async def write_together(self, bulk: Bulk, item: Any) -> Any:
        """``write`` for jobs of one kind that can run together: the writer hands the
        items of such jobs next to each other in its batch to one call, ``bulk(conn,
        items)``, which answers each in turn (one multi-row statement per table, not
        one per job). If that call raises, the batch runs again with each job alone."""
        return await self._writer.submit_together(bulk, item)

    def write_blocking(self, fns: Sequence[Callable[[Connection], T]]) -> list[T]:
        """``write`` for a thread of this process that is not the event loop (the delivery
        worker inside ``pressline serve``): through the same writer, so on SQLite it
        never waits for the write lock against the API, and its commits are shared."""
        return self._writer.submit_blocking(fns)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A synchronous transaction outside the batching writer (the CLI, start-up, the
        delivery worker's claims and records): commits on success, rolls back on error.
        On SQLite it takes the file's write lock itself, beside the writer; work that
        should share the writer's commits goes through ``write_blocking`` (the timers)."""
        with self.write_engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self._writer.close()
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        self.read_engine.dispose()
        self.write_engine.dispose()
