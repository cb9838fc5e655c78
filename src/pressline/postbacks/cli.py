"""``pressline triggers …`` and ``pressline deliveries …``: postbacks for the operator.

A trigger's URL is checked here, when it is saved (``outbound.check_url`` with the
operator's settings), and again by the worker before every delivery. The signing
secret is printed once, by ``create`` and ``rotate-secret``: Pressline keeps it to sign
with, but never shows it again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import typer

from pressline.accounts import service as accounts
from pressline.cli_support import JsonOption, console, emit, emit_one, reports_errors, transaction
from pressline.config import get_settings
from pressline.db import AnyRow, utcnow
from pressline.postbacks import deliveries as log
from pressline.postbacks import triggers as service
from pressline.postbacks import views
from pressline.postbacks.events import EventType
from pressline.postbacks.outbox import POSTBACK, DeliveryStatus, parse_message_id
from pressline.postbacks.sending import Sender
from pressline.purging import purge_in_chunks

triggers = typer.Typer(
    help="Create, list, rotate, enable, disable and delete customers' postback triggers.",
    no_args_is_help=True,
)
deliveries = typer.Typer(
    help="The delivery log: list and show postbacks and hand-offs, and redeliver them.",
    no_args_is_help=True,
)

TriggerArg = Annotated[str, typer.Argument(help="The trigger's id.")]
DeliveryArg = Annotated[str, typer.Argument(help="The delivery's id (msg_…, its webhook-id).")]


def _trigger_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a trigger id") from None


def _delivery_id(text: str) -> uuid.UUID:
    try:
        return parse_message_id(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a delivery id (msg_…)") from None


def _headers(values: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for value in values:
        name, colon, text = value.partition(":")
        if not colon:
            raise typer.BadParameter(f"'{value}' is not 'Name: value'", param_hint="--header")
        parsed[name.strip()] = text.strip()
    return parsed


def _trigger_view(row: AnyRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "customer": row.customer_reference_id,
        "event": row.event_type,
        "to": row.email if row.destination == "email" else f"{row.method} {row.url}",
        "format": row.format,
        "template": None
        if row.template_name is None
        else f"{row.template_name} v{row.template_version or 'latest'}",
        "enabled": row.enabled,
        "disabledReason": row.disabled_reason,
    }


def _trigger_detail(row: AnyRow) -> dict[str, Any]:
    return {
        **_trigger_view(row),
        "destination": row.destination,
        "url": row.url,
        "method": row.method,
        "email": row.email,
        "headers": ", ".join(sorted(row.headers or {})) or None,  # names only: may be secrets
        "previousSecretExpiresAt": row.previous_secret_expires_at,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }


@triggers.command("create")
@reports_errors
def create_trigger(
    customer: Annotated[str, typer.Argument(help="The customer's customerReferenceId.")],
    event: Annotated[
        str,
        typer.Option(help=f"The event: {', '.join(e.value for e in EventType)}."),
    ],
    url: Annotated[str | None, typer.Option(help="Webhook URL (https://…).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address instead of a URL.")] = None,
    method: Annotated[str, typer.Option(help="POST or PUT.")] = "POST",
    body_format: Annotated[str, typer.Option("--format", help="json or xml.")] = "json",
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help="Static header 'Name: value' (repeatable)."),
    ] = None,
    template: Annotated[
        str | None, typer.Option(help="A webhook_body/email_body template of the customer.")
    ] = None,
    template_version: Annotated[
        int | None, typer.Option(min=1, help="That template's version (default: its latest).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create a trigger; its signing secret is shown once."""
    spec = service.validate(
        service.TriggerSpec(
            event_type=event,
            destination="email" if email else "webhook",
            url=url,
            method=method,
            format=body_format,
            headers=_headers(header or []),
            email=email,
            template_name=template,
            template_version=template_version,
        )
    )
    if spec.url is not None:
        sender = Sender(get_settings())
        try:
            sender.check(spec.url)  # refused addresses are refused when saved, too
        finally:
            sender.close()
    with transaction() as conn:
        customer_id = accounts.customer_id(conn, customer)
        new = service.create_trigger(conn, customer_id=customer_id, spec=spec, now=utcnow())
    signed = spec.destination == "webhook"  # e-mails carry no signature
    emit_one({"id": str(new.id), "secret": new.secret if signed else None}, as_json=as_json)
    if signed and not as_json:
        console.print("Keep the secret: receivers verify with it. It is not shown again.")


@triggers.command("list")
@reports_errors
def list_triggers(
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """List triggers (never their secrets)."""
    with transaction() as conn:
        customer_id = None if customer is None else accounts.customer_id(conn, customer)
        rows = service.list_triggers(conn, customer_id=customer_id)
    emit([_trigger_view(row) for row in rows], as_json=as_json, title="Triggers")


@triggers.command("show")
@reports_errors
def show_trigger(trigger_id: TriggerArg, as_json: bool = JsonOption) -> None:
    """Show a trigger (static header names only, no secret)."""
    with transaction() as conn:
        row = service.get_trigger(conn, _trigger_id(trigger_id))
    emit_one(_trigger_detail(row), as_json=as_json)


@triggers.command("rotate-secret")
@reports_errors
def rotate_secret(
    trigger_id: TriggerArg,
    grace_hours: Annotated[
        float,
        typer.Option(
            min=0, max=24 * 30, help="Hours the old secret keeps signing too (0: stop at once)."
        ),
    ] = 24,
    as_json: bool = JsonOption,
) -> None:
    """Give a trigger a new secret (shown once); the old one signs too for the grace period."""
    grace = timedelta(hours=grace_hours)
    with transaction() as conn:
        secret = service.rotate_secret(conn, _trigger_id(trigger_id), grace=grace, now=utcnow())
    emit_one(
        {"id": trigger_id, "secret": secret, "previousSecretValidHours": grace_hours},
        as_json=as_json,
    )


@triggers.command("enable")
@reports_errors
def enable_trigger(trigger_id: TriggerArg, as_json: bool = JsonOption) -> None:
    """Enable a trigger again (e.g. after its receiver answered 410)."""
    with transaction() as conn:
        service.set_enabled(conn, _trigger_id(trigger_id), enabled=True, now=utcnow())
    emit_one({"id": trigger_id, "enabled": True}, as_json=as_json)


@triggers.command("disable")
@reports_errors
def disable_trigger(
    trigger_id: TriggerArg,
    reason: Annotated[str, typer.Option(help="Why, kept with the trigger.")] = "",
    as_json: bool = JsonOption,
) -> None:
    """Disable a trigger: nothing more is queued for it and its pending deliveries stop."""
    with transaction() as conn:
        service.set_enabled(
            conn, _trigger_id(trigger_id), enabled=False, now=utcnow(), reason=reason or None
        )
    emit_one({"id": trigger_id, "enabled": False}, as_json=as_json)


@triggers.command("delete")
@reports_errors
def delete_trigger(trigger_id: TriggerArg, as_json: bool = JsonOption) -> None:
    """Delete a trigger; what it sent stays in the delivery log."""
    with transaction() as conn:
        service.delete_trigger(conn, _trigger_id(trigger_id))
    emit_one({"id": trigger_id, "deleted": True}, as_json=as_json)


@deliveries.command("list")
@reports_errors
def list_deliveries(
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    order: Annotated[str | None, typer.Option(help="Only this order's (Pressline id).")] = None,
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(DeliveryStatus.ALL)}.")
    ] = None,
    trigger: Annotated[str | None, typer.Option(help="Only this trigger's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: bool = JsonOption,
) -> None:
    """List deliveries, newest first."""
    if status is not None and status not in DeliveryStatus.ALL:
        raise typer.BadParameter(f"one of {', '.join(DeliveryStatus.ALL)}", param_hint="--status")
    try:
        order_id = None if order is None else uuid.UUID(order)
    except ValueError:
        raise typer.BadParameter("an order's Pressline id", param_hint="--order") from None
    with transaction() as conn:
        customer_id = None if customer is None else accounts.customer_id(conn, customer)
        rows = log.list_deliveries(
            conn,
            customer_id=customer_id,
            order_id=order_id,
            status=status,
            trigger_id=None if trigger is None else _trigger_id(trigger),
            limit=limit,
        )
    emit([views.delivery_summary(row) for row in rows], as_json=as_json, title="Deliveries")


@deliveries.command("show")
@reports_errors
def show_delivery(delivery_id: DeliveryArg, as_json: bool = JsonOption) -> None:
    """Show a delivery with every attempt (time, status, latency, error)."""
    wanted = _delivery_id(delivery_id)
    with transaction() as conn:
        row = log.get_delivery(conn, wanted)
        attempts = log.attempts_of(conn, [wanted])[wanted]
    record = {
        **views.delivery_summary(row),
        "trigger": None if row.trigger_id is None else str(row.trigger_id),
        "lastError": row.last_error,
        "deliveredAt": row.delivered_at,
        "body": row.body,
        "attemptLog": [views.attempt_view(attempt) for attempt in attempts],
    }
    if as_json:
        emit_one(record, as_json=True)
        return
    emit_one({k: v for k, v in record.items() if k != "attemptLog"}, as_json=False)
    emit([views.attempt_view(attempt) for attempt in attempts], as_json=False, title="Attempts")


@deliveries.command("redeliver")
@reports_errors
def redeliver(delivery_id: DeliveryArg, as_json: bool = JsonOption) -> None:
    """Queue a delivery again now (same webhook-id and body, a fresh signature and retries)."""
    with transaction() as conn:
        row = log.get_delivery(conn, _delivery_id(delivery_id))
        log.redeliver(conn, row.id, now=utcnow())
        trigger_off = row.purpose == POSTBACK and (
            row.trigger_id is None or not service.get_trigger(conn, row.trigger_id).enabled
        )
    emit_one({"id": delivery_id, "status": DeliveryStatus.PENDING}, as_json=as_json)
    if trigger_off and not as_json:
        console.print("Note: its trigger is disabled or deleted: the delivery will not be sent.")


@deliveries.command("purge")
@reports_errors
def purge(
    older_than_days: Annotated[
        int, typer.Option(min=1, max=3650, help="Delete finished deliveries older than this.")
    ] = 30,
    as_json: bool = JsonOption,
) -> None:
    """Delete delivered, failed and disabled deliveries (with their attempts) last changed
    more than N days ago; pending ones are kept."""
    before = utcnow() - timedelta(days=older_than_days)
    deleted = purge_in_chunks(transaction, log.purge, before=before)
    emit_one({"deleted": deleted, "olderThanDays": older_than_days}, as_json=as_json)
