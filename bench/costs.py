"""What the per-request features cost: the same scenario with them off and on.

``bench.run --features both`` measures each backend twice, one server after the
other on the same data; this pairs the two measurements of each scenario. Issue 4
asks that the rate limiter, idempotency and logging together cost at most 15% of
throughput.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.report import Measurement

#: The most throughput the features may cost (issue 4 §5), as a fraction.
BUDGET = 0.15


@dataclass(frozen=True, slots=True)
class Cost:
    backend: str
    scenario: str
    rps_off: float
    rps_on: float
    p99_off_ms: float
    p99_on_ms: float

    @property
    def throughput_cost(self) -> float:
        """Share of the throughput lost with the features on (negative: a gain, i.e. noise)."""
        return 1 - self.rps_on / self.rps_off if self.rps_off else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_cost": round(self.throughput_cost, 4)}


def compare(measurements: list[Measurement]) -> list[Cost]:
    """One cost per (backend, scenario) measured with the features both off and on.

    Repeated measurements of a mode are pooled: requests over seconds for the rate,
    the mean of their p99s for the latency.
    """
    pooled: dict[tuple[str, str, str], list[Measurement]] = {}
    for m in measurements:
        key = (str(m.facts.get("backend")), m.scenario, str(m.facts.get("features")))
        pooled.setdefault(key, []).append(m)
    costs = []
    for (backend, scenario, mode), off in pooled.items():
        on = pooled.get((backend, scenario, "on"))
        if mode != "off" or on is None:
            continue
        costs.append(Cost(backend, scenario, _rate(off), _rate(on), _p99(off), _p99(on)))
    return costs


def _rate(runs: list[Measurement]) -> float:
    seconds = sum(m.result.seconds for m in runs)
    return sum(m.result.requests for m in runs) / seconds if seconds else 0.0


def _p99(runs: list[Measurement]) -> float:
    return sum(m.result.p99_ms for m in runs) / len(runs)


def table(costs: list[Cost]) -> None:
    grid = Table(title=f"Cost of rate limiting, access logs and idempotency (budget {BUDGET:.0%})")
    for name in ("backend", "scenario", "req/s off", "req/s on", "cost", "p99 off", "p99 on"):
        grid.add_column(name, justify="left" if name in {"backend", "scenario"} else "right")
    for c in costs:
        style = "green" if c.throughput_cost <= BUDGET else "red"
        grid.add_row(
            c.backend,
            c.scenario,
            f"{c.rps_off:,.0f}",
            f"{c.rps_on:,.0f}",
            f"[{style}]{c.throughput_cost:+.1%}[/{style}]",
            f"{c.p99_off_ms:.1f}",
            f"{c.p99_on_ms:.1f}",
        )
    Console(highlight=False, width=None if sys.stdout.isatty() else 120).print(grid)
