"""``pressline worker`` as a real process: a kill -9 mid-delivery loses nothing, SIGTERM
finishes the attempt in flight (reliability.md 16)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from pressline.app import create_app
from pressline.config import Settings
from pressline.db import AnyRow, Database, utcnow
from pressline.migrate import upgrade
from pressline.postbacks import deliveries
from pressline.postbacks.events import EventType
from tests.e2e.conftest import PRESSLINE, is_alive, server_env
from tests.support.postbacks import new_shop
from tests.support.receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e


@dataclass
class Setup:
    database: Database
    url: str
    secret: str
    receiver: Receiver

    def delivery(self) -> AnyRow:
        with self.database.transaction() as conn:
            (row,) = deliveries.list_deliveries(conn)
            return row

    def attempts(self, row: AnyRow) -> list[AnyRow]:
        with self.database.transaction() as conn:
            return deliveries.attempts_of(conn, [row.id])[row.id]

    def start_worker(self) -> subprocess.Popen[str]:
        env = server_env(
            PRESSLINE_DATABASE_URL=self.url,
            PRESSLINE_POSTBACK_ALLOW_HTTP="true",
            PRESSLINE_POSTBACK_ALLOWED_NETWORKS="127.0.0.0/8",
            PRESSLINE_WORKER_POLL_SECONDS="0.1",
            PRESSLINE_WORKER_LEASE_SECONDS="2",
            PRESSLINE_POSTBACK_TIMEOUT_SECONDS="0.9",
            PRESSLINE_LOG_FORMAT="json",
        )
        return subprocess.Popen(
            [PRESSLINE, "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    database = Database(url)
    upgrade(database.write_engine)
    with running_receiver() as receiver:
        settings = Settings(database_url=url, rate_limit="off")
        app = create_app(settings, database=database)
        with TestClient(app, base_url="https://testserver") as client:
            shop = new_shop(client, database)
            order_id = shop.submit()
        new = shop.trigger(url=f"{receiver.url}/hook")
        shop.enqueue(order_id, EventType.ORDER_SHIPPED, now=utcnow())
        yield Setup(database, url, new.secret, receiver)
    database.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def test_a_worker_killed_between_send_and_commit_delivers_after_restart(setup: Setup) -> None:
    receiver = setup.receiver
    receiver.hold = threading.Event()  # take the request, never answer
    first = setup.start_worker()
    try:
        receiver.wait_for(1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert not is_alive(first.pid)
    finally:
        stop(first)
    row = setup.delivery()
    assert row.status == "pending" and row.lease is not None  # claimed by the dead worker
    assert setup.attempts(row) == []  # its answer was never recorded

    held, receiver.hold = receiver.hold, None  # answer from now on
    held.set()
    second = setup.start_worker()
    try:
        wait_until(lambda: setup.delivery().status == "delivered")
    finally:
        output = stop(second)
    assert second.returncode == 0, output
    one, two = receiver.requests
    assert one.headers["webhook-id"] == two.headers["webhook-id"] == f"msg_{row.id.hex}"
    assert one.body == two.body
    Webhook(setup.secret).verify(two.body, two.headers)
    assert [a.status_code for a in setup.attempts(row)] == [200]


def test_sigterm_lets_the_attempt_in_flight_finish(setup: Setup) -> None:
    receiver = setup.receiver
    receiver.hold = threading.Event()
    worker = setup.start_worker()
    try:
        receiver.wait_for(1)
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert worker.poll() is None  # still waiting for the receiver's answer
        receiver.hold.set()
        worker.wait(30)
    finally:
        output = stop(worker)
    assert worker.returncode == 0, output
    row = setup.delivery()
    assert row.status == "delivered" and row.lease is None
    assert [a.status_code for a in setup.attempts(row)] == [200]
    assert len(receiver.requests) == 1
