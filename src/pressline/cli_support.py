"""What every CLI command shares: the database, JSON or table output, error exits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from pressline.config import get_settings
from pressline.db import Database, why
from pressline.errors import DomainError, InvalidReferenceFile, ValidationFailed

console = Console()
err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


@contextmanager
def transaction() -> Iterator[Connection]:
    """One committed transaction on the configured database.

    A database that cannot be reached or was never migrated is a one-line error (exit
    status 1), not a traceback.
    """
    db = Database(get_settings().database_url)
    try:
        with db.transaction() as conn:
            yield conn
    except (OperationalError, ProgrammingError) as exc:
        raise database_failure(exc, hint="has `pressline migrate` been run?") from None
    finally:
        db.close()


def database_failure(exc: OperationalError | ProgrammingError, *, hint: str) -> typer.Exit:
    """Say what the database answered in one line (not a traceback); exit status 1."""
    err_console.print(
        f"[red]error:[/red] database error: {escape(why(exc))} "
        f"(is PRESSLINE_DATABASE_URL right, and {hint})",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(1)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a DomainError into a one-line message and exit status 1."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            err_console.print(
                f"[red]error:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True
            )
            listed = isinstance(exc, InvalidReferenceFile) or (
                isinstance(exc, ValidationFailed) and len(exc.errors) > 1
            )
            if listed:
                for item in exc.field_errors:
                    err_console.print(
                        f"  - {escape(item.message)}", highlight=False, soft_wrap=True
                    )
            raise typer.Exit(1) from None

    return wrapper


#: Column names of ids and keys: ``id``, ``key``, ``requestId``, ``orderKey``…
_IDENTIFIER = re.compile(r"^(?:id|key)$|[a-z](?:Id|ID|Key)$")
_IDENTIFIER_WIDTH = 40  # a UUID is 36


def _pasted_column(rows: Sequence[dict[str, Any]]) -> tuple[str, int] | None:
    """The first id or key column and the width it needs, if its values are
    identifier-sized (a lookup table's keys may be any text: those wrap like the rest)."""
    for column in rows[0]:
        if _IDENTIFIER.search(column):
            width = max(len(column), *(len(str(row[column] or "")) for row in rows))
            return (column, width) if width <= _IDENTIFIER_WIDTH else None
    return None


def _json_value(value: Any) -> str:
    """What JSON has no type for: a time in ISO 8601 (``str`` wrote a space for the T),
    anything else (ids, decimals) as its text."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def emit(rows: Sequence[dict[str, Any]], *, as_json: bool, title: str) -> None:
    """Rows as JSON (``--json``) or as a table."""
    if as_json:
        typer.echo(json.dumps(list(rows), indent=2, default=_json_value))
        return
    if not rows:
        console.print(f"No {title.lower()}.")
        return
    table = Table(title=title)
    whole, width = _pasted_column(rows) or (None, 0)
    for column in rows[0]:
        if column == whole:
            # The row's id or key is pasted into other commands: never cut or wrapped,
            # even at the 80 columns of a pipe; the other columns give way instead.
            table.add_column(column, no_wrap=True, min_width=width)
        else:
            table.add_column(column)
    for row in rows:
        table.add_row(*("" if value is None else escape(str(value)) for value in row.values()))
    console.print(table)


def emit_one(record: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(record, indent=2, default=_json_value))
        return
    for key, value in record.items():
        # Never wrapped (a pipe is 80 columns): a key or a JSON body pasted from here
        # must come out whole, on its line.
        console.print(f"[bold]{key}[/bold]: {escape(str(value))}", soft_wrap=True)
