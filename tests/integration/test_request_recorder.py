"""The request log's recorder: a flush leaves nothing recorded before it unwritten."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import Connection, func, select

from pressline.db import Database, utcnow
from pressline.migrate import upgrade
from pressline.requestlog.recorder import Entry, RequestRecorder
from pressline.requestlog.tables import request_log


def entry(request_id: str) -> Entry:
    return Entry(
        id=request_id, at=utcnow(), prefix="shop", customer_reference_id=None, method="GET",
        path="/api/shop/x", status=401, latency_us=10, order_id=None, order_key="x",
        template=None, request_body=b"", transformed_request=None, response_body=b"{}",
    )  # fmt: skip


def test_a_flush_waits_for_the_flush_already_under_way(tmp_path: Path) -> None:
    """The periodic flush may have taken the entries a moment ago and still be waiting on
    the writer: a flush called then must not return before they are written."""
    database = Database(f"sqlite:///{tmp_path / 'log.db'}")
    upgrade(database.write_engine)
    recorder = RequestRecorder(interval=3600)
    entered, gate = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        entered.set()
        assert gate.wait(30)

    def written() -> int:
        with database.read_engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(request_log)).scalar_one())

    async def scenario() -> tuple[bool, int]:
        recorder.start(database)
        held = asyncio.ensure_future(database.write(hold))
        assert await asyncio.to_thread(entered.wait, 30)
        recorder.record(entry("req_first"))
        under_way = asyncio.ensure_future(recorder.flush())  # takes it, waits on the writer
        await asyncio.sleep(0.05)
        mine = asyncio.ensure_future(recorder.flush())
        await asyncio.sleep(0.05)
        returned_early = mine.done()
        gate.set()
        await held
        await asyncio.gather(under_way, mine)
        seen = written()
        await recorder.stop()
        return returned_early, seen

    try:
        returned_early, seen = asyncio.run(scenario())
    finally:
        database.close()
    assert not returned_early
    assert seen == 1
