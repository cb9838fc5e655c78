"""The databases, Redis and API caller a soak or crash run works with; all stopped at the end.

SQLite: a fresh file in the run's directory. PostgreSQL: a database in a throwaway
cluster (``tests/support/pgcluster.py``, started once per run and only if needed), or
in a server the operator names with ``--postgres-url``. Redis, when asked for, is a
throwaway ``redis-server`` (``tests/support/redisserver.py``) or the operator's own
(``--redis-url``). Each run's caller is a
fresh customer with one connector and key, made with the project's own account service.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.pgcluster import PostgresCluster
from tests.support.redisserver import RedisServer

from pressline.accounts import service as accounts
from pressline.db import Database, utcnow
from pressline.migrate import upgrade

BACKENDS = ("sqlite", "postgres")


def backends(choice: str) -> list[str]:
    """``sqlite``, ``postgres`` or ``both``: the backends to run, in that order."""
    return list(BACKENDS) if choice == "both" else [choice]


@dataclass(frozen=True, slots=True)
class Caller:
    """A connector on a fresh customer: the URL prefix and the ``X-API-KEY`` value."""

    customer: str
    prefix: str
    api_key: str

    @property
    def base(self) -> str:
        return f"/api/{self.prefix}"


def prepare(database_url: str, label: str) -> Caller:
    """Migrate the database (the server would too) and create the run's customer and key."""
    suffix = secrets.token_hex(4)
    customer, prefix = f"{label}-customer-{suffix}", f"{label}-{suffix}"
    db = Database(database_url)
    try:
        upgrade(db.write_engine)
        with db.transaction() as conn:
            accounts.create_customer(conn, reference_id=customer, name=customer, now=utcnow())
            created = accounts.create_connector(
                conn, customer_reference_id=customer, prefix=prefix, name=label, now=utcnow()
            )
    finally:
        db.close()
    return Caller(customer, prefix, created.key.header_value)


class Stack:
    """What a run needs besides the server, started on first use and stopped on exit."""

    def __init__(
        self,
        workdir: Path,
        *,
        postgres_url: str | None = None,
        redis: bool = False,
        redis_url: str | None = None,
    ) -> None:
        self.workdir = workdir
        self._postgres_url = postgres_url
        self._want_redis = redis
        self._given_redis_url = redis_url
        self._exits = ExitStack()
        self._cluster: PostgresCluster | None = None
        self._redis: RedisServer | None = None

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exits.close()

    def database_url(self, backend: str, name: str) -> str:
        """A fresh, empty database called ``name`` (the operator's own, if one was given)."""
        if backend == "sqlite":
            return f"sqlite:///{self.workdir / f'{name}.db'}"
        if self._postgres_url is not None:
            url, self._postgres_url = self._postgres_url, None  # usable once: it is not fresh
            return url
        if self._cluster is None:
            self._cluster = self._exits.enter_context(PostgresCluster(self.workdir / "postgres"))
        return self._cluster.create_database(name)

    def redis_url(self) -> str | None:
        """The Redis the run was given, or a throwaway one if it asked for one, or None."""
        if self._given_redis_url is not None:
            return self._given_redis_url
        if not self._want_redis:
            return None
        if self._redis is None:
            self._redis = self._exits.enter_context(RedisServer(self.workdir / "redis"))
        return self._redis.url


def run_each_backend(
    args: argparse.Namespace,
    *,
    prefix: str,
    run_backend: Callable[[str, argparse.Namespace, Stack], dict[str, Any]],
    report: Callable[[list[dict[str, Any]]], None],
    errors: tuple[type[Exception], ...],
) -> int:
    """Run ``run_backend`` on every chosen backend inside one throwaway stack, print the
    report, write ``--json``; the exit status: 0 all passed, 1 a check failed, 2 the
    run could not start (``errors``), 130 interrupted."""
    results: list[dict[str, Any]] = []
    status = 0
    try:
        with (
            tempfile.TemporaryDirectory(prefix=prefix) as tmp,
            Stack(
                Path(tmp),
                postgres_url=args.postgres_url,
                redis=args.redis,
                redis_url=args.redis_url,
            ) as run,
        ):
            for backend in backends(args.backend):
                results.append(run_backend(backend, args, run))
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped", file=sys.stderr)
        status = 130
    report(results)
    if args.json is not None:
        args.json.write_text(json.dumps({"results": results}, indent=2) + "\n")
    if status:
        return status
    return 0 if all(result["passed"] for result in results) else 1
