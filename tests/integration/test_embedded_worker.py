"""The worker inside the application's lifespan, and the setting that turns it off."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.migrate import upgrade
from pressline.postbacks.outbox import enqueue_delivery
from tests.support.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def queue_one(url: str, target: str) -> None:
    database = Database(url)
    try:
        upgrade(database.write_engine)
        with database.transaction() as conn:
            enqueue_delivery(
                conn, purpose="test", url=target, body="{}", content_type="application/json",
                now=utcnow(),
            )  # fmt: skip
    finally:
        database.close()


@pytest.mark.parametrize("embedded", [True, False])
def test_the_app_runs_a_worker_unless_told_not_to(
    tmp_path: Path, receiver: Receiver, embedded: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    queue_one(url, f"{receiver.url}/hook")
    settings = Settings(
        database_url=url,
        rate_limit="off",
        postback_allow_http=True,
        postback_allowed_networks=["127.0.0.0/8"],
        worker_poll_seconds=0.05,
        embedded_worker=embedded,
        idempotency_purge_seconds=0,
    )
    with TestClient(create_app(settings), base_url="https://testserver"):
        if embedded:
            receiver.wait_for(1, timeout=10)
        else:
            time.sleep(1.0)  # twenty polls' worth: an embedded worker would have sent it
    assert len(receiver.requests) == (1 if embedded else 0)


@pytest.mark.parametrize("freeze", [True, False])
def test_a_served_worker_freezes_its_long_lived_heap(tmp_path: Path, freeze: bool) -> None:
    """What is alive once the app has started is kept out of full collections
    (``gc.freeze``), in served workers only: a test process creates many apps."""
    url = f"sqlite:///{tmp_path / 'frozen.db'}"
    upgrade_only = Database(url)
    upgrade(upgrade_only.write_engine)
    upgrade_only.close()
    settings = Settings(database_url=url, rate_limit="off", embedded_worker=False)
    gc.unfreeze()
    try:
        with TestClient(create_app(settings, freeze_heap=freeze), base_url="https://testserver"):
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert (frozen > 10_000) is freeze


def test_a_start_that_fails_halfway_stops_what_had_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from pressline import app as app_module

    async def broken(_db: Database) -> None:
        raise RuntimeError("the template workers could not start")

    url = f"sqlite:///{tmp_path / 'halfway.db'}"
    migrated = Database(url)
    upgrade(migrated.write_engine)
    migrated.close()
    monkeypatch.setattr(app_module, "warm_if_linked", broken)
    app = create_app(Settings(database_url=url, worker_poll_seconds=0.05))
    with pytest.raises(RuntimeError, match="could not start"), TestClient(app):
        pass
    names = [thread.name for thread in threading.enumerate()]
    assert "pressline-worker" not in names and "pressline-reference" not in names
