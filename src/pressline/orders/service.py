"""Order use cases: submit, get, cancel, update shipment, search, set status.

Each write is split in two: a pure ``prepare_*`` step that picks ids and times, and a
``*(conn, …)`` step the batching writer runs (and may re-run) inside a transaction.
Nothing here commits; the writer (or the CLI's transaction) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from pressline import ids
from pressline.accounts import service as accounts
from pressline.accounts.keys import Credentials, Principal
from pressline.accounts.repository import connector_is_sandbox
from pressline.catalog.products import Catalog
from pressline.catalog.reference import Reference
from pressline.errors import (
    DuplicateOrderReference,
    FacilityChangeAfterHandOff,
    FieldError,
    OrderNotCancellable,
    OrderNotFound,
    ShipmentNotUpdatable,
    ValidationFailed,
)
from pressline.orders import (
    journal,
    moves,
    operator,
    plan_views,
    planning,
    repository,
    rules,
    views,
)
from pressline.orders.fields import COUNTRY_CODES
from pressline.orders.lifecycle import (
    PRODUCTION_STARTED,
    Actor,
    CancelPath,
    EventKind,
    customer_cancel_path,
)
from pressline.orders.schemas import OrderCreate, OrderSearch, ShipmentUpdate, ShippingAddress
from pressline.orders.statuses import (
    Channel,
    FinancialStatus,
    FulfillmentStatus,
    OrderType,
)
from pressline.postbacks import outbox
from pressline.postbacks.events import EventType
from pressline.production import handoff
from pressline.requestlog import store as requestlog


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    principal: Principal
    order: dict[str, Any]
    items: list[dict[str, Any]]
    #: The "created" entry of the event log, the timers (intake, delayed check) and the
    #: postback: written with the order, two statements and the outbox's.
    events: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    postbacks: list[EventType] = field(default_factory=list)


def _address_columns(address: ShippingAddress) -> dict[str, Any]:
    return {
        "shipping_address": address.model_dump(mode="json", by_alias=True),
        "country": address.country,
        "first_name": address.first_name,
        "last_name": address.last_name,
    }


def prepare_order(
    principal: Principal, order: OrderCreate, *, now: datetime, reference: Reference
) -> PreparedOrder:
    """The rows to insert for a validated order, routed and priced (pure: no I/O)."""
    products = planning.resolve_items(reference, principal.customer_id, order.items)
    order_id, shipment_id = ids.new_uuid(), ids.new_uuid()
    item_ids = [ids.new_uuid() for _ in order.items]
    is_draft = order.order_type is OrderType.DRAFT
    plan = planning.plan_order(
        reference,
        products=products,
        items=order.items,
        item_ids=[str(item_id) for item_id in item_ids],
        shipment_id=str(shipment_id),
        address=order.shipping_address,
        selector=order.shipment_method_uid,
        currency=order.currency,
        retail_prices=planning.has_retail_prices(
            order.retail_currency, order.retail_shipping_price_incl_vat, order.items
        ),
        ordered_at=now,
        # Drafts are priced line by line but charge nothing until converted.
        charged=not is_draft,
    )
    fulfillment, financial = rules.initial_statuses(order.order_type)
    item_status = fulfillment
    if plan.refusal is not None:
        fulfillment, financial = rules.refused_statuses()
        item_status = fulfillment
    row = {
        "id": order_id,
        "customer_id": principal.customer_id,
        "connector_id": principal.connector_id,
        "order_reference_id": order.order_reference_id,
        "order_type": order.order_type.value,
        "channel": Channel.API.value,
        "fulfillment_status": fulfillment.value,
        "financial_status": financial.value,
        "currency": order.currency,
        "retail_currency": order.retail_currency,
        "retail_shipping_price_incl_vat": order.retail_shipping_price_incl_vat,
        "shipment_method_uid": order.shipment_method_uid,
        "items_count": len(order.items),
        "shipping_address_id": ids.new_uuid(),
        "shipment_id": shipment_id,
        "metadata": [entry.model_dump() for entry in order.metadata],
        "created_at": now,
        "updated_at": now,
        "ordered_at": None if is_draft else now,
        **_address_columns(order.shipping_address),
        **plan_columns(plan, now),
    }
    line_prices = _line_prices(plan)
    items = [
        {
            "id": item_ids[position],
            "order_id": order_id,
            "position": position,
            "item_reference_id": item.item_reference_id,
            "product_uid": item.product_uid,
            "product_name": item.product_name,
            "product_variant": item.product_variant,
            "quantity": item.quantity,
            "retail_price_incl_vat": item.retail_price_incl_vat,
            "fulfillment_status": item_status.value,
            "product": plan_views.product_document(products[position], line_prices[position]),
            "files": [{"type": file.type.value, "url": file.url} for file in item.files],
            "metadata": [entry.model_dump() for entry in item.metadata],
        }
        for position, item in enumerate(order.items)
    ]
    row["expected_dispatch_date"] = dispatch_day(reference, plan, now)
    events, timers, postbacks = _intake(row, plan, reference, now)
    return PreparedOrder(principal, row, items, events, timers, postbacks)


def dispatch_day(reference: Reference, plan: planning.Plan, ordered_at: datetime) -> date | None:
    """The facility's local day the order should leave on (its calendar), if routed."""
    if plan.route is None:
        return None
    facility = reference.shipping.facility(plan.route.facility_id)
    return facility.calendar.dispatch_date(ordered_at)


def _intake(
    row: dict[str, Any], plan: planning.Plan, reference: Reference, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[EventType]]:
    """What a new order starts its history with: a "created" entry; for an order (not a
    draft) that passed the plan, the intake and delayed-check timers and
    ``order.received``; for a refused one, ``order.failed``."""
    status = FulfillmentStatus(row["fulfillment_status"])
    message = "Order created" if status is not FulfillmentStatus.FAILED else (
        f"Order refused at intake: {row['refusal_reason']}"
    )  # fmt: skip
    event = moves.event_row(
        row["id"], Actor.CUSTOMER, EventKind.STATUS_CHANGED, message, now, to_status=status
    )
    if status is FulfillmentStatus.DRAFT:
        return [event], [], []
    if status is FulfillmentStatus.FAILED:
        return [event], [], [EventType.ORDER_FAILED]
    timers = [moves.intake_timer(row["id"], now)]
    if plan.route is not None and row["expected_dispatch_date"] is not None:
        zone = reference.shipping.facility(plan.route.facility_id).calendar.timezone
        timers.append(moves.delayed_timer(row["id"], row["expected_dispatch_date"], zone.key))
    return [event], timers, [EventType.ORDER_RECEIVED]


def _line_prices(plan: planning.Plan) -> list[Decimal | None]:
    """Each item's price excluding VAT, from its receipt line (None when unpriced)."""
    if plan.priced is None:
        return [None] * len(plan.products)
    return [line.price for line in plan.priced.lines if line.type == "product"]


def plan_columns(
    plan: planning.Plan, now: datetime, *, initial: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The order columns a plan decides: facility, shipment, receipt, total, refusal."""
    columns: dict[str, Any] = {
        "fulfillment_facility_id": None,
        "shipment": None,
        "receipt": None,
        "total_incl_vat": None,
        "refusal_reason_code": None,
        "refusal_reason": None,
        "comment": None,
    }
    if plan.refusal is not None:
        columns["refusal_reason_code"] = plan.refusal.code
        columns["refusal_reason"] = columns["comment"] = plan.refusal.reason
    if plan.route is None or plan.receipt is None or plan.priced is None:
        return columns
    shipping = next(line.price for line in plan.priced.lines if line.type == "shipment")
    columns["fulfillment_facility_id"] = plan.route.facility_id
    columns["shipment"] = plan_views.shipment_document(
        plan.route, price=shipping, is_cheapest=plan.is_cheapest, initial=initial
    )
    columns["receipt"] = plan_views.receipt_document(plan.receipt, now=now)
    columns["total_incl_vat"] = plan.receipt.total_incl_vat
    return columns


def submit_order(conn: Connection, *, prepared: PreparedOrder) -> dict[str, Any]:
    """Store a prepared order; 409 if the customer already used its reference."""
    (answer,) = submit_orders(conn, [prepared])
    if isinstance(answer, DuplicateOrderReference):
        raise answer
    return answer


def submit_orders(
    conn: Connection, prepared: Sequence[PreparedOrder]
) -> list[dict[str, Any] | DuplicateOrderReference]:
    """Store prepared orders together: one multi-row statement per table, not one per
    order (the writer hands it the plain submits of a batch: ``Database.write_together``).
    Each order's answer in turn; an order whose reference its customer already used (or
    an earlier order of ``prepared`` took) writes nothing and gets its refusal instead."""
    inserted = repository.insert_orders(conn, [order.order for order in prepared])
    stored = [order for order in prepared if order.order["id"] in inserted]
    repository.insert_items(conn, [item for order in stored for item in order.items])
    journal.insert_events(conn, [event for order in stored for event in order.events])
    journal.add_timers(conn, [timer for order in stored for timer in order.timers])
    for order in stored:
        if order.postbacks:
            row = order.order
            outbox.enqueue_order_events(
                conn, order_id=row["id"], events=order.postbacks, now=row["created_at"],
                customer_id=row["customer_id"],
            )  # fmt: skip
    return [
        created(order.order) if order.order["id"] in inserted else _taken(conn, order)
        for order in prepared
    ]


def created(row: dict[str, Any]) -> dict[str, Any]:
    """Submit's answer for the order ``row`` as stored."""
    return {
        "id": str(row["id"]),
        "orderReferenceId": row["order_reference_id"],
        "createdAt": plan_views.iso(row["created_at"]),
    }


def _taken(conn: Connection, prepared: PreparedOrder) -> DuplicateOrderReference:
    reference = prepared.order["order_reference_id"]
    existing = repository.order_id_for_reference(conn, prepared.principal.customer_id, reference)
    return DuplicateOrderReference(reference, str(existing))


def get_order(
    conn: Connection, *, principal: Principal, order_key: str, catalog: Catalog
) -> dict[str, Any]:
    found = repository.fetch_order(conn, principal.customer_id, order_key)
    return _order_read(conn, principal, order_key, found, catalog)


def get_order_as(
    conn: Connection, *, credentials: Credentials, now: datetime, order_key: str, catalog: Catalog
) -> dict[str, Any]:
    """Get Order for the presented key: the key and the order are read together (on
    PostgreSQL in one statement: a round trip fewer), and the order is used only once
    the key is admitted."""
    record, found = repository.fetch_order_as(conn, credentials.key, order_key)
    principal = accounts.admit(conn, record, credentials=credentials, now=now)
    assert record is not None  # admit refuses a missing record
    if record.all_customers:  # the request names the customer: not the one read for
        return get_order(conn, principal=principal, order_key=order_key, catalog=catalog)
    return _order_read(conn, principal, order_key, found, catalog)


def _order_read(
    conn: Connection,
    principal: Principal,
    order_key: str,
    found: tuple[repository.OrderRow, list[repository.OrderRow]] | None,
    catalog: Catalog,
) -> dict[str, Any]:
    if found is None:
        raise OrderNotFound(order_key)
    head, items = found
    order = requestlog.OrderRef(head.id, head.order_reference_id, principal.customer_reference_id)
    history = journal.history_of(conn, head.id, order)
    return views.order_view(
        head, items, principal.customer_reference_id, catalog,
        events=history.events, packages=history.packages, requests=history.requests,
    )  # fmt: skip


def _handed_off(conn: Connection, row: repository.OrderRow, status: FulfillmentStatus) -> bool:
    """Whether a facility has the order: it was handed off, or (a sandbox's order, which
    goes to no facility) the sandbox plays one that has it from ``passed`` on."""
    if row.handed_off_at is not None:
        return True
    return status in _AT_THE_FACILITY and connector_is_sandbox(conn, row.connector_id)


_AT_THE_FACILITY = frozenset({FulfillmentStatus.PASSED, *PRODUCTION_STARTED})


def _locked(conn: Connection, principal: Principal, order_key: str) -> repository.OrderRow:
    row = repository.lock_order(conn, principal.customer_id, order_key)
    if row is None:
        raise OrderNotFound(order_key)
    return row


def cancel_order(
    conn: Connection,
    *,
    principal: Principal,
    order_key: str,
    now: datetime,
    billing_state: FinancialStatus,
) -> None:
    """The customer's cancel: at once until the facility has the order in production
    (the facility is told if it had it); from then on a request to the facility, and the
    order is canceled when it confirms; refused once shipped. A repeat changes nothing."""
    row = _locked(conn, principal, order_key)
    items = repository.items_of(conn, row.id)
    change = moves.OrderChange(conn, row, items, Actor.CUSTOMER, now, billing_state)
    path = customer_cancel_path(change.statuses.values())
    if path is CancelPath.ALREADY_CANCELED:
        return
    if path is CancelPath.NOT_CANCELLABLE:
        raise OrderNotCancellable(change.order_status.value)
    if path is CancelPath.ASK_FACILITY and connector_is_sandbox(conn, row.connector_id):
        # The sandbox plays the facility: asked as a facility would be, it confirms at once.
        change.log(EventKind.CANCEL_REQUESTED, _CANCEL_REQUESTED)
        change.actor = Actor.SYSTEM
        path = CancelPath.CANCEL_NOW
    if path is CancelPath.CANCEL_NOW:
        change.cancel(None, "Canceled by the customer")
        handoff.forward_cancel(conn, change.save("Canceled by the customer"), now=now)
        return
    if row.cancel_requested_at is not None:
        return  # already asked; the facility's answer is awaited
    change.order_values["cancel_requested_at"] = now
    change.log(EventKind.CANCEL_REQUESTED, _CANCEL_REQUESTED)
    handoff.forward_cancel(conn, change.save("Cancel requested"), now=now)


_CANCEL_REQUESTED = "The customer asked to cancel; the facility confirms"


@dataclass(frozen=True, slots=True)
class _StoredItem:
    """An item as stored, naming its product by the uid the catalog resolved."""

    product_uid: str | None
    product_name: str | None
    product_variant: dict[str, str] | None
    quantity: int
    retail_price_incl_vat: Decimal | None


def stored_items(rows: list[repository.OrderRow]) -> list[_StoredItem]:
    return [
        _StoredItem(
            row.product["finalProductUid"] if row.product else row.product_uid,
            None if row.product else row.product_name,
            None if row.product else row.product_variant,
            row.quantity,
            row.retail_price_incl_vat,
        )
        for row in rows
    ]


def update_shipment(
    conn: Connection,
    *,
    principal: Principal,
    order_key: str,
    change: ShipmentUpdate,
    now: datetime,
    reference: Reference,
) -> dict[str, Any]:
    """Change the shipment method and/or address until the order is shipped; routing,
    dates and prices are worked out again, and a change nothing can deliver is refused
    before anything is written."""
    row = _locked(conn, principal, order_key)
    status = FulfillmentStatus(row.fulfillment_status)
    if not rules.can_update_shipment(status):
        raise ShipmentNotUpdatable(status.value)
    address = change.shipping_address or ShippingAddress.stored(row.shipping_address)
    selector = (
        change.shipment_method_uid
        if change.shipment_method_uid is not None
        else row.shipment_method_uid
    )
    item_rows = repository.items_of(conn, row.id)
    items = stored_items(item_rows)
    already_refused = status is FulfillmentStatus.FAILED
    plan = planning.plan_order(
        reference,
        products=planning.resolve_items(reference, principal.customer_id, items),
        items=items,
        item_ids=[str(item.id) for item in item_rows],
        shipment_id=str(row.shipment_id),
        address=address,
        selector=selector,
        currency=row.currency,
        retail_prices=planning.has_retail_prices(
            row.retail_currency, row.retail_shipping_price_incl_vat, items
        ),
        ordered_at=now,
        charged=row.order_type != OrderType.DRAFT.value and not already_refused,
    )
    if plan.refusal is not None and (plan.route is None or not already_refused):
        param = "shippingAddress.country" if change.shipping_address else "shipmentMethodUid"
        raise ValidationFailed([FieldError(plan.refusal.code, param, plan.refusal.reason)])
    moved = plan.route is not None and plan.route.facility_id != row.fulfillment_facility_id
    if moved and _handed_off(conn, row, status):
        # The facility has (or is being sent) the order; nothing can take it back.
        assert plan.route is not None
        raise FacilityChangeAfterHandOff(str(row.fulfillment_facility_id), plan.route.facility_id)
    old = row.shipment or {}
    initial = (old["initialMinDeliveryDate"], old["initialMaxDeliveryDate"]) if old else None
    values: dict[str, Any] = {
        "updated_at": now,
        "shipment_method_uid": selector,
        **_address_columns(address),
        **plan_columns(plan, now, initial=initial),
    }
    for kept in ("refusal_reason_code", "refusal_reason", "comment"):
        del values[kept]  # statuses do not change here, so neither does a refusal
    if moved and row.order_type != OrderType.DRAFT.value:
        _replan_dispatch(conn, row, plan, reference, values)
    updated = repository.update_order(conn, row.id, **values)
    return {
        "shippingAddress": views.address_view(updated),
        "shipment": views.shipment_summary_view(updated),
    }


def _replan_dispatch(
    conn: Connection,
    row: repository.OrderRow,
    plan: planning.Plan,
    reference: Reference,
    values: dict[str, Any],
) -> None:
    """Another facility makes the order: its dispatch day comes from that facility's
    calendar and time zone, and the delayed check follows it."""
    day = dispatch_day(reference, plan, row.ordered_at or row.created_at)
    values["expected_dispatch_date"] = day
    journal.delete_timers_of(conn, row.id, journal.TimerKind.DELAYED)
    if day is not None and plan.route is not None and row.delayed_at is None:
        zone = reference.shipping.facility(plan.route.facility_id).calendar.timezone
        journal.add_timers(conn, [moves.delayed_timer(row.id, day, zone.key)])


def quote_order(
    principal: Principal, order: OrderCreate, *, now: datetime, reference: Reference
) -> dict[str, Any]:
    """What submitting ``order`` now would give, without storing anything."""
    products = planning.resolve_items(reference, principal.customer_id, order.items)
    quantities = [item.quantity for item in order.items]
    routed = planning.route_order(
        reference, products, quantities, country=order.shipping_address.country,
        selector=order.shipment_method_uid, ordered_at=now,
    )  # fmt: skip
    if isinstance(routed, planning.Refusal):
        raise ValidationFailed([FieldError(routed.code, "items", routed.reason)])
    item_ids = [item.item_reference_id for item in order.items]
    receipts = [
        planning.price(
            reference,
            products=products,
            quantities=quantities,
            item_ids=item_ids,
            quote=quote,
            route=routed,
            shipment_id="shipment",
            currency=order.currency,
            address=order.shipping_address,
            charged=True,
        )
        for quote in routed.quotes
    ]
    retail = planning.has_retail_prices(
        order.retail_currency, order.retail_shipping_price_incl_vat, order.items
    )
    return plan_views.quote_view(order, routed, products, receipts, retail_prices=retail)


def search_orders(conn: Connection, *, principal: Principal, search: OrderSearch) -> dict[str, Any]:
    rows = repository.search_orders(conn, principal.customer_id, **_filters(search))
    return _page(rows, principal)


def search_orders_as(
    conn: Connection, *, credentials: Credentials, now: datetime, search: OrderSearch
) -> dict[str, Any]:
    """Search Orders for the presented key, in one call to the database: the key, then,
    once it is admitted, the page (two statements on both databases: joined into one,
    PostgreSQL re-planned the key's tables on every search, which cost more than the
    round trip saved; see docs/adr/0001)."""
    principal = accounts.authenticate(conn, credentials=credentials, now=now)
    return search_orders(conn, principal=principal, search=search)


def _filters(search: OrderSearch) -> dict[str, Any]:
    return {
        "fulfillment_statuses": [status.value for status in search.fulfillment_status],
        "financial_statuses": [status.value for status in search.financial_status],
        "references": search.reference_filter(),
        "countries": search.countries,
        "start": search.start_date,
        "end": search.end_date,
        "limit": search.limit,
        "offset": search.offset,
    }


def _page(rows: list[repository.OrderRow], principal: Principal) -> dict[str, Any]:
    client_id = str(principal.customer_id)
    return {
        "orders": [
            views.summary_view(row, client_id, principal.customer_reference_id) for row in rows
        ]
    }


def set_status(
    conn: Connection,
    *,
    principal: Principal,
    order_key: str,
    status: FulfillmentStatus,
    now: datetime,
    billing_state: FinancialStatus,
    reason: str | None = None,
) -> str:
    """The operator moves an order (every item that is not canceled) through the
    lifecycle, like anyone else: 409 for a move the table does not allow. The old status."""
    row = _locked(conn, principal, order_key)
    return operator.move(conn, row, status, now=now, reason=reason, billing_state=billing_state)


def shipment_methods(reference: Reference, *, country: str | None) -> dict[str, Any]:
    """Every method that can reach ``country`` from some facility."""
    if country not in COUNTRY_CODES:
        code, problem = (
            ("required", "is required")
            if not country
            else ("invalid_country", f"'{country}' is not a country code")
        )
        message = f"country {problem}: give an ISO 3166-1 alpha-2 code such as DE or US"
        raise ValidationFailed([FieldError(code, "country", message)])
    return {
        "country": country,
        "shipmentMethods": [
            plan_views.method_offer_view(offer) for offer in reference.shipping.methods_for(country)
        ],
    }
