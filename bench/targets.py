"""The targets issue 2 sets for this 2-core machine, and how a measurement is judged.

Benchmark figures only: nothing in the test suite asserts timings.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The connection count the targets are stated for.
TARGET_CONNECTIONS = 16


@dataclass(frozen=True, slots=True)
class Target:
    min_rps: float
    max_p99_ms: float | None = None

    def describe(self) -> str:
        text = f"≥{self.min_rps:,.0f}/s"
        return f"{text} p99≤{self.max_p99_ms:.0f}ms" if self.max_p99_ms else text


TARGETS: dict[tuple[str, str], Target] = {
    ("postgres", "submit"): Target(1500, 50),
    ("sqlite", "submit"): Target(1000),
    ("postgres", "get"): Target(4000),
    ("sqlite", "get"): Target(4000),
    ("postgres", "search"): Target(1200, 50),
    ("sqlite", "search"): Target(1200, 50),
}


def verdict(target: Target, rps: float, p99_ms: float, errors: int) -> tuple[bool, str]:
    """(passed, why) for one measurement; any error response fails the run."""
    problems = []
    if errors:
        problems.append("errors")
    if rps < target.min_rps:
        problems.append("req/s")
    if target.max_p99_ms is not None and p99_ms > target.max_p99_ms:
        problems.append("p99")
    return (not problems, "pass" if not problems else f"FAIL {'+'.join(problems)}")
