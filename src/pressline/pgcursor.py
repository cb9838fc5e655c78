"""A psycopg cursor whose ``description`` is built when it is first read.

psycopg 3 builds a ``Column`` object for every column of the result each time
``cursor.description`` is read (psycopg/psycopg#457, still so in 3.3): about a
microsecond a column, so 60-80 µs for Get Order's joined read of the key, the order
and its items. SQLAlchemy reads it after every statement, but for a statement whose
result columns it has cached (our hot paths: Core statements built once) only to learn
whether rows came back; it looks inside the first time, to match the columns to the
statement's, and every time for textual SQL.

So ``description`` here is a sequence that knows its length at once and builds
psycopg's own columns on first use. It describes the result it was made for: read
after the cursor has moved on to another result, it raises rather than describe the
wrong one (psycopg's own list would stay right; nothing of ours keeps one that long).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import psycopg
from psycopg import pq

_ROWS = frozenset({pq.ExecStatus.TUPLES_OK, pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK})


class Cursor(psycopg.Cursor[Any]):
    """``psycopg.Cursor`` with a lazily built ``description`` (the module's docstring)."""

    __slots__ = ()

    @property
    def description(self) -> list[psycopg.Column] | None:
        result = self.pgresult
        # The same test as psycopg's own: columns, or a result that has rows.
        if result is None or not (result.nfields or result.status in _ROWS):
            return None
        return _Description(self, result)  # type: ignore[return-value]  # a Sequence


class _Description(Sequence[psycopg.Column]):
    __slots__ = ("_columns", "_cursor", "_result")

    def __init__(self, cursor: Cursor, result: pq.abc.PGresult) -> None:
        self._cursor = cursor
        self._result = result
        self._columns: list[psycopg.Column] | None = None

    def __len__(self) -> int:
        return self._result.nfields

    @overload
    def __getitem__(self, index: int) -> psycopg.Column: ...
    @overload
    def __getitem__(self, index: slice) -> list[psycopg.Column]: ...
    def __getitem__(self, index: int | slice) -> psycopg.Column | list[psycopg.Column]:
        return self._built()[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like the list it stands for

    def __repr__(self) -> str:
        return repr(self._built())

    def _built(self) -> list[psycopg.Column]:
        if self._columns is None:
            if self._cursor.pgresult is not self._result:
                raise psycopg.InterfaceError("this description is of an earlier result")
            columns = super(Cursor, self._cursor).description
            self._columns = columns if columns is not None else []
        return self._columns
