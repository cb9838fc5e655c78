"""What a server log says went wrong: "database is locked", tracebacks, errors, 5xx lines.

Read after the run, from the log files the server wrote (one per start). With JSON
access lines (log level info) the server's own count of 5xx answers is there too, a
check on the client's count that does not depend on the client having seen them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCKED = "database is locked"
#: Lines quoted per kind of problem in a report (the count is always complete).
QUOTED = 5


@dataclass(slots=True)
class LogFindings:
    """Counts over every line of the scanned logs, and the first lines of each problem."""

    lines: int = 0
    access_lines: int = 0
    locked: int = 0
    tracebacks: int = 0
    errors: int = 0
    server_5xx: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    quoted: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.locked or self.tracebacks or self.errors or self.server_5xx)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "access_lines": self.access_lines,
            "database_is_locked": self.locked,
            "tracebacks": self.tracebacks,
            "error_lines": self.errors,
            "server_5xx": self.server_5xx,
            "server_statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "quoted": self.quoted,
        }


def _parsed(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _scan_line(line: str, found: LogFindings) -> None:
    found.lines += 1
    record = _parsed(line)
    problem = False
    if LOCKED in line.lower():
        found.locked += 1
        problem = True
    if "Traceback" in line:
        found.tracebacks += 1
        problem = True
    if record is not None and record.get("level") in {"error", "critical"}:
        found.errors += 1
        problem = True
    if record is not None and record.get("event") == "request":
        found.access_lines += 1
        status = int(record.get("status") or 0)
        found.statuses[status] += 1
        if status >= 500:
            found.server_5xx += 1
            problem = True
    if problem and len(found.quoted) < QUOTED:
        found.quoted.append(line[:500])


def scan(paths: list[Path]) -> LogFindings:
    """Every line of ``paths`` (missing files count as empty)."""
    found = LogFindings()
    for path in paths:
        if not path.exists():
            continue
        with path.open(errors="replace") as lines:
            for line in lines:
                _scan_line(line.rstrip("\n"), found)
    return found
