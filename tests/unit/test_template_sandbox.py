"""Customer templates cannot escape the sandbox, and a runaway one is stopped, never the server.

Every case ends as a ``TemplateError`` within its limit, and the pool renders the
next template normally afterwards.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pressline.templates import (
    Format,
    Limits,
    RenderPool,
    TemplateError,
    TemplateForbidden,
    TemplateLimitExceeded,
    TemplateSource,
    TemplateType,
)

#: Short enough to keep the suite fast, long enough for a loaded machine.
QUICK = Limits(time_seconds=0.5)
#: What a contained case may take beyond its time limit: kill, reap, report.
SLACK = 1.0


def template(source: str, output_format: Format = Format.JSON) -> TemplateSource:
    return TemplateSource(
        "hostile", 7, TemplateType.WEBHOOK_BODY, Format.JSON, output_format, source
    )


def still_renders(pool: RenderPool) -> bool:
    return pool.render(template('{"ok": {{ (1 + 1) | json }}}'), b"{}").value == {"ok": 2}


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lookups.__globals__ }}",
    "{{ namespace.__init__.__globals__['os'] }}",
    "{{ range.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ payload | attr('__class__') }}",
    "{{ payload['__class__'] }}",
    "{{ '{0.__class__.__mro__}'.format(payload) }}",
    "{{ '{x.__class__}'.format_map({'x': payload}) }}",
    "{{ ''.join.__self__ }}",
    "{{ payload.update({'injected': 1}) }}",
    "{% set items = [] %}{{ items.append(1) }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempts_are_refused_as_forbidden(pool: RenderPool, source: str) -> None:
    with pytest.raises(TemplateForbidden) as caught:
        pool.render(template(source), b'{"a": 1}')
    assert "is unsafe" in caught.value.message
    assert caught.value.line == 1


def test_stock_jinja_globals_that_serve_no_purpose_here_are_not_offered(pool: RenderPool) -> None:
    for source in ("{{ cycler('a', 'b') }}", "{{ lipsum(100000) }}", "{{ joiner() }}"):
        with pytest.raises(TemplateError, match="is undefined"):
            pool.render(template(source), b"{}")


def test_left_associative_power_in_jinja_is_a_small_number(pool: RenderPool) -> None:
    # Jinja reads 2**10**7 as (2**10)**7, unlike Python: harmless, and rendered.
    assert pool.render(template("{{ 2**10**7 }}"), b"{}").value == 2**70


NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
RUNAWAYS = [
    pytest.param("{{ 'a' * 10**9 }}", "'*' would build", id="string-repeat"),
    pytest.param("{{ [0] * 10**9 }}", "'*' would build", id="list-repeat"),
    pytest.param("{{ (range(100000) | list) * 100 }}", "'*' would build", id="list-times-list"),
    pytest.param("{{ 2**(10**7) }}", "'\\*\\*' would compute", id="huge-power"),
    pytest.param("{{ 10**(10**10) }}", "'\\*\\*' would compute", id="huger-power"),
    pytest.param(
        "{% set n = namespace(v=3) %}{% for i in range(40) %}{% set n.v = n.v * n.v %}"
        "{% endfor %}{{ n.v }}",
        "'\\*' would compute an integer",
        id="squaring-loop",
    ),
    pytest.param("{{ '%999999999d' % 1 }}", "format width", id="percent-width"),
    pytest.param("{{ '%*d' % (999999999, 1) }}", "format width", id="percent-star"),
    pytest.param(
        "{{ '%s'|format('x') }}{{ '%.999999999f'|format(1) }}", "format width", id="format-filter"
    ),
    pytest.param("{{ 'x'.center(10**9) }}", "width of", id="center-method"),
    pytest.param("{{ 'x'.zfill(10**9) }}", "width of", id="zfill-method"),
    pytest.param("{{ 'x' | center(10**9) }}", "width of", id="center-filter"),
    pytest.param("{{ 'a\nb' | indent(10**9) }}", "width of", id="indent-filter"),
    pytest.param("{% for i in range(10**9) %}{% endfor %}", "Range too big", id="huge-range"),
    pytest.param(
        "{% macro again(n) %}{{ again(n + 1) }}{% endmacro %}{{ again(0) }}",
        "recursion too deep",
        id="macro-recursion",
    ),
    pytest.param(
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
        "output is larger than the limit",
        id="output-flood",
    ),
    pytest.param("{{ (['x' * 1000000] * 1000) | join }}", "MiB of memory", id="huge-join"),
    pytest.param(
        "{% set s = namespace(v='x') %}{% for i in range(64) %}{% set s.v = s.v ~ s.v %}"
        "{% endfor %}{{ s.v | length }}",
        "MiB of memory",
        id="doubling-concat",
    ),
    pytest.param("{{ '{:>999999999}'.format(1) }}", "MiB of memory", id="format-spec-width"),
    pytest.param(NESTED_LOOPS, "longer than 0.5 s", id="nested-loops"),
    pytest.param(
        "{% for i in range(100000) %}{{ range(100000) | list | sort(reverse=true) | first }}"
        "{% endfor %}",
        "longer than 0.5 s",
        id="sorting-in-a-loop",
    ),
]


@pytest.mark.parametrize(("source", "message"), RUNAWAYS)
def test_runaway_templates_end_as_a_limit_error_in_time(
    pool: RenderPool, source: str, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateLimitExceeded, match=message) as caught:
        pool.render(template(source), b"{}", limits=QUICK)
    assert time.monotonic() - started < QUICK.time_seconds + SLACK
    assert caught.value.template_name == "hostile"
    assert still_renders(pool)


def test_the_default_time_limit_is_one_second(pool: RenderPool) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateLimitExceeded, match="longer than 1 s"):
        pool.render(template(NESTED_LOOPS), b"{}")
    assert 1.0 <= time.monotonic() - started < 1.0 + SLACK


def test_a_timed_out_worker_is_killed_and_replaced(pool: RenderPool) -> None:
    assert still_renders(pool)  # a worker is up
    [before] = pool.worker_pids()
    with pytest.raises(TemplateLimitExceeded):
        pool.render(template("{% for i in range(99999) %}{{ range(99999)|sum }}{% endfor %}"),
                    b"{}", limits=QUICK)  # fmt: skip
    assert pool.worker_pids() == []
    assert still_renders(pool)
    [after] = pool.worker_pids()
    assert after != before
    assert not os.path.exists(f"/proc/{before}") or _is_zombie_free(before)


def _is_zombie_free(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_a_worker_that_dies_mid_render_is_an_error_for_that_render_only(pool: RenderPool) -> None:
    assert still_renders(pool)  # a worker is up
    [pid] = pool.worker_pids()
    killer = threading.Timer(0.2, os.kill, (pid, signal.SIGKILL))
    killer.start()
    started = time.monotonic()
    with pytest.raises(TemplateLimitExceeded, match="renderer stopped"):
        pool.render(template(NESTED_LOOPS), b"{}", limits=Limits(time_seconds=5))
    killer.join()
    assert time.monotonic() - started < 2
    assert still_renders(pool)


def test_a_memory_hog_retires_its_worker(pool: RenderPool) -> None:
    assert still_renders(pool)  # a worker is up
    [before] = pool.worker_pids()
    with pytest.raises(TemplateLimitExceeded, match="more than 16 MiB of memory"):
        pool.render(
            template("{{ (['y' * 1000000] * 64) | join | length }}"),
            b"{}",
            limits=Limits(memory_bytes=16 * 2**20),
        )
    assert before not in pool.worker_pids()
    assert still_renders(pool)


def test_the_memory_limit_is_per_render_not_for_the_worker_lifetime(pool: RenderPool) -> None:
    source = "{{ (['y' * 1000000] * 8) | join | length }}"  # 8 MB, well under 64 MiB
    for _ in range(20):
        assert pool.render(template(source), b"{}").value == 8_000_000


def test_busy_workers_make_other_renders_wait_not_fail() -> None:
    pool = RenderPool(size=1)
    try:
        slow = template("{% for i in range(300) %}{{ range(20000) | sum }}{% endfor %}")
        results: list[object] = []
        threads = [
            threading.Thread(target=lambda: results.append(pool.render(slow, b"{}").body[:5]))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 3
        assert len(pool.worker_pids()) == 1
    finally:
        pool.close()


def test_xml_output_templates_escape_injected_markup(pool: RenderPool) -> None:
    source = "<Note>{{ text }}</Note>"
    payload = b'{"text": "</Note><Admin>true</Admin><Note>"}'
    rendered = pool.render(template(source, Format.XML), payload)
    assert rendered.value == {"Note": "</Note><Admin>true</Admin><Note>"}
