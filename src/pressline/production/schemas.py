"""What a facility posts to ``POST /production/v2/order/status`` (domain.md §8)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from pressline.errors import FieldError, ValidationFailed
from pressline.orders.fields import text
from pressline.orders.lifecycle import ProductionStatus
from pressline.orders.statuses import FulfillmentStatus

Text = Annotated[str, text(255, 1)]
Key = Annotated[str, text(100, 1)]
Link = Annotated[str, text(2000, 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ItemLine(_In):
    """One item of a per-item report: Pressline's item id or the itemReferenceId."""

    item_id: Key
    #: Only with ``cancelled``: cancel this many of the item (default: all that remain).
    quantity: Annotated[int, Field(ge=1)] | None = None


class PackageReport(_In):
    id: Key | None = None
    tracking_code: Text | None = None
    tracking_link: Link | None = None
    carrier: Text | None = None
    #: What the package holds; default: every item the report ships.
    items: list[ItemLine] = []


class StatusReport(_In):
    """A facility's report on one of its orders, for the whole order or some items."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"orderId": "9f9ff09f-5891-4d3d-be35-9b302db835a1", "status": "received"},
                {
                    "orderId": "9f9ff09f-5891-4d3d-be35-9b302db835a1",
                    "status": "shipped",
                    "trackingCode": "00340434161094042557",
                    "trackingLink": "https://tracking.example/00340434161094042557",
                },
                {
                    "orderId": "9f9ff09f-5891-4d3d-be35-9b302db835a1",
                    "status": "cancelled",
                    "items": [{"itemId": "line-1", "quantity": 1}],
                    "message": "One copy damaged, not reprinted",
                },
            ]
        }
    )

    order_id: Key
    status: ProductionStatus
    #: Only these items (per-item report); absent: the whole order.
    items: Annotated[list[ItemLine], Field(min_length=1, max_length=1000)] | None = None
    tracking_code: Text | None = None
    tracking_link: Link | None = None
    carrier: Text | None = None
    packages: Annotated[list[PackageReport], Field(max_length=100)] = []
    message: Annotated[str, text(1000, lines=True)] | None = None

    @model_validator(mode="after")
    def _fields_fit_the_status(self) -> StatusReport:
        errors = []
        if self.status is not ProductionStatus.CANCELLED:
            errors += [
                FieldError("quantity_only_for_cancelled", f"items[{index}].quantity",
                           "A quantity is only given when cancelling part of an item.")
                for index, line in enumerate(self.items or []) if line.quantity is not None
            ]  # fmt: skip
        if self.status not in _CARRIES_PACKAGES:
            given = [name for name in _PACKAGE_FIELDS if getattr(self, name)]
            errors += [
                FieldError("packages_only_when_shipped", to_camel(name),
                           "Packages and tracking come with shipped, in_transit, delivered "
                           "or returned.")
                for name in given
            ]  # fmt: skip
        if errors:
            raise ValidationFailed(errors)
        return self


#: The reports a package or tracking code may come with (a package follows its carrier).
_CARRIES_PACKAGES = frozenset(
    {ProductionStatus.SHIPPED, ProductionStatus.IN_TRANSIT, ProductionStatus.DELIVERED,
     ProductionStatus.RETURNED}
)  # fmt: skip
_PACKAGE_FIELDS = ("tracking_code", "tracking_link", "carrier", "packages")


class _Read(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class FacilityFileRead(_Read):
    type: str
    url: str


class FacilityItemRead(_Read):
    id: str
    item_reference_id: str
    product_uid: str | None
    quantity: int
    quantity_canceled: int
    quantity_to_produce: int  # quantity - quantityCanceled: what to make
    fulfillment_status: FulfillmentStatus
    files: list[FacilityFileRead]


class FacilityOrderRead(_Read):
    """An order as its facility sees it (``views.order_view``): no prices, no keys."""

    id: str
    order_reference_id: str
    fulfillment_status: FulfillmentStatus
    fulfillment_facility_id: str | None
    ordered_at: datetime | None
    handed_off_at: datetime | None
    cancel_requested_at: datetime | None  # the customer asked to cancel: confirm or refuse
    expected_dispatch_date: date | None
    shipment_method_uid: str | None
    shipment_method_name: str | None
    package_count: int | None
    shipping_address: dict[str, Any]
    items: list[FacilityItemRead]


class FacilityOrderPage(_Read):
    """``GET /production/v2/orders``: a page of the facility's orders."""

    orders: list[FacilityOrderRead]
