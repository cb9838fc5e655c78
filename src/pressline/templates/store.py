"""Stored templates, their versions, endpoint links and lookup tables (SQL lives here).

Every function takes the caller's connection: the CLI runs them in one transaction,
the API reads links through ``links.LinkCache``. Every change bumps
``template_revision`` so API processes drop their cached links.

``load(conn, customer_id, name, version=None)`` is the stable entry point for
anything that renders a stored template (postback bodies included).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, delete, func, insert, select, update

from pressline.db import AnyRow
from pressline.errors import (
    FieldError,
    LookupTableExists,
    LookupTableNotFound,
    TemplateExists,
    TemplateInUse,
    TemplateNotFound,
    ValidationFailed,
)
from pressline.templates.formats import Format
from pressline.templates.lookups import MAX_ROWS, NAME_PATTERN, LookupTable
from pressline.templates.model import MAX_SOURCE_CHARS, TemplateSource, TemplateType
from pressline.templates.tables import (
    endpoint_templates,
    lookup_rows,
    lookup_tables,
    template_revision,
    template_versions,
    templates,
)


class Endpoint(StrEnum):
    SUBMIT = "submit"
    CANCEL = "cancel"


class Role(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"


#: The template type each endpoint and role takes.
LINK_TYPES = {
    (Endpoint.SUBMIT, Role.REQUEST): TemplateType.ORDER_SUBMIT_REQUEST,
    (Endpoint.SUBMIT, Role.RESPONSE): TemplateType.SUBMIT_RESPONSE,
    (Endpoint.CANCEL, Role.REQUEST): TemplateType.CANCEL_REQUEST,
    (Endpoint.CANCEL, Role.RESPONSE): TemplateType.CANCEL_RESPONSE,
}


# --- revision ---------------------------------------------------------------------------


def revision(conn: Connection) -> int:
    """The counter every change bumps (API processes compare it to their cache's)."""
    found = conn.execute(select(template_revision.c.revision)).scalar()
    return int(found or 0)


def _bump(conn: Connection) -> None:
    conn.execute(update(template_revision).values(revision=template_revision.c.revision + 1))


# --- templates --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A template as listed: what it is, and its newest version number."""

    id: uuid.UUID
    name: str
    type: TemplateType
    input_format: Format
    output_format: Format
    latest_version: int
    created_at: datetime
    updated_at: datetime


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ValidationFailed(
            [FieldError("invalid_format", "name",
                        "A template name is 1 to 64 letters, digits, '_', '.' or '-'")]
        )  # fmt: skip


def _source(name: str, version: int, row: AnyRow, source: str) -> TemplateSource:
    try:
        return TemplateSource(name, version, row.type, row.input_format, row.output_format, source)
    except ValueError as exc:
        raise ValidationFailed([FieldError("invalid_template", None, str(exc))]) from None


def _info(row: AnyRow) -> TemplateInfo:
    return TemplateInfo(
        row.id,
        row.name,
        TemplateType(row.type),
        Format(row.input_format),
        Format(row.output_format),
        row.latest_version,
        row.created_at,
        row.updated_at,
    )


_TEMPLATE_COLUMNS = (
    templates.c.id,
    templates.c.name,
    templates.c.type,
    templates.c.input_format,
    templates.c.output_format,
    templates.c.latest_version,
    templates.c.created_at,
    templates.c.updated_at,
)


def _template_row(conn: Connection, customer_id: uuid.UUID, name: str) -> AnyRow:
    row = conn.execute(
        select(*_TEMPLATE_COLUMNS).where(
            templates.c.customer_id == customer_id, templates.c.name == name
        )
    ).first()
    if row is None:
        raise TemplateNotFound(name)
    return row


def template_source(
    name: str,
    version: int,
    kind: TemplateType,
    input_format: Format,
    output_format: Format,
    source: str,
) -> TemplateSource:
    """A ``TemplateSource``, or 400 ``invalid_template`` saying what is wrong with it."""
    try:
        return TemplateSource(name, version, kind, input_format, output_format, source)
    except ValueError as exc:
        raise ValidationFailed([FieldError("invalid_template", None, str(exc))]) from None


def create_template(
    conn: Connection,
    *,
    customer_id: uuid.UUID,
    name: str,
    kind: TemplateType,
    input_format: Format,
    output_format: Format,
    source: str,
    now: datetime,
) -> TemplateSource:
    """A new template at version 1 (its source is stored as given; compile it first)."""
    _check_name(name)
    template = template_source(name, 1, kind, input_format, output_format, source)
    exists = conn.execute(
        select(templates.c.id).where(
            templates.c.customer_id == customer_id, templates.c.name == name
        )
    ).first()
    if exists is not None:
        raise TemplateExists(name)
    template_id = uuid.uuid4()
    conn.execute(
        insert(templates).values(
            id=template_id,
            customer_id=customer_id,
            name=name,
            type=template.type.value,
            input_format=template.input_format.value,
            output_format=template.output_format.value,
            latest_version=1,
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        insert(template_versions).values(
            template_id=template_id, version=1, source=source, created_at=now
        )
    )
    _bump(conn)
    return template


def add_version(
    conn: Connection, *, customer_id: uuid.UUID, name: str, source: str, now: datetime
) -> TemplateSource:
    """Edit a template: its new source becomes the next version (old ones stay)."""
    row = _template_row(conn, customer_id, name)
    version = row.latest_version + 1
    if len(source) > MAX_SOURCE_CHARS:
        raise ValidationFailed(
            [
                FieldError(
                    "too_long", "source", f"A template is at most {MAX_SOURCE_CHARS} characters"
                )
            ]
        )
    conn.execute(
        insert(template_versions).values(
            template_id=row.id, version=version, source=source, created_at=now
        )
    )
    conn.execute(
        update(templates)
        .where(templates.c.id == row.id)
        .values(latest_version=version, updated_at=now)
    )
    _bump(conn)
    return _source(name, version, row, source)


def list_templates(conn: Connection, customer_id: uuid.UUID) -> list[TemplateInfo]:
    rows = conn.execute(
        select(*_TEMPLATE_COLUMNS)
        .where(templates.c.customer_id == customer_id)
        .order_by(templates.c.name)
    )
    return [_info(row) for row in rows]


def show_template(
    conn: Connection, customer_id: uuid.UUID, name: str
) -> tuple[TemplateInfo, list[AnyRow], list[AnyRow]]:
    """The template, its versions (version, created_at) and where it is linked."""
    from pressline.accounts.tables import connectors

    row = _template_row(conn, customer_id, name)
    versions = list(
        conn.execute(
            select(template_versions.c.version, template_versions.c.created_at)
            .where(template_versions.c.template_id == row.id)
            .order_by(template_versions.c.version)
        )
    )
    links = list(
        conn.execute(
            select(
                connectors.c.prefix,
                endpoint_templates.c.endpoint,
                endpoint_templates.c.role,
                endpoint_templates.c.version,
            )
            .select_from(endpoint_templates.join(connectors))
            .where(endpoint_templates.c.template_id == row.id)
            .order_by(connectors.c.prefix, endpoint_templates.c.endpoint)
        )
    )
    return _info(row), versions, links


def load(
    conn: Connection, customer_id: uuid.UUID, name: str, version: int | None = None
) -> TemplateSource:
    """The customer's template ``name`` at ``version`` (None: the latest), ready to render."""
    row = _template_row(conn, customer_id, name)
    wanted = row.latest_version if version is None else version
    source = conn.execute(
        select(template_versions.c.source).where(
            template_versions.c.template_id == row.id, template_versions.c.version == wanted
        )
    ).scalar()
    if source is None:
        raise TemplateNotFound(name, wanted)
    return _source(name, wanted, row, source)


def delete_template(conn: Connection, customer_id: uuid.UUID, name: str) -> None:
    """Delete a template and every version; refused while an endpoint links it."""
    from pressline.accounts.tables import connectors

    row = _template_row(conn, customer_id, name)
    linked = conn.execute(
        select(connectors.c.prefix)
        .select_from(endpoint_templates.join(connectors))
        .where(endpoint_templates.c.template_id == row.id)
        .order_by(connectors.c.prefix)
    ).scalars()
    prefixes = sorted(set(linked))
    if prefixes:
        raise TemplateInUse(name, prefixes)
    conn.execute(delete(template_versions).where(template_versions.c.template_id == row.id))
    conn.execute(delete(templates).where(templates.c.id == row.id))
    _bump(conn)


# --- links ------------------------------------------------------------------------------


def link(
    conn: Connection,
    *,
    connector_id: uuid.UUID,
    customer_id: uuid.UUID,
    endpoint: Endpoint | str,
    role: Role | str,
    name: str,
    version: int | None,
    now: datetime,
) -> TemplateSource:
    """Apply the customer's template ``name`` on a connector endpoint (replacing a link)."""
    endpoint, role = Endpoint(endpoint), Role(role)
    template = load(conn, customer_id, name, version)
    wanted = LINK_TYPES[(endpoint, role)]
    if template.type is not wanted:
        raise ValidationFailed(
            [FieldError("wrong_template_type", "template",
                        f"The {endpoint} {role} takes a {wanted} template; "
                        f"'{name}' is a {template.type} template")]
        )  # fmt: skip
    template_id = _template_row(conn, customer_id, name).id
    unlink(conn, connector_id=connector_id, endpoint=endpoint, role=role)
    conn.execute(
        insert(endpoint_templates).values(
            connector_id=connector_id,
            endpoint=endpoint.value,
            role=role.value,
            template_id=template_id,
            version=version,
            created_at=now,
        )
    )
    _bump(conn)
    return template


def unlink(
    conn: Connection, *, connector_id: uuid.UUID, endpoint: Endpoint | str, role: Role | str
) -> bool:
    """Stop applying a template on that endpoint; whether one was linked."""
    result = conn.execute(
        delete(endpoint_templates).where(
            endpoint_templates.c.connector_id == connector_id,
            endpoint_templates.c.endpoint == Endpoint(endpoint).value,
            endpoint_templates.c.role == Role(role).value,
        )
    )
    _bump(conn)
    return result.rowcount > 0


def any_links(conn: Connection) -> bool:
    """Whether any endpoint applies a template (then servers start render workers early)."""
    return conn.execute(select(endpoint_templates.c.connector_id).limit(1)).first() is not None


@dataclass(frozen=True, slots=True)
class LinkedTemplate:
    endpoint: Endpoint
    role: Role
    customer_id: uuid.UUID
    template: TemplateSource
    pinned: bool  # a fixed version, rather than the latest


def connector_links(conn: Connection, connector_id: uuid.UUID) -> list[LinkedTemplate]:
    """The templates a connector applies, each at its linked (or latest) version."""
    version = func.coalesce(endpoint_templates.c.version, templates.c.latest_version)
    rows = conn.execute(
        select(
            endpoint_templates.c.endpoint,
            endpoint_templates.c.role,
            endpoint_templates.c.version.label("pinned"),
            templates.c.customer_id,
            templates.c.name,
            templates.c.type,
            templates.c.input_format,
            templates.c.output_format,
            template_versions.c.version,
            template_versions.c.source,
        )
        .select_from(
            endpoint_templates.join(
                templates, templates.c.id == endpoint_templates.c.template_id
            ).join(
                template_versions,
                (template_versions.c.template_id == templates.c.id)
                & (template_versions.c.version == version),
            )
        )
        .where(endpoint_templates.c.connector_id == connector_id)
    )
    return [
        LinkedTemplate(
            Endpoint(row.endpoint),
            Role(row.role),
            row.customer_id,
            _source(row.name, row.version, row, row.source),
            row.pinned is not None,
        )
        for row in rows
    ]


# --- lookup tables ----------------------------------------------------------------------


def _table_row(conn: Connection, customer_id: uuid.UUID, name: str) -> AnyRow:
    row = conn.execute(
        select(
            lookup_tables.c.id,
            lookup_tables.c.name,
            lookup_tables.c.fallback,
            lookup_tables.c.description,
            lookup_tables.c.updated_at,
        ).where(lookup_tables.c.customer_id == customer_id, lookup_tables.c.name == name)
    ).first()
    if row is None:
        raise LookupTableNotFound(name)
    return row


def _write_rows(conn: Connection, table_id: uuid.UUID, rows: Iterable[tuple[str, str]]) -> None:
    values = [
        {"table_id": table_id, "position": position, "key": key, "value": value}
        for position, (key, value) in enumerate(rows)
    ]
    if values:
        conn.execute(insert(lookup_rows), values)


def save_lookup(
    conn: Connection,
    *,
    customer_id: uuid.UUID,
    table: LookupTable,
    now: datetime,
    replace: bool = False,
) -> None:
    """Store a (checked) table; with ``replace``, an existing one's rows are replaced."""
    existing = conn.execute(
        select(lookup_tables.c.id).where(
            lookup_tables.c.customer_id == customer_id, lookup_tables.c.name == table.name
        )
    ).scalar()
    if existing is not None and not replace:
        raise LookupTableExists(table.name)
    if existing is None:
        existing = uuid.uuid4()
        conn.execute(
            insert(lookup_tables).values(
                id=existing,
                customer_id=customer_id,
                name=table.name,
                fallback=table.fallback,
                description=table.description,
                updated_at=now,
            )
        )
    else:
        conn.execute(delete(lookup_rows).where(lookup_rows.c.table_id == existing))
        conn.execute(
            update(lookup_tables)
            .where(lookup_tables.c.id == existing)
            .values(fallback=table.fallback, description=table.description, updated_at=now)
        )
    _write_rows(conn, existing, table.to_rows())
    _bump(conn)


def load_lookup(conn: Connection, customer_id: uuid.UUID, name: str) -> LookupTable:
    row = _table_row(conn, customer_id, name)
    rows = conn.execute(
        select(lookup_rows.c.key, lookup_rows.c.value)
        .where(lookup_rows.c.table_id == row.id)
        .order_by(lookup_rows.c.position)
    )
    return LookupTable(name, {key: value for key, value in rows}, row.fallback, row.description)


def load_lookups(conn: Connection, customer_id: uuid.UUID) -> list[LookupTable]:
    """Every table of the customer, rows in order (what templates of theirs may call)."""
    rows = conn.execute(
        select(
            lookup_tables.c.name,
            lookup_tables.c.fallback,
            lookup_tables.c.description,
            lookup_rows.c.key,
            lookup_rows.c.value,
        )
        .select_from(lookup_tables.outerjoin(lookup_rows))
        .where(lookup_tables.c.customer_id == customer_id)
        .order_by(lookup_tables.c.name, lookup_rows.c.position)
    )
    found: dict[str, tuple[dict[str, str], str | None, str]] = {}
    for row in rows:
        entry = found.setdefault(row.name, ({}, row.fallback, row.description))
        if row.key is not None:
            entry[0][row.key] = row.value
    return [
        LookupTable(name, rows_, fallback, text) for name, (rows_, fallback, text) in found.items()
    ]


def list_lookups(conn: Connection, customer_id: uuid.UUID) -> list[AnyRow]:
    """Each table's name, fallback, row count and last change."""
    count = func.count(lookup_rows.c.key)
    return list(
        conn.execute(
            select(
                lookup_tables.c.name,
                lookup_tables.c.fallback,
                lookup_tables.c.description,
                lookup_tables.c.updated_at,
                count.label("rows"),
            )
            .select_from(lookup_tables.outerjoin(lookup_rows))
            .where(lookup_tables.c.customer_id == customer_id)
            .group_by(
                lookup_tables.c.id,
                lookup_tables.c.name,
                lookup_tables.c.fallback,
                lookup_tables.c.description,
                lookup_tables.c.updated_at,
            )
            .order_by(lookup_tables.c.name)
        )
    )


def set_row(
    conn: Connection, *, customer_id: uuid.UUID, name: str, key: str, value: str, now: datetime
) -> tuple[str, str]:
    """Add a row at the end, or change the value of an existing key (one row written)."""
    row = _table_row(conn, customer_id, name)
    [(key, value)] = LookupTable.from_rows(name, [(key, value)]).to_rows()  # checks the row
    changed = conn.execute(
        update(lookup_rows)
        .where(lookup_rows.c.table_id == row.id, lookup_rows.c.key == key)
        .values(value=value)
    )
    if changed.rowcount == 0:
        count, last = conn.execute(
            select(func.count(), func.max(lookup_rows.c.position)).where(
                lookup_rows.c.table_id == row.id
            )
        ).one()
        if count >= MAX_ROWS:
            raise ValidationFailed([FieldError("too_many", "rows", f"At most {MAX_ROWS} rows")])
        position = 0 if last is None else last + 1
        conn.execute(
            insert(lookup_rows).values(table_id=row.id, position=position, key=key, value=value)
        )
    conn.execute(update(lookup_tables).where(lookup_tables.c.id == row.id).values(updated_at=now))
    _bump(conn)
    return key, value


def set_fallback(
    conn: Connection, *, customer_id: uuid.UUID, name: str, fallback: str | None, now: datetime
) -> None:
    """Set (or with None remove) the value answered for keys the table lacks."""
    row = _table_row(conn, customer_id, name)
    LookupTable.from_rows(name, [], fallback=fallback)  # checks its length
    conn.execute(
        update(lookup_tables)
        .where(lookup_tables.c.id == row.id)
        .values(fallback=fallback, updated_at=now)
    )
    _bump(conn)


def delete_row(
    conn: Connection, *, customer_id: uuid.UUID, name: str, key: str, now: datetime
) -> bool:
    """Remove one row; whether the key was there."""
    row = _table_row(conn, customer_id, name)
    result = conn.execute(
        delete(lookup_rows).where(
            lookup_rows.c.table_id == row.id, lookup_rows.c.key == key.strip()
        )
    )
    conn.execute(update(lookup_tables).where(lookup_tables.c.id == row.id).values(updated_at=now))
    _bump(conn)
    return result.rowcount > 0


def delete_lookup(conn: Connection, *, customer_id: uuid.UUID, name: str) -> None:
    row = _table_row(conn, customer_id, name)
    conn.execute(delete(lookup_rows).where(lookup_rows.c.table_id == row.id))
    conn.execute(delete(lookup_tables).where(lookup_tables.c.id == row.id))
    _bump(conn)
