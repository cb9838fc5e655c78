"""``RenderPool.render_async``: the API's way in, on the event loop, with the same limits.

Every runaway and escape ends as the same ``TemplateError`` as through ``render``,
the loop keeps running meanwhile, renders queued for a busy worker take their turn,
and a cancelled or abandoned render never costs the pool a worker for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from pressline.templates import (
    Limits,
    LookupTables,
    RendererUnavailable,
    RenderPool,
    TemplateForbidden,
    TemplateLimitExceeded,
    TemplateSource,
    TemplateType,
    read_csv,
    samples,
)
from pressline.templates.formats import Format
from tests.unit.test_template_sandbox import (
    ESCAPES,
    NESTED_LOOPS,
    QUICK,
    RUNAWAYS,
    SLACK,
    template,
)

#: A render that takes a few tenths of a second on any machine, then answers.
SLOW = "{% for i in range(300) %}{{ range(20000) | sum }}{% endfor %}"
ECHO = '{"n": {{ n | json }}}'


@pytest.fixture
def own_pool() -> Iterator[RenderPool]:
    """A pool for tests that kill, starve or abandon its worker."""
    pool = RenderPool(size=1)
    yield pool
    pool.close()


def still_renders(pool: RenderPool) -> bool:
    rendered = asyncio.run(pool.render_async(template('{"ok": {{ (1 + 1) | json }}}'), b"{}"))
    return rendered.value == {"ok": 2}


def test_an_async_render_gives_what_a_blocking_render_gives(pool: RenderPool) -> None:
    folder = samples()
    tables = LookupTables(
        read_csv((folder / "lookups" / f"{name}.csv").read_bytes(), name=name)
        for name in ("sku", "shipping")
    )
    shopify = TemplateSource(
        "shopify", 1, TemplateType.ORDER_SUBMIT_REQUEST, Format.JSON, Format.JSON,
        (folder / "shopify_submit.j2").read_text(),
    )  # fmt: skip
    export = (folder / "shopify_order.json").read_bytes()
    blocking = pool.render(shopify, export, lookups=tables)
    awaited = asyncio.run(pool.render_async(shopify, export, lookups=tables))
    assert awaited.body == blocking.body
    assert awaited.value == blocking.value
    assert isinstance(awaited.value, dict)
    assert awaited.value["shipmentMethodUid"]  # the lookup tables reached the worker


@pytest.mark.parametrize(("source", "message"), RUNAWAYS)
def test_runaway_templates_end_as_a_limit_error_in_time(
    pool: RenderPool, source: str, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateLimitExceeded, match=message) as caught:
        asyncio.run(pool.render_async(template(source), b"{}", limits=QUICK))
    assert time.monotonic() - started < QUICK.time_seconds + SLACK
    assert caught.value.template_name == "hostile"
    assert still_renders(pool)


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempts_are_refused_as_forbidden(pool: RenderPool, source: str) -> None:
    with pytest.raises(TemplateForbidden, match="is unsafe"):
        asyncio.run(pool.render_async(template(source), b'{"a": 1}'))


def test_the_event_loop_keeps_running_while_a_runaway_renders(pool: RenderPool) -> None:
    async def scenario() -> tuple[int, BaseException | None]:
        render = asyncio.ensure_future(
            pool.render_async(template(NESTED_LOOPS), b"{}", limits=QUICK)
        )
        ticks = 0
        while not render.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return ticks, render.exception()

    [before] = pool.worker_pids()
    ticks, error = asyncio.run(scenario())
    assert isinstance(error, TemplateLimitExceeded)
    assert "longer than 0.5 s" in error.message
    assert ticks >= 20  # 0.5 s of 10 ms sleeps, less scheduling slack
    assert before not in pool.worker_pids()  # overran: killed, replaced on demand
    assert still_renders(pool)


def test_renders_queued_for_one_worker_each_get_their_own_answer(pool: RenderPool) -> None:
    async def scenario() -> list[object]:
        renders = (
            pool.render_async(template(ECHO), json.dumps({"n": n}).encode()) for n in range(40)
        )
        return [rendered.value for rendered in await asyncio.gather(*renders)]

    assert asyncio.run(scenario()) == [{"n": n} for n in range(40)]
    assert len(pool.worker_pids()) == 1


def test_renders_queued_behind_a_runaway_render_once_it_is_stopped(pool: RenderPool) -> None:
    async def scenario() -> list[object]:
        runaway = pool.render_async(template(NESTED_LOOPS), b"{}", limits=QUICK)
        queued = [pool.render_async(template(ECHO), b'{"n": %d}' % n) for n in range(3)]
        return await asyncio.gather(runaway, *queued, return_exceptions=True)

    runaway, *queued = asyncio.run(scenario())
    assert isinstance(runaway, TemplateLimitExceeded)
    assert [getattr(rendered, "value", rendered) for rendered in queued] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]


def test_owners_take_turns_so_a_backlog_of_runaways_does_not_hold_up_another_owner(
    own_pool: RenderPool,
) -> None:
    finished: list[str] = []

    async def render(owner: str, source: str, limits: Limits = QUICK) -> None:
        with contextlib.suppress(TemplateLimitExceeded):
            await own_pool.render_async(template(source), b'{"n": 1}', limits=limits, owner=owner)
        finished.append(owner)

    async def scenario() -> None:
        runaways = [render("runaway", NESTED_LOOPS) for _ in range(4)]
        tasks = [asyncio.ensure_future(coroutine) for coroutine in runaways]
        await asyncio.sleep(0)  # all four are queued (or running) before the other
        await asyncio.gather(*tasks, render("other", ECHO))

    assert still_renders(own_pool)  # the one worker is up
    asyncio.run(scenario())
    # One worker: the runaway in progress ends, then it is the other owner's turn.
    assert finished == ["runaway", "other", "runaway", "runaway", "runaway"]


def test_a_worker_that_dies_mid_render_is_an_error_for_that_render_only(
    own_pool: RenderPool,
) -> None:
    assert still_renders(own_pool)  # a worker is up
    [pid] = own_pool.worker_pids()
    killer = threading.Timer(0.2, os.kill, (pid, signal.SIGKILL))
    killer.start()
    started = time.monotonic()
    with pytest.raises(TemplateLimitExceeded, match="renderer stopped"):
        asyncio.run(
            own_pool.render_async(template(NESTED_LOOPS), b"{}", limits=Limits(time_seconds=5))
        )
    killer.join()
    assert time.monotonic() - started < 2
    assert still_renders(own_pool)
    assert pid not in own_pool.worker_pids()


def test_a_cancelled_render_lets_its_worker_finish_and_serve_the_next(
    own_pool: RenderPool,
) -> None:
    async def scenario() -> object:
        render = asyncio.ensure_future(own_pool.render_async(template(SLOW), b"{}"))
        await asyncio.sleep(0.05)
        render.cancel()
        with pytest.raises(asyncio.CancelledError):
            await render
        rendered = await own_pool.render_async(template(ECHO), b'{"n": 7}')
        return rendered.value

    assert still_renders(own_pool)
    [pid] = own_pool.worker_pids()
    assert asyncio.run(scenario()) == {"n": 7}
    assert own_pool.worker_pids() == [pid]  # not killed for being cancelled


def test_a_render_that_waits_longer_than_the_wait_timeout_is_refused() -> None:
    pool = RenderPool(size=1, wait_timeout=0.2)
    pool.warm()
    try:

        async def scenario() -> list[object]:
            slow = pool.render_async(template(NESTED_LOOPS), b"{}", limits=QUICK)
            waiting = pool.render_async(template(ECHO), b'{"n": 1}')
            return list(await asyncio.gather(slow, waiting, return_exceptions=True))

        slow, waiting = asyncio.run(scenario())
        assert isinstance(slow, TemplateLimitExceeded)
        assert isinstance(waiting, RendererUnavailable)
        assert "busy" in waiting.message
    finally:
        pool.close()


def test_a_worker_abandoned_by_a_closed_event_loop_is_replaced(own_pool: RenderPool) -> None:
    async def abandon() -> None:
        render = asyncio.ensure_future(own_pool.render_async(template(NESTED_LOOPS), b"{}"))
        await asyncio.sleep(0.1)
        assert not render.done()  # under way when the loop ends

    assert still_renders(own_pool)  # a worker is up
    [abandoned] = own_pool.worker_pids()
    asyncio.run(abandon())
    assert own_pool.worker_pids() == [abandoned]
    started = time.monotonic()
    assert still_renders(own_pool)
    assert time.monotonic() - started < 1  # not the 10 s wait for a busy worker
    assert abandoned not in own_pool.worker_pids()


def test_blocking_and_async_renders_share_one_worker(own_pool: RenderPool) -> None:
    results: list[object] = []

    def blocking() -> None:
        for n in range(5):
            results.append(own_pool.render(template(ECHO), b'{"n": %d}' % n).value)

    async def scenario() -> list[object]:
        renders = [own_pool.render_async(template(ECHO), b'{"n": %d}' % n) for n in range(5, 15)]
        return [rendered.value for rendered in await asyncio.gather(*renders)]

    thread = threading.Thread(target=blocking)
    thread.start()
    awaited = asyncio.run(scenario())
    thread.join()
    assert results == [{"n": n} for n in range(5)]
    assert awaited == [{"n": n} for n in range(5, 15)]
    assert len(own_pool.worker_pids()) == 1


def test_a_closed_pool_refuses_async_renders() -> None:
    pool = RenderPool(size=1)
    pool.close()
    with pytest.raises(RendererUnavailable, match="shut down"):
        asyncio.run(pool.render_async(template(ECHO), b'{"n": 1}'))


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
def test_workers_run_as_batch_processes_that_never_preempt_the_server(pool: RenderPool) -> None:
    assert still_renders(pool)
    for pid in pool.worker_pids():
        assert os.sched_getscheduler(pid) == os.SCHED_BATCH
