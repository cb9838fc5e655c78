"""``pressline requests``: list, show and purge the request log."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from pressline.cli_support import JsonOption, emit, emit_one, reports_errors, transaction
from pressline.config import get_settings
from pressline.db import AnyRow, utcnow
from pressline.errors import RequestNotFound
from pressline.purging import purge_in_chunks
from pressline.requestlog import store

requests = typer.Typer(
    help="The request log: every call to a connector endpoint, raw body to final order.",
    no_args_is_help=True,
)

_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> datetime:
    """``30m``, ``2h``, ``7d`` ago, or an ISO 8601 time (UTC unless it says otherwise)."""
    match = _AGO.match(value.strip())
    if match:
        return utcnow() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter("use 30m, 2h, 7d or an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utcnow().tzinfo)


def _summary(row: AnyRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "connector": row.prefix,
        "customer": row.customer_reference_id,
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "latencyMs": round(row.latency_us / 1000, 2),
        "orderId": str(row.order_id) if row.order_id else None,
        "template": row.template,
    }


@requests.command("list")
@reports_errors
def list_requests(
    connector: Annotated[str | None, typer.Option(help="Only this connector's (prefix).")] = None,
    customer: Annotated[
        str | None, typer.Option(help="Only this customer's (customerReferenceId).")
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(help="Only those that touched this order (its id, or its "
                     "orderReferenceId; with --customer when several customers use it)."),
    ] = None,
    status: Annotated[int | None, typer.Option(help="Only this HTTP status.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only newer ones: 30m, 2h, 7d, or an ISO 8601 time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    as_json: bool = JsonOption,
) -> None:  # fmt: skip
    """List logged requests, newest first (entries are written within a second)."""
    with transaction() as conn:
        order_ref = store.find_order(conn, order, customer) if order else None
        filters = store.Filters(
            prefix=connector,
            customer_reference_id=customer,
            order=order_ref,
            status=status,
            since=parse_since(since) if since else None,
        )
        rows = store.list_entries(conn, filters, limit=limit)
    emit([_summary(row) for row in rows], as_json=as_json, title="Requests")


@requests.command("show")
@reports_errors
def show_request(
    request_id: Annotated[str, typer.Argument(help="The request id (its Request-Id header).")],
    as_json: bool = JsonOption,
) -> None:
    """Show one request: raw body, transformed request, response body (secrets redacted)."""
    with transaction() as conn:
        row = store.get_entry(conn, request_id)
    if row is None:
        raise RequestNotFound(request_id)
    emit_one(
        {**_summary(row), "orderKey": row.order_key, "requestBody": row.request_body,
         "transformedRequest": row.transformed_request, "responseBody": row.response_body},
        as_json=as_json,
    )  # fmt: skip


@requests.command("purge")
@reports_errors
def purge_requests(
    older_than_days: Annotated[
        int | None,
        typer.Option(
            min=0, help="Purge older entries (default: PRESSLINE_REQUEST_LOG_RETENTION_DAYS)."
        ),
    ] = None,
    as_json: bool = JsonOption,
) -> None:  # fmt: skip
    """Delete entries older than the retention (for cron, when servers do not purge)."""
    days = get_settings().request_log_retention_days if older_than_days is None else older_than_days
    before = utcnow() - timedelta(days=days)
    total = purge_in_chunks(transaction, store.purge, before=before)
    emit_one({"deleted": total, "olderThanDays": days}, as_json=as_json)
