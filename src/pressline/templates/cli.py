"""``pressline templates|lookups``: manage, link and try out customers' templates."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape

from pressline.accounts import repository as accounts_repository
from pressline.accounts import service as accounts
from pressline.cli_support import (
    JsonOption,
    console,
    emit,
    emit_one,
    err_console,
    reports_errors,
    transaction,
)
from pressline.db import utcnow
from pressline.errors import ConnectorNotFound, DomainError, FieldError, ValidationFailed
from pressline.orders.schemas import OrderCreate
from pressline.templates import store
from pressline.templates.endpoint import CancelRequest
from pressline.templates.formats import Format, JsonValue, PayloadError, parse
from pressline.templates.lookups import LookupTable, LookupTables, read_csv, write_csv
from pressline.templates.model import TemplateSource, TemplateType
from pressline.templates.render import check_template, render, validate_output
from pressline.templates.store import Endpoint, Role

templates = typer.Typer(
    help="Create, version, link and test customers' Jinja2 templates.", no_args_is_help=True
)
lookups = typer.Typer(
    help="Customers' lookup tables (key → value) that templates call with lookups().",
    no_args_is_help=True,
)

#: What ``pathOrderId`` (the order key in the cancel URL) is when rendering a sample.
SAMPLE_PATH_ORDER_ID = "SAMPLE-ORDER-ID"

CustomerOption = Annotated[
    str, typer.Option("--customer", "-c", help="The customer's customerReferenceId.")
]
NameArgument = Annotated[str, typer.Argument(help="The template's name.")]
TableArgument = Annotated[
    str, typer.Argument(help="The lookup table's name (as templates use it).")
]
VersionOption = Annotated[
    int | None, typer.Option("--version", "-v", min=1, help="A version (default: the latest).")
]


def _read(path: Path) -> str:
    try:
        return _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}") from None


def _info(info: store.TemplateInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "type": info.type.value,
        "inputFormat": info.input_format.value,
        "outputFormat": info.output_format.value,
        "latestVersion": info.latest_version,
        "updatedAt": info.updated_at.isoformat(),
    }


# --- templates ----------------------------------------------------------------------------


@templates.command("create")
@reports_errors
def create(
    name: NameArgument,
    customer: CustomerOption,
    file: Annotated[Path, typer.Option("--file", "-f", help="The template's Jinja2 source.")],
    type_: Annotated[
        TemplateType, typer.Option("--type", "-t", help="What the template transforms.")
    ],
    input_format: Annotated[
        Format, typer.Option("--input-format", help="The input: json, or xml parsed into a dict.")
    ] = Format.JSON,
    output_format: Annotated[
        Format, typer.Option("--output-format", help="The output: json or xml.")
    ] = Format.JSON,
    as_json: bool = JsonOption,
) -> None:
    """Create a template (version 1) from a file; it is checked to compile first."""
    source = _read(file)
    # Refused before it is stored if it does not compile (the error gives its line).
    check_template(store.template_source(name, 1, type_, input_format, output_format, source))
    with transaction() as conn:
        created = store.create_template(
            conn,
            customer_id=accounts.customer_id(conn, customer),
            name=name,
            kind=type_,
            input_format=input_format,
            output_format=output_format,
            source=source,
            now=utcnow(),
        )
    emit_one({"name": created.name, "version": created.version, "type": created.type.value},
             as_json=as_json)  # fmt: skip


@templates.command("import")
@reports_errors
def import_version(
    name: NameArgument,
    customer: CustomerOption,
    file: Annotated[Path, typer.Option("--file", "-f", help="The new Jinja2 source.")],
    as_json: bool = JsonOption,
) -> None:
    """Edit a template: the file becomes its next version (earlier versions stay).

    Endpoints linked to "latest" apply it within PRESSLINE_REFERENCE_REFRESH_SECONDS;
    those linked to a fixed version keep theirs.
    """
    source = _read(file)
    with transaction() as conn:
        customer_id = accounts.customer_id(conn, customer)
        current = store.load(conn, customer_id, name)
    check_template(
        store.template_source(
            name, current.version + 1, current.type, current.input_format,
            current.output_format, source,
        )
    )  # fmt: skip
    with transaction() as conn:
        added = store.add_version(
            conn, customer_id=customer_id, name=name, source=source, now=utcnow()
        )
    emit_one({"name": added.name, "version": added.version}, as_json=as_json)


@templates.command("list")
@reports_errors
def list_(customer: CustomerOption, as_json: bool = JsonOption) -> None:
    """List a customer's templates."""
    with transaction() as conn:
        infos = store.list_templates(conn, accounts.customer_id(conn, customer))
    emit([_info(info) for info in infos], as_json=as_json, title="Templates")


@templates.command("show")
@reports_errors
def show(
    name: NameArgument,
    customer: CustomerOption,
    version: VersionOption = None,
    source: Annotated[bool, typer.Option("--source", help="Also print the source.")] = False,
    as_json: bool = JsonOption,
) -> None:
    """Show a template: its type and formats, versions, and the endpoints linking it."""
    with transaction() as conn:
        customer_id = accounts.customer_id(conn, customer)
        info, versions, links = store.show_template(conn, customer_id, name)
        # A version asked for is looked up (an unknown one is an error), with or without
        # --source: it was silently ignored.
        loaded = store.load(conn, customer_id, name, version) if source or version else None
    record = {
        **_info(info),
        "versions": [{"version": v.version, "createdAt": v.created_at.isoformat()}
                     for v in versions],
        "linkedTo": [{"connector": link.prefix, "endpoint": link.endpoint, "role": link.role,
                      "version": link.version or "latest"} for link in links],
    }  # fmt: skip
    if loaded is not None:
        if source:
            record["source"] = loaded.source
        record["sourceVersion"] = loaded.version
    emit_one(record, as_json=as_json)


@templates.command("export")
@reports_errors
def export(
    name: NameArgument,
    customer: CustomerOption,
    version: VersionOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if omitted.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Write a template's source (a version, or the latest)."""
    with transaction() as conn:
        loaded = store.load(conn, accounts.customer_id(conn, customer), name, version)
    if as_json:
        emit_one({"name": loaded.name, "version": loaded.version, "type": loaded.type.value,
                  "inputFormat": loaded.input_format.value,
                  "outputFormat": loaded.output_format.value, "source": loaded.source},
                 as_json=True)  # fmt: skip
    elif output is None:
        typer.echo(loaded.source, nl=False)
    else:
        output.write_text(loaded.source, encoding="utf-8")
        console.print(f"Wrote {escape(str(output))} ({loaded.label})")


@templates.command("delete")
@reports_errors
def delete(name: NameArgument, customer: CustomerOption, as_json: bool = JsonOption) -> None:
    """Delete a template and all its versions (refused while an endpoint links it)."""
    with transaction() as conn:
        store.delete_template(conn, accounts.customer_id(conn, customer), name)
    emit_one({"name": name, "deleted": True}, as_json=as_json)


def _connector(conn: Any, prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    row = accounts_repository.connector_by_prefix(conn, prefix)
    if row is None:
        raise ConnectorNotFound(prefix)
    return row.id, accounts.customer_id(conn, row.customer_reference_id)


EndpointArgument = Annotated[Endpoint, typer.Argument(help="submit or cancel.")]
RoleArgument = Annotated[
    Role, typer.Argument(help="request (customer format in) or response (customer format out).")
]


@templates.command("link")
@reports_errors
def link(
    prefix: Annotated[str, typer.Argument(help="The connector's URL prefix.")],
    endpoint: EndpointArgument,
    role: RoleArgument,
    name: Annotated[str, typer.Argument(help="A template of the connector's customer.")],
    version: Annotated[
        int | None,
        typer.Option("--version", "-v", min=1, help="Pin a version (default: always the latest)."),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Apply a template on a connector's endpoint (replaces the endpoint's earlier link).

    Only linked templates are ever applied. Running servers pick the link up within
    PRESSLINE_REFERENCE_REFRESH_SECONDS.
    """
    with transaction() as conn:
        connector_id, customer_id = _connector(conn, prefix)
        linked = store.link(
            conn,
            connector_id=connector_id,
            customer_id=customer_id,
            endpoint=endpoint,
            role=role,
            name=name,
            version=version,
            now=utcnow(),
        )
    emit_one({"connector": prefix, "endpoint": endpoint.value, "role": role.value,
              "template": name, "version": version or f"latest (now {linked.version})"},
             as_json=as_json)  # fmt: skip


@templates.command("unlink")
@reports_errors
def unlink(
    prefix: Annotated[str, typer.Argument(help="The connector's URL prefix.")],
    endpoint: EndpointArgument,
    role: RoleArgument,
    as_json: bool = JsonOption,
) -> None:
    """Stop applying a template on a connector's endpoint."""
    with transaction() as conn:
        connector_id, _ = _connector(conn, prefix)
        removed = store.unlink(conn, connector_id=connector_id, endpoint=endpoint, role=role)
    emit_one({"connector": prefix, "endpoint": endpoint.value, "role": role.value,
              "unlinked": removed}, as_json=as_json)  # fmt: skip


@templates.command("links")
@reports_errors
def links(
    prefix: Annotated[str, typer.Argument(help="The connector's URL prefix.")],
    as_json: bool = JsonOption,
) -> None:
    """List the templates a connector applies."""
    with transaction() as conn:
        connector_id, _ = _connector(conn, prefix)
        linked = store.connector_links(conn, connector_id)
    emit(
        [{"endpoint": item.endpoint.value, "role": item.role.value,
          "template": item.template.name,
          "version": item.template.version if item.pinned
          else f"latest ({item.template.version})"} for item in linked],
        as_json=as_json, title="Linked templates",
    )  # fmt: skip


def _file_template(
    path: Path, type_: TemplateType, input_format: Format | None, output_format: Format | None,
    input_file: Path,
) -> TemplateSource:  # fmt: skip
    return store.template_source(
        path.stem, 1, type_, input_format or _format_of(input_file),
        output_format or Format.JSON, _read(path),
    )  # fmt: skip


def _format_of(path: Path) -> Format:
    """A sample file's format, by its suffix."""
    return Format.XML if path.suffix.lower() == ".xml" else Format.JSON


def _lookup_files(specs: list[str]) -> list[LookupTable]:
    tables = []
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            raise typer.BadParameter(f"--lookup takes NAME=FILE.csv, not {spec!r}")
        tables.append(read_csv(_read_bytes(Path(file)), name=name, source=file))
    return tables


@templates.command("render")
def render_command(
    template: Annotated[
        str, typer.Argument(help="A stored template's name (with --customer), or a template file.")
    ],
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="A sample payload (JSON or XML).")
    ],
    customer: Annotated[
        str | None,
        typer.Option("--customer", "-c", help="Render the customer's stored template, "
                     "with the customer's lookup tables."),
    ] = None,
    version: VersionOption = None,
    type_: Annotated[
        TemplateType, typer.Option("--type", "-t", help="For a template file: its type.")
    ] = TemplateType.ORDER_SUBMIT_REQUEST,
    input_format: Annotated[
        Format | None,
        typer.Option("--input-format", help="For a template file (default: from --input's suffix).",
        ),
    ] = None,
    output_format: Annotated[
        Format | None, typer.Option("--output-format", help="For a template file (default json).")
    ] = None,
    lookup: Annotated[
        list[str] | None,
        typer.Option("--lookup", "-l", help="NAME=FILE.csv: a lookup table from a CSV file "
                     "(repeatable; replaces a stored table of that name)."),
    ] = None,
    request_file: Annotated[
        Path | None,
        typer.Option("--request", "-r", help="For a response template: the customer's request "
                     "(JSON or XML, by suffix), which it reads as `request` (default: {})."),
    ] = None,
    as_json: bool = JsonOption,
) -> None:  # fmt: skip
    """Render a template against a sample payload: the output, whether it is a valid
    canonical request (for request templates), and any error with its line.

    Exit status 0 when it rendered (and validated), 1 otherwise.
    """
    try:
        result = _render(
            template, input_file, customer, version, type_, input_format, output_format,
            _lookup_files(lookup or []), request_file,
        )  # fmt: skip
    except DomainError as exc:
        _report({"ok": False, "error": _error(exc)}, as_json=as_json)
        raise typer.Exit(1) from None
    _report(result, as_json=as_json)
    if not result["ok"]:
        raise typer.Exit(1)


def _customer_request(path: Path) -> JsonValue:
    """The customer's request from a file, read as the server reads it for a response
    template (by its request template's input format; here, by the file's suffix)."""
    try:
        return parse(_read_bytes(path), _format_of(path))
    except PayloadError as exc:
        raise ValidationFailed(
            [FieldError("invalid_input", "--request", f"{path}: {exc}")]
        ) from None


def _render(
    name: str,
    input_file: Path,
    customer: str | None,
    version: int | None,
    type_: TemplateType,
    input_format: Format | None,
    output_format: Format | None,
    files: list[LookupTable],
    request_file: Path | None,
) -> dict[str, Any]:
    stored: list[LookupTable] = []
    if customer is not None and not Path(name).is_file():
        with transaction() as conn:
            customer_id = accounts.customer_id(conn, customer)
            source = store.load(conn, customer_id, name, version)
            stored = store.load_lookups(conn, customer_id)
    else:
        source = _file_template(Path(name), type_, input_format, output_format, input_file)
        if customer is not None:
            with transaction() as conn:
                stored = store.load_lookups(conn, accounts.customer_id(conn, customer))
    by_name = {table.name: table for table in [*stored, *files]}
    payload = _read_bytes(input_file)
    variables: dict[str, Any] = {}
    request = None if request_file is None else _customer_request(request_file)
    if not source.type.is_request:  # what it sees of the customer's request
        variables["request"] = {} if request is None else request
    elif request is not None:
        raise typer.BadParameter("--request is for response templates (a request template "
                                 "reads the customer's request as its --input)")  # fmt: skip
    elif source.type is TemplateType.CANCEL_REQUEST:
        variables["pathOrderId"] = SAMPLE_PATH_ORDER_ID
    result: dict[str, Any] = {"template": source.label, "type": source.type.value}
    try:
        rendered = render(
            source, payload, lookups=LookupTables(by_name.values()), variables=variables
        )
    except DomainError as exc:
        return {**result, "ok": False, "error": _error(exc)}
    result["output"] = rendered.body.decode("utf-8", "replace")
    result["elapsedMs"] = round(rendered.elapsed_seconds * 1000, 2)
    models: dict[TemplateType, type[BaseModel]] = {
        TemplateType.ORDER_SUBMIT_REQUEST: OrderCreate,
        TemplateType.CANCEL_REQUEST: CancelRequest,
    }
    model = models.get(source.type)
    if model is None:
        return {**result, "ok": True, "validation": "not applicable (not a request template)"}
    try:
        validate_output(rendered, model)
    except ValidationFailed as exc:
        return {**result, "ok": False, "validation": "invalid", "error": _error(exc)}
    return {**result, "ok": True, "validation": "valid"}


def _error(exc: DomainError) -> dict[str, Any]:
    return {
        "code": exc.code,
        "message": exc.message,
        "line": getattr(exc, "line", None),
        "errors": [{"code": item.code, "param": item.param, "message": item.message}
                   for item in exc.field_errors],
    }  # fmt: skip


def _report(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    if "template" in result:
        console.print(f"[bold]{escape(result['template'])}[/bold] ({result['type']})")
    if "output" in result:
        console.print("[bold]output:[/bold]")
        typer.echo(result["output"])
    if "validation" in result:
        console.print(f"[bold]validation:[/bold] {escape(result['validation'])}")
    error = result.get("error")
    if error:
        err_console.print(f"[red]error:[/red] {escape(error['message'])}", soft_wrap=True)
        if len(error["errors"]) > 1:
            for item in error["errors"]:
                where = f"{item['param']}: " if item["param"] else ""
                err_console.print(f"  - {escape(where + item['message'])}", soft_wrap=True)


# --- lookups ------------------------------------------------------------------------------


def _table_from(
    name: str, file: Path | None, fallback: str | None, description: str
) -> LookupTable:
    if file is None:
        return LookupTable.from_rows(name, [], fallback=fallback, description=description)
    data = _read_bytes(file)
    return read_csv(data, name=name, fallback=fallback, description=description, source=file.name)


FallbackOption = Annotated[
    str | None,
    typer.Option("--fallback", help="The value for any key the table lacks (overrides strict)."),
]


@lookups.command("create")
@reports_errors
def lookup_create(
    name: TableArgument,
    customer: CustomerOption,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Rows from a two-column CSV (key,value).")
    ] = None,
    fallback: FallbackOption = None,
    description: Annotated[str, typer.Option(help="What the table maps.")] = "",
    as_json: bool = JsonOption,
) -> None:
    """Create a lookup table, empty or from a CSV file."""
    table = _table_from(name, file, fallback, description)
    with transaction() as conn:
        store.save_lookup(
            conn, customer_id=accounts.customer_id(conn, customer), table=table, now=utcnow()
        )
    emit_one({"name": name, "rows": len(table.rows), "fallback": fallback}, as_json=as_json)


@lookups.command("import")
@reports_errors
def lookup_import(
    name: TableArgument,
    customer: CustomerOption,
    file: Annotated[Path, typer.Option("--file", "-f", help="A two-column CSV (key,value).")],
    fallback: FallbackOption = None,
    as_json: bool = JsonOption,
) -> None:
    """Replace a table's rows with a CSV file's (creating the table if needed).

    All or nothing: a file with problems changes nothing and lists each by line.
    The table keeps its fallback unless --fallback gives a new one.
    """
    with transaction() as conn:
        customer_id = accounts.customer_id(conn, customer)
        try:
            current = store.load_lookup(conn, customer_id, name)
            kept_fallback, description = current.fallback, current.description
        except DomainError:
            kept_fallback, description = None, ""
    table = _table_from(
        name, file, fallback if fallback is not None else kept_fallback, description
    )
    with transaction() as conn:
        store.save_lookup(conn, customer_id=customer_id, table=table, now=utcnow(), replace=True)
    emit_one({"name": name, "rows": len(table.rows), "fallback": table.fallback}, as_json=as_json)


@lookups.command("export")
@reports_errors
def lookup_export(
    name: TableArgument,
    customer: CustomerOption,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if omitted.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Write a table as CSV (key,value), which imports back to the same table."""
    with transaction() as conn:
        table = store.load_lookup(conn, accounts.customer_id(conn, customer), name)
    if as_json:
        rows = [{"key": k, "value": v} for k, v in table.to_rows()]
        emit_one({"name": name, "fallback": table.fallback, "rows": rows}, as_json=True)
    elif output is None:
        typer.echo(write_csv(table), nl=False)
    else:
        output.write_text(write_csv(table), encoding="utf-8")
        console.print(f"Wrote {escape(str(output))} ({len(table.rows)} rows)")


@lookups.command("list")
@reports_errors
def lookup_list(customer: CustomerOption, as_json: bool = JsonOption) -> None:
    """List a customer's lookup tables."""
    with transaction() as conn:
        rows = store.list_lookups(conn, accounts.customer_id(conn, customer))
    emit(
        [{"name": r.name, "rows": r.rows, "fallback": r.fallback, "description": r.description,
          "updatedAt": r.updated_at.isoformat()} for r in rows],
        as_json=as_json, title="Lookup tables",
    )  # fmt: skip


@lookups.command("show")
@reports_errors
def lookup_show(
    name: TableArgument,
    customer: CustomerOption,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 50,
    as_json: bool = JsonOption,
) -> None:
    """Show a table's fallback and its first rows."""
    with transaction() as conn:
        table = store.load_lookup(conn, accounts.customer_id(conn, customer), name)
    rows = table.to_rows()
    if as_json:
        shown = [{"key": k, "value": v} for k, v in rows[:limit]]
        emit_one({"name": name, "fallback": table.fallback, "description": table.description,
                  "rowCount": len(rows), "rows": shown}, as_json=True)  # fmt: skip
        return
    fallback = escape(repr(table.fallback)) if table.fallback is not None else "none"
    console.print(f"[bold]{escape(name)}[/bold]: {len(rows)} rows, fallback: {fallback}")
    emit([{"key": k, "value": v} for k, v in rows[:limit]], as_json=False, title="Rows")


@lookups.command("set")
@reports_errors
def lookup_set(
    name: TableArgument,
    key: Annotated[str, typer.Argument(help="The key (e.g. a shop SKU).")],
    value: Annotated[str, typer.Argument(help="Its value (e.g. a productUid).")],
    customer: CustomerOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a row, or change the value of an existing key."""
    with transaction() as conn:
        stored_key, stored_value = store.set_row(
            conn,
            customer_id=accounts.customer_id(conn, customer),
            name=name,
            key=key,
            value=value,
            now=utcnow(),
        )
    emit_one({"name": name, "key": stored_key, "value": stored_value}, as_json=as_json)


@lookups.command("set-fallback")
@reports_errors
def lookup_set_fallback(
    name: TableArgument,
    customer: CustomerOption,
    value: Annotated[
        str | None, typer.Argument(help="The fallback value; omit to remove the fallback.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Set (or remove) the value answered for keys the table lacks."""
    with transaction() as conn:
        store.set_fallback(
            conn,
            customer_id=accounts.customer_id(conn, customer),
            name=name,
            fallback=value,
            now=utcnow(),
        )
    emit_one({"name": name, "fallback": value}, as_json=as_json)


@lookups.command("delete")
@reports_errors
def lookup_delete(
    name: TableArgument,
    customer: CustomerOption,
    key: Annotated[
        str | None, typer.Argument(help="Delete only this row; omit to delete the whole table.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Delete one row of a table, or (without KEY) the table."""
    with transaction() as conn:
        customer_id = accounts.customer_id(conn, customer)
        if key is None:
            store.delete_lookup(conn, customer_id=customer_id, name=name)
            found = True
        else:
            found = store.delete_row(
                conn, customer_id=customer_id, name=name, key=key, now=utcnow()
            )
    if not found:
        raise ValidationFailed(
            [FieldError("not_found", "key", f"Table '{name}' has no key {key!r}")]
        )
    emit_one({"name": name, "key": key, "deleted": True}, as_json=as_json)
