"""``pressline orders``: the operator's order commands.

Every move follows the lifecycle (docs/adr/0010) as the ``operator`` actor; a reason
given with ``--reason`` goes into the order's event log.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from sqlalchemy import Connection

from pressline.accounts import service as accounts_service
from pressline.accounts.keys import Principal
from pressline.catalog import service as catalog
from pressline.cli_support import JsonOption, emit, emit_one, reports_errors, transaction
from pressline.config import get_settings
from pressline.db import utcnow
from pressline.errors import OrderNotFound
from pressline.orders import journal, operator, repository, service
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus

orders = typer.Typer(
    help="Inspect and move orders: what needs attention, approve, hold, release, set status.",
    no_args_is_help=True,
)

CustomerArg = Annotated[str, typer.Argument(help="The order's customerReferenceId.")]
OrderArg = Annotated[str, typer.Argument(help="Order id or orderReferenceId.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why; recorded in the order's event log.")
]


def _principal(conn: Connection, customer: str) -> Principal:
    return Principal(accounts_service.customer_id(conn, customer), customer)


def _move(customer: str, order: str, target: FulfillmentStatus | Literal["approve", "release"],
          reason: str | None) -> dict[str, str]:  # fmt: skip
    """Move an order as the operator to ``target``, or approve or release it."""
    with transaction() as conn:
        principal = _principal(conn, customer)
        row = repository.lock_order(conn, principal.customer_id, order)
        if row is None:
            raise OrderNotFound(order)
        if target == "approve":
            target = operator.approve_target(row)
        elif target == "release":
            target = operator.release_target(conn, row)
        previous = service.set_status(
            conn, principal=principal, order_key=str(row.id), status=target, now=utcnow(),
            billing_state=FinancialStatus(get_settings().billing_state), reason=reason,
        )  # fmt: skip
    return {"order": order, "from": previous, "to": target.value}


@orders.command("set-status")
@reports_errors
def set_status(
    customer: CustomerArg,
    order: OrderArg,
    status: Annotated[FulfillmentStatus, typer.Argument(help="New fulfillmentStatus.")],
    reason: ReasonOption = None,
    as_json: bool = JsonOption,
) -> None:
    """Move an order (every item not canceled) to STATUS, if the lifecycle allows it."""
    emit_one(_move(customer, order, status, reason), as_json=as_json)


@orders.command("approve")
@reports_errors
def approve(
    customer: CustomerArg, order: OrderArg, reason: ReasonOption = None, as_json: bool = JsonOption
) -> None:
    """Approve an order waiting in pending_approval: it passes and goes to its facility."""
    emit_one(_move(customer, order, "approve", reason), as_json=as_json)


@orders.command("hold")
@reports_errors
def hold(
    customer: CustomerArg, order: OrderArg, reason: ReasonOption = None, as_json: bool = JsonOption
) -> None:
    """Put an order on hold (before production); release it later with `release`."""
    emit_one(_move(customer, order, FulfillmentStatus.ON_HOLD, reason), as_json=as_json)


@orders.command("release")
@reports_errors
def release(
    customer: CustomerArg, order: OrderArg, reason: ReasonOption = None, as_json: bool = JsonOption
) -> None:
    """Release a held order back to the status it was held in."""
    emit_one(_move(customer, order, "release", reason), as_json=as_json)


@orders.command("attention")
def attention(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    as_json: bool = JsonOption,
) -> None:
    """Orders that need someone: on_hold, pending_approval, failed, or delayed."""
    with transaction() as conn:
        rows = journal.needing_attention(conn, limit=limit)
    emit([operator.attention_view(row) for row in rows], as_json=as_json,
         title="Orders needing attention")  # fmt: skip


@orders.command("show")
@reports_errors
def show(customer: CustomerArg, order: OrderArg, as_json: bool = JsonOption) -> None:
    """Show an order with its statuses, packages and event log."""
    with transaction() as conn:
        principal = _principal(conn, customer)
        reference = catalog.load(conn)
        view = service.get_order(
            conn, principal=principal, order_key=order, catalog=reference.catalog
        )
    if as_json:
        emit_one(view, as_json=True)
        return
    emit_one(
        {key: view[key] for key in ("id", "orderReferenceId", "fulfillmentStatus",
                                    "financialStatus", "orderType", "createdAt", "updatedAt")},
        as_json=False,
    )  # fmt: skip
    log = [dict(entry, item=None) for entry in view["history"]]
    for item in view["items"]:
        log += [dict(entry, item=item["itemReferenceId"]) for entry in item["eventLog"]]
    log.sort(key=lambda entry: int(entry["id"]))
    emit(
        [{"at": e["createdAt"], "item": e["item"], "actor": e["actor"], "type": e["type"],
          "from": e["fromStatus"], "to": e["toStatus"], "message": e["message"]} for e in log],
        as_json=False, title="Event log",
    )  # fmt: skip
