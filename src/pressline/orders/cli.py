"""``pressline orders``: the operator's order commands."""

from __future__ import annotations

from typing import Annotated

import typer

from pressline.accounts import repository as accounts
from pressline.accounts.repository import Principal
from pressline.cli_support import JsonOption, emit_one, reports_errors, transaction
from pressline.db import utcnow
from pressline.errors import CustomerNotFound
from pressline.orders import service
from pressline.orders.statuses import FulfillmentStatus

orders = typer.Typer(help="Inspect and move orders.", no_args_is_help=True)


@orders.command("set-status")
@reports_errors
def set_status(
    customer: Annotated[str, typer.Argument(help="The order's customerReferenceId.")],
    order: Annotated[str, typer.Argument(help="Order id or orderReferenceId.")],
    status: Annotated[FulfillmentStatus, typer.Argument(help="New fulfillmentStatus.")],
    as_json: bool = JsonOption,
) -> None:
    """Set an order's (and its items') fulfillment status, as production would."""
    with transaction() as conn:
        row = accounts.customer_by_reference(conn, customer)
        if row is None:
            raise CustomerNotFound(customer)
        previous = service.set_status(
            conn,
            principal=Principal(row.id, row.reference_id),
            order_key=order,
            status=status,
            now=utcnow(),
        )
    emit_one({"order": order, "from": previous, "to": status.value}, as_json=as_json)
