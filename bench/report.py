"""Progress notes on stderr, the results table on stdout, and the JSON results file."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.wrk import WrkResult

_err = Console(stderr=True, highlight=False, soft_wrap=True)
# Wide enough for the table when stdout is a file or a pipe (rich assumes 80 columns).
_out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def note(message: str) -> None:
    """A progress line for the operator (stderr, so stdout is just the results)."""
    _err.print(f"[dim]·[/dim] {message}")


@dataclass(frozen=True, slots=True)
class Measurement:
    backend: str
    scenario: str
    connections: int
    result: WrkResult
    target: str
    passed: bool
    verdict: str
    facts: dict[str, Any] = field(default_factory=dict)


def table(measurements: list[Measurement], title: str) -> None:
    grid = Table(title=title)
    for name in ("backend", "scenario", "conns"):
        grid.add_column(name)
    for name in ("req/s", "p50 ms", "p99 ms", "errors"):
        grid.add_column(name, justify="right")
    grid.add_column("target")
    grid.add_column("result")
    for m in measurements:
        r = m.result
        style = "green" if m.passed else "red"
        grid.add_row(
            m.backend,
            m.scenario,
            str(m.connections),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.errors:,}",
            m.target,
            f"[{style}]{m.verdict}[/{style}]",
        )
    _out.print(grid)


def write_json(directory: Path, run: dict[str, Any], measurements: list[Measurement]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}.json"
    rows = []
    for m in measurements:
        row = asdict(m)
        row["result"]["rps"] = m.result.rps
        row["result"]["errors"] = m.result.errors
        rows.append(row)
    path.write_text(json.dumps({**run, "measurements": rows}, indent=2, default=str) + "\n")
    return path
