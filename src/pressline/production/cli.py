"""``pressline facilities``: the production side's facilities, keys and subscriptions."""

from __future__ import annotations

from typing import Annotated

import typer

from pressline.catalog import service as catalog
from pressline.cli_support import JsonOption, emit, emit_one, reports_errors, transaction
from pressline.config import get_settings
from pressline.db import utcnow
from pressline.postbacks import outbound, signing
from pressline.production import repository, service

facilities = typer.Typer(
    help="Production facilities: their API keys and where their orders are pushed.",
    no_args_is_help=True,
)
credentials = typer.Typer(
    help="Create, list and revoke a facility's production API keys.", no_args_is_help=True
)
facilities.add_typer(credentials, name="credentials")

FacilityArg = Annotated[str, typer.Argument(help="The facility's id (shipping reference data).")]


def _production_url() -> str:
    return f"{get_settings().base_url()}/production/v2"


@facilities.command("list")
def list_facilities(as_json: bool = JsonOption) -> None:
    """List the facilities of the shipping reference data and how each gets its orders."""
    with transaction() as conn:
        network = catalog.load(conn).shipping
        subscribed = {row.facility_id: row for row in repository.all_subscriptions(conn)}
    emit(
        [{"id": f.id, "name": f.name, "country": f.country,
          "timezone": f.calendar.timezone.key,
          "orderSubmitUrl": subscribed[f.id].order_submit_url if f.id in subscribed else None,
          "delivery": "push" if f.id in subscribed else "pull"}
         for f in network.facilities],
        as_json=as_json, title="Facilities",
    )  # fmt: skip


@credentials.command("create")
@reports_errors
def create_credentials(facility: FacilityArg, as_json: bool = JsonOption) -> None:
    """Issue a production API key for a facility (the secret is shown once)."""
    with transaction() as conn:
        service.check_facility(catalog.load(conn).shipping, facility)
        new = service.create_key(conn, facility_id=facility, now=utcnow())
    emit_one(
        {"facility": facility, "key": new.key, "apiKey": new.header_value,
         "ordersUrl": f"GET {_production_url()}/orders?status=passed",
         "statusUrl": f"POST {_production_url()}/order/status"},
        as_json=as_json,
    )  # fmt: skip


@credentials.command("list")
@reports_errors
def list_credentials(facility: FacilityArg, as_json: bool = JsonOption) -> None:
    """List a facility's keys (never their secrets)."""
    with transaction() as conn:
        rows = repository.list_keys(conn, facility)
    emit(
        [{"key": r.key, "createdAt": r.created_at.isoformat(),
          "state": "revoked" if r.revoked_at else "active"} for r in rows],
        as_json=as_json, title="Facility keys",
    )  # fmt: skip


@credentials.command("revoke")
@reports_errors
def revoke_credentials(
    facility: FacilityArg,
    key: Annotated[str, typer.Argument(help="The key to revoke (its public part, fk_…).")],
    as_json: bool = JsonOption,
) -> None:
    """Revoke a facility key at once: its next request gets 401."""
    with transaction() as conn:
        service.revoke_key(conn, facility_id=facility, key=key, now=utcnow())
    emit_one({"facility": facility, "key": key, "state": "revoked"}, as_json=as_json)


@facilities.command("subscribe")
@reports_errors
def subscribe(
    facility: FacilityArg,
    submit_url: Annotated[
        str, typer.Option("--submit-url", help="orderSubmitUrl: handed-off orders are POSTed here.")
    ],
    cancel_url: Annotated[
        str | None, typer.Option("--cancel-url", help="orderCancelUrl: cancel requests go here.")
    ] = None,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign/--no-sign",
            help="Sign pushed requests (Standard Webhooks) with a new secret, shown once.",
        ),
    ] = True,
    as_json: bool = JsonOption,
) -> None:
    """Push a facility's orders to its URLs instead of letting it pull them."""
    settings = get_settings()
    for param, url in (("submitUrl", submit_url), ("cancelUrl", cancel_url)):
        if url is not None:  # refused when saved, as the worker refuses it when sending
            outbound.check_url(
                url, resolve=outbound.system_resolver, allow_http=settings.postback_allow_http,
                allowed_networks=outbound.parse_networks(settings.postback_allowed_networks),
                param=param,
            )  # fmt: skip
    secret = signing.generate_secret() if sign else None
    with transaction() as conn:
        service.check_facility(catalog.load(conn).shipping, facility)
        service.subscribe(conn, facility_id=facility, submit_url=submit_url,
                          cancel_url=cancel_url, secret=secret, now=utcnow())  # fmt: skip
    emit_one({"facility": facility, "orderSubmitUrl": submit_url, "orderCancelUrl": cancel_url,
              "signingSecret": secret}, as_json=as_json)  # fmt: skip
