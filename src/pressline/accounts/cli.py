"""``pressline customers|connectors|keys``: the operator's account commands."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from pressline.accounts import repository, service
from pressline.cli_support import JsonOption, emit, emit_one, reports_errors, transaction
from pressline.config import get_settings
from pressline.db import utcnow
from pressline.errors import ConnectorNotFound

customers = typer.Typer(help="Create and list customers.", no_args_is_help=True)
connectors = typer.Typer(
    help="Create, list and show API connectors, and set their rate limits.", no_args_is_help=True
)
keys = typer.Typer(help="Create, list, rotate and revoke connector API keys.", no_args_is_help=True)


RateLimitOption = typer.Option(
    "--rate-limit",
    min=1,
    max=service.MAX_RATE_LIMIT_PER_SECOND,
    help="Requests per second for each of its keys (default: PRESSLINE_RATE_LIMIT).",
)


def _limit(per_second: int | None) -> str:
    return f"{per_second}/second" if per_second is not None else "default"


def endpoint_urls(prefix: str) -> dict[str, str]:
    base = f"{get_settings().base_url()}/api/{prefix}"
    return {
        "baseUrl": base,
        "submitOrder": f"POST {base}/order",
        "getOrder": f"GET {base}/{{orderId}}",
        "cancelOrder": f"POST {base}/{{orderId}}/cancel",
        "updateShipment": f"PUT {base}/{{orderId}}",
        "searchOrders": f"POST {base}/search",
    }


@customers.command("create")
@reports_errors
def create_customer(
    reference: Annotated[str, typer.Argument(help="Unique customerReferenceId, e.g. acme-shop.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    as_json: bool = JsonOption,
) -> None:
    """Create a customer."""
    with transaction() as conn:
        customer_id = service.create_customer(conn, reference_id=reference, name=name, now=utcnow())
    emit_one({"id": str(customer_id), "customerReferenceId": reference}, as_json=as_json)


@customers.command("list")
def list_customers(as_json: bool = JsonOption) -> None:
    """List every customer."""
    with transaction() as conn:
        rows = repository.list_customers(conn)
    emit(
        [{"customerReferenceId": r.reference_id, "name": r.name, "id": str(r.id),
          "createdAt": r.created_at.isoformat()} for r in rows],
        as_json=as_json, title="Customers",
    )  # fmt: skip


@connectors.command("create")
@reports_errors
def create_connector(
    customer: Annotated[str, typer.Argument(help="The customer's customerReferenceId.")],
    prefix: Annotated[str, typer.Argument(help="URL prefix: https://HOST/api/PREFIX/…")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    rate_limit: Annotated[int | None, RateLimitOption] = None,
    all_customers: Annotated[
        bool,
        typer.Option(
            "--all-customers",
            help="Serve every customer: each request names its own in the "
            "Customer-Reference-ID header (CUSTOMER owns the connector and its templates).",
        ),
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="A sandbox: its orders go to no facility and move on their own through "
            "passed, in_production, printed, shipped and delivered "
            "(PRESSLINE_SANDBOX_STEP_SECONDS apart).",
        ),
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Create a connector with its endpoints and first API key (the secret is shown once)."""
    with transaction() as conn:
        created = service.create_connector(
            conn,
            customer_reference_id=customer,
            prefix=prefix,
            name=name,
            now=utcnow(),
            rate_limit_per_second=rate_limit,
            all_customers=all_customers,
        )
        if sandbox:
            repository.set_connector_sandbox(conn, prefix, True)
    emit_one(
        {"prefix": prefix, "apiKey": created.key.header_value, "rateLimit": _limit(rate_limit),
         "allCustomers": all_customers, "sandbox": sandbox,
         **endpoint_urls(prefix)},
        as_json=as_json,
    )  # fmt: skip


@connectors.command("set-rate-limit")
@reports_errors
def set_rate_limit(
    prefix: Annotated[str, typer.Argument(help="The connector's URL prefix.")],
    per_second: Annotated[
        int | None,
        typer.Option(
            "--per-second",
            min=1,
            max=service.MAX_RATE_LIMIT_PER_SECOND,
            help="Requests per second allowed for each of the connector's API keys.",
        ),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Use the installation's PRESSLINE_RATE_LIMIT again.")
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Set how many requests per second each of a connector's keys may make.

    The limit is per key and shared by every API process (with Redis). Running servers
    apply it from the key's second request after the change; no restart is needed.
    """
    if (per_second is None) == (not default):
        raise typer.BadParameter("give either --per-second N or --default")
    with transaction() as conn:
        service.set_rate_limit(conn, prefix=prefix, per_second=per_second)
    emit_one({"prefix": prefix, "rateLimit": _limit(per_second)}, as_json=as_json)


@connectors.command("list")
def list_connectors(
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """List connectors and their base URLs."""
    with transaction() as conn:
        rows = repository.list_connectors(conn, customer)
    emit(
        [{"prefix": r.prefix, "customer": r.customer_reference_id, "name": r.name,
          "rateLimit": _limit(r.rate_limit_per_second), "allCustomers": r.all_customers,
          "baseUrl": endpoint_urls(r.prefix)["baseUrl"]} for r in rows],
        as_json=as_json, title="Connectors",
    )  # fmt: skip


@connectors.command("show")
@reports_errors
def show_connector(
    prefix: Annotated[str, typer.Argument(help="The connector's URL prefix.")],
    as_json: bool = JsonOption,
) -> None:
    """Show a connector and its five endpoint URLs."""
    with transaction() as conn:
        row = repository.connector_by_prefix(conn, prefix)
    if row is None:
        raise ConnectorNotFound(prefix)
    emit_one(
        {"prefix": row.prefix, "customer": row.customer_reference_id, "name": row.name,
         "rateLimit": _limit(row.rate_limit_per_second), "allCustomers": row.all_customers,
         **endpoint_urls(row.prefix)},
        as_json=as_json,
    )  # fmt: skip


@keys.command("create")
@reports_errors
def create_key(
    prefix: Annotated[str, typer.Argument(help="The connector's URL prefix.")],
    as_json: bool = JsonOption,
) -> None:
    """Issue another API key for a connector (the secret is shown once)."""
    with transaction() as conn:
        new = service.create_key(conn, prefix=prefix, now=utcnow())
    emit_one({"key": new.key, "apiKey": new.header_value}, as_json=as_json)


@keys.command("list")
@reports_errors
def list_keys(
    prefix: Annotated[str, typer.Argument(help="The connector's URL prefix.")],
    as_json: bool = JsonOption,
) -> None:
    """List a connector's keys (never their secrets)."""
    with transaction() as conn:
        row = repository.connector_by_prefix(conn, prefix)
        if row is None:
            raise ConnectorNotFound(prefix)
        rows = repository.list_keys(conn, row.id)
    now = utcnow()
    emit(
        [{"key": r.key, "createdAt": r.created_at.isoformat(),
          "expiresAt": r.expires_at.isoformat() if r.expires_at else None,
          "state": "revoked" if r.revoked_at else
                   "expired" if r.expires_at and r.expires_at <= now else "active"}
         for r in rows],
        as_json=as_json, title="API keys",
    )  # fmt: skip


@keys.command("rotate")
@reports_errors
def rotate_key(
    key: Annotated[str, typer.Argument(help="The key to replace (its public part, pk_…).")],
    grace_hours: Annotated[
        float, typer.Option(min=0, help="How long the old key keeps working.")
    ] = 24.0,
    as_json: bool = JsonOption,
) -> None:
    """Issue a replacement key; the old one stops working after the grace period."""
    now = utcnow()
    with transaction() as conn:
        rotated = service.rotate_key(conn, key=key, grace=timedelta(hours=grace_hours), now=now)
    hours = round((rotated.old_expires_at - now).total_seconds() / 3600, 2)
    new = rotated.key
    emit_one({"key": new.key, "apiKey": new.header_value, "oldKeyValidForHours": hours},
             as_json=as_json)  # fmt: skip


@keys.command("revoke")
@reports_errors
def revoke_key(
    key: Annotated[str, typer.Argument(help="The key to revoke (its public part, pk_…).")],
    as_json: bool = JsonOption,
) -> None:
    """Revoke a key at once: its next request gets 401."""
    with transaction() as conn:
        service.revoke_key(conn, key=key, now=utcnow())
    emit_one({"key": key, "state": "revoked"}, as_json=as_json)
