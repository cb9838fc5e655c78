"""Lookup tables: a customer's named key → value rows, and the ``lookups()`` templates call.

GelatoConnect's lookups translate a shop's own identifiers into the network's
(SKU → productUid, shop shipping name → shipment method uid). A table has a name,
which is also how templates refer to it (GelatoConnect's "template field"), rows
with unique keys, and an optional fallback answered for any key it lacks.

Tables are plain immutable values here: storage keeps them as rows
(``to_rows`` / ``from_rows``), operators edit them as two-column CSV
(``read_csv`` / ``write_csv``), and the renderer reaches them through a
``LookupResolver``, which lets a worker process cache a table by its
``fingerprint`` instead of receiving it on every render.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from pressline.errors import FieldError, InvalidReferenceFile, ValidationFailed

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_KEY_LENGTH = 255
MAX_VALUE_LENGTH = 1000
MAX_ROWS = 100_000
#: Characters of keys and values in one table. A template worker receives a table it
#: needs within the render's memory limit (64 MiB): a table of 16 million characters
#: takes about half of it, and the worker keeps the tables it has used.
MAX_TABLE_CHARS = 16_000_000
MAX_REPORTED_ERRORS = 50


class LookupFailed(Exception):
    """A ``lookups()`` call that cannot answer; the renderer adds the template's line."""


@dataclass(frozen=True, slots=True)
class LookupTable:
    """One named table. Build it with ``from_rows`` or ``read_csv``: they check the rows."""

    name: str
    rows: Mapping[str, str]
    fallback: str | None = None
    description: str = ""
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        content = json.dumps([self.name, self.fallback, list(self.rows.items())])
        digest = hashlib.blake2b(content.encode(), digest_size=16).hexdigest()
        object.__setattr__(self, "fingerprint", digest)

    @classmethod
    def from_rows(
        cls,
        name: str,
        rows: Iterable[tuple[str, str]],
        *,
        fallback: str | None = None,
        description: str = "",
    ) -> LookupTable:
        """A table from (key, value) pairs; every problem in one ``ValidationFailed``."""
        errors = _name_errors(name) + _fallback_errors(fallback)
        table: dict[str, str] = {}
        for index, (raw_key, raw_value) in enumerate(rows):
            key, value = raw_key.strip(), raw_value.strip()
            problem = _row_problem(key, value, table)
            if problem is not None:
                errors.append(FieldError(problem[0], f"rows[{index}].key", problem[1]))
            else:
                table[key] = value
        if len(table) > MAX_ROWS:
            errors.append(FieldError("too_many", "rows", f"At most {MAX_ROWS} rows"))
        chars = sum(len(key) + len(value) for key, value in table.items())
        if chars > MAX_TABLE_CHARS:
            message = (
                f"The keys and values hold {chars:,} characters; a table holds at most "
                f"{MAX_TABLE_CHARS:,} (split it, or shorten its values)"
            )
            errors.append(FieldError("too_large", "rows", message))
        if errors:
            raise ValidationFailed(errors[:MAX_REPORTED_ERRORS])
        return cls(name, table, fallback, description)

    def to_rows(self) -> list[tuple[str, str]]:
        """The rows in the order they were given, for storage and export."""
        return list(self.rows.items())

    def get(self, key: str) -> str | None:
        """The row's value for ``key`` (surrounding whitespace ignored), without fallback."""
        return self.rows.get(key.strip())

    def with_row(self, key: str, value: str) -> LookupTable:
        """This table with ``key`` added at the end, or its value replaced in place."""
        rows = {**self.rows, key.strip(): value}  # an empty key is reported by from_rows
        return LookupTable.from_rows(
            self.name, rows.items(), fallback=self.fallback, description=self.description
        )

    def without_row(self, key: str) -> LookupTable:
        """This table without ``key``; removing a key it lacks changes nothing."""
        rows = {k: v for k, v in self.rows.items() if k != key.strip()}
        return LookupTable(self.name, rows, self.fallback, self.description)


def _name_errors(name: str) -> list[FieldError]:
    if NAME_PATTERN.match(name):
        return []
    message = (
        "A lookup table name is 1 to 64 letters, digits, '_', '.' or '-' "
        "(templates call lookups({'<name>': key}))"
    )
    return [FieldError("invalid_format", "name", message)]


def _fallback_errors(fallback: str | None) -> list[FieldError]:
    if fallback is not None and len(fallback) > MAX_VALUE_LENGTH:
        return [FieldError("too_long", "fallback", f"At most {MAX_VALUE_LENGTH} characters")]
    return []


def _row_problem(key: str, value: str, seen: Mapping[str, str]) -> tuple[str, str] | None:
    if not key:
        return "required", "The key is empty"
    if key in seen:
        return "duplicate_key", f"Key '{key}' appears more than once"
    if len(key) > MAX_KEY_LENGTH:
        return "too_long", f"Key is longer than {MAX_KEY_LENGTH} characters"
    if len(value) > MAX_VALUE_LENGTH:
        return "too_long", f"Value of '{key}' is longer than {MAX_VALUE_LENGTH} characters"
    return None


# --- CSV -----------------------------------------------------------------------------


def read_csv(
    data: bytes | str,
    *,
    name: str,
    fallback: str | None = None,
    description: str = "",
    source: str | None = None,
) -> LookupTable:
    """A table from two-column CSV (``key,value``), problems reported by CSV line.

    A UTF-8 byte-order mark and a first line ``key,value`` (any case) are skipped;
    blank lines are ignored; keys and values are trimmed.
    """
    where = source or f"Lookup table '{name}' CSV"
    text = _decoded(data, where)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[str, str]] = []
    first_line: dict[str, int] = {}
    errors: list[FieldError] = []
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if not rows and not first_line and not errors and _is_header(record):
                continue
            problem = _record_problem(record, first_line)
            if problem is not None:
                errors.append(_line_error(start, *problem))
                continue
            first_line[record[0].strip()] = start
            rows.append((record[0], record[1]))
    except csv.Error as exc:
        errors.append(_line_error(reader.line_num, "invalid_csv", f"not valid CSV: {exc}"))
    if errors:
        raise InvalidReferenceFile(where, errors[:MAX_REPORTED_ERRORS])
    return _table_from_csv_rows(name, rows, fallback, description, where)


def _decoded(data: bytes | str, where: str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidReferenceFile(
            where, [_line_error(line, "invalid_encoding", "not UTF-8 text (save the CSV as UTF-8)")]
        ) from None


def _is_header(record: list[str]) -> bool:
    return [cell.strip().lower() for cell in record] == ["key", "value"]


def _record_problem(record: list[str], first_line: Mapping[str, int]) -> tuple[str, str] | None:
    if len(record) != 2:
        hint = " (separate columns with a comma)" if len(record) == 1 and ";" in record[0] else ""
        return "wrong_column_count", f"expected 2 columns (key,value), found {len(record)}{hint}"
    key, value = record[0].strip(), record[1].strip()
    if not key:
        return "required", "the key is empty"
    if key in first_line:
        return "duplicate_key", f"duplicate key '{key}' (first on line {first_line[key]})"
    if len(key) > MAX_KEY_LENGTH:
        return "too_long", f"the key is longer than {MAX_KEY_LENGTH} characters"
    if len(value) > MAX_VALUE_LENGTH:
        return "too_long", f"the value is longer than {MAX_VALUE_LENGTH} characters"
    return None


def _line_error(line: int, code: str, message: str) -> FieldError:
    return FieldError(code, None, f"line {line}: {message}")


def _table_from_csv_rows(
    name: str, rows: list[tuple[str, str]], fallback: str | None, description: str, where: str
) -> LookupTable:
    try:
        return LookupTable.from_rows(name, rows, fallback=fallback, description=description)
    except ValidationFailed as exc:  # the name, the fallback or the row count
        raise InvalidReferenceFile(where, exc.errors) from None


def write_csv(table: LookupTable) -> str:
    """The table's rows as CSV with a ``key,value`` header; ``read_csv`` reads it back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "value"])
    writer.writerows(table.to_rows())
    return out.getvalue()


# --- what the renderer sees ------------------------------------------------------------


class LookupResolver(Protocol):
    """A customer's tables as the renderer reaches them.

    ``fingerprints`` is read once per render (name → ``LookupTable.fingerprint``);
    ``table`` only when a render needs a table the worker has not cached.
    """

    def fingerprints(self) -> Mapping[str, str]: ...

    def table(self, name: str) -> LookupTable | None: ...


class LookupTables:
    """An in-memory ``LookupResolver`` over a fixed set of tables."""

    def __init__(self, tables: Iterable[LookupTable] = ()) -> None:
        self._tables: dict[str, LookupTable] = {}
        for table in tables:
            if table.name in self._tables:
                raise ValueError(f"two lookup tables are named '{table.name}'")
            self._tables[table.name] = table
        self._fingerprints = {name: t.fingerprint for name, t in self._tables.items()}

    def fingerprints(self) -> Mapping[str, str]:
        return self._fingerprints

    def table(self, name: str) -> LookupTable | None:
        return self._tables.get(name)


NO_LOOKUPS = LookupTables()

LookupFunction = Callable[..., object]


def lookup_function(resolve: Callable[[str], LookupTable | None]) -> LookupFunction:
    """The ``lookups({'table': key, ...}, strict=False, default='')`` templates call.

    Entries are tried in order and the first table with a row for its key answers.
    If none has one, the first of those tables with a fallback answers with it;
    otherwise ``strict=True`` is an error naming every table and key, and
    ``strict=False`` returns ``default``. A table that does not exist is always an
    error: a misspelt name would otherwise quietly give every order the default.
    """

    def lookups(keys: object, strict: bool = False, default: object = "") -> object:
        if not isinstance(keys, Mapping) or not keys:
            raise LookupFailed(
                "lookups() takes a dict of table name to key, e.g. lookups({'sku': item.sku})"
            )
        tried: list[tuple[LookupTable, str | None]] = []
        for name, key in keys.items():
            table = resolve(str(name))
            if table is None:
                raise LookupFailed(f"lookups(): there is no lookup table named '{name}'")
            text = None if key is None else str(key).strip()
            value = table.get(text) if text else None
            if value is not None:
                return value
            tried.append((table, text))
        for table, _ in tried:
            if table.fallback is not None:
                return table.fallback
        if strict:
            missing = ", ".join(
                f"{f'key {key!r}' if key else 'an empty key'} in table '{table.name}'"
                for table, key in tried
            )
            raise LookupFailed(f"lookups(): no row for {missing}, and no fallback (strict=True)")
        return default

    return lookups
