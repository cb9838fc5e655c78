"""Seeded databases for a run, built once and cached under bench/.cache/.

SQLite: the seeded file is cached and copied into the run's temporary directory
(the run's submits never touch the cache). PostgreSQL: a throwaway cluster
(tests/support/pgcluster.py) is started for the run; the seeded database is
cached as a ``pg_dump`` archive and restored into it, then vacuumed and analysed
as autovacuum would have done on a live server.

A cache entry is named after the backend, the order count, the schema's Alembic
head and :data:`bench.seed.SEED_VERSION`, so a new migration or a new data shape
seeds afresh.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from tests.support.pgcluster import PostgresCluster, find_bindir

from bench.report import note
from bench.seed import SEED_VERSION, seed
from pressline.db import Database
from pressline.migrate import alembic_config, upgrade

PG_DATABASE = "pressline_bench"


@dataclass(frozen=True, slots=True)
class SeedInfo:
    """Stored next to a cached database (``<key>.json``)."""

    bench_orders: int
    total_orders: int
    seeded_at: str
    seed_seconds: float


@dataclass(frozen=True, slots=True)
class Dataset:
    """A seeded database ready to serve: its URL and what is in it."""

    url: str
    info: SeedInfo
    from_cache: bool
    prepare_seconds: float

    @property
    def seeded_at(self) -> datetime:
        return datetime.fromisoformat(self.info.seeded_at)


def _cache_key(backend: str, count: int) -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return f"{backend}-{count}-{head}-s{SEED_VERSION}"


def _seed_into(url: str, count: int) -> SeedInfo:
    note(f"seeding {count:,} orders for the benchmark customer (cached afterwards)…")
    db = Database(url)
    try:
        upgrade(db.write_engine)
        result = seed(db, count, now=datetime.now(UTC))
    finally:
        db.close()
    note(f"seeding took {result.seconds:.0f} s ({result.total_orders:,} orders in all)")
    return SeedInfo(
        result.bench_orders, result.total_orders, result.seeded_at.isoformat(), result.seconds
    )


def _read_info(meta: Path) -> SeedInfo | None:
    try:
        return SeedInfo(**json.loads(meta.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_info(meta: Path, info: SeedInfo) -> None:
    meta.write_text(json.dumps(asdict(info), indent=2) + "\n")


@contextmanager
def sqlite_dataset(workdir: Path, count: int, cache_dir: Path) -> Iterator[Dataset]:
    """A private copy of the cached seeded SQLite file (seeding it first if needed)."""
    began = time.monotonic()
    key = _cache_key("sqlite", count)
    cached, meta = cache_dir / f"{key}.db", cache_dir / f"{key}.json"
    info = _read_info(meta) if cached.exists() else None
    from_cache = info is not None
    if info is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        building = cache_dir / f"{key}.db.partial"
        for stale in cache_dir.glob(f"{key}.db.partial*"):
            stale.unlink()
        info = _seed_into(f"sqlite:///{building}", count)
        with closing(sqlite3.connect(building)) as conn:  # fold the WAL into the main file
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        building.replace(cached)
        _write_info(meta, info)
    target = workdir / "pressline.db"
    shutil.copyfile(cached, target)
    yield Dataset(f"sqlite:///{target}", info, from_cache, time.monotonic() - began)


def _pg_tool(tool: str, url: str, *args: str) -> None:
    sa_url = make_url(url)
    command = [
        str(find_bindir() / tool),
        f"--host={sa_url.host}",
        f"--port={sa_url.port}",
        f"--username={sa_url.username}",
        f"--dbname={sa_url.database}",
        *args,
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def _vacuum_analyze(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


@contextmanager
def postgres_dataset(workdir: Path, count: int, cache_dir: Path) -> Iterator[Dataset]:
    """A throwaway PostgreSQL cluster holding the seeded database (restored from the cache)."""
    began = time.monotonic()
    key = _cache_key("postgres", count)
    cached, meta = cache_dir / f"{key}.dump", cache_dir / f"{key}.json"
    with PostgresCluster(workdir / "postgres") as cluster:
        url = cluster.create_database(PG_DATABASE)
        info = _read_info(meta) if cached.exists() else None
        from_cache = info is not None
        if info is None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            info = _seed_into(url, count)
            building = cache_dir / f"{key}.dump.partial"
            _pg_tool("pg_dump", url, "--format=custom", "--compress=1", f"--file={building}")
            building.replace(cached)
            _write_info(meta, info)
        else:
            note(f"restoring {cached.name} …")
            _pg_tool("pg_restore", url, "--jobs=2", "--no-owner", "--no-privileges", str(cached))
        _vacuum_analyze(url)
        yield Dataset(url, info, from_cache, time.monotonic() - began)


def dataset(
    backend: str, workdir: Path, count: int, cache_dir: Path
) -> AbstractContextManager[Dataset]:
    """The seeded database for ``backend`` ("sqlite" or "postgres") for the ``with`` block."""
    if backend == "sqlite":
        return sqlite_dataset(workdir, count, cache_dir)
    return postgres_dataset(workdir, count, cache_dir)
