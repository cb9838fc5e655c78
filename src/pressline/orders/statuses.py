"""Order statuses and kinds: the wire values of domain.md §2, defined once."""

from __future__ import annotations

from enum import StrEnum


class FulfillmentStatus(StrEnum):
    CREATED = "created"
    UPLOADING = "uploading"
    PASSED = "passed"
    IN_PRODUCTION = "in_production"
    PRINTED = "printed"
    DRAFT = "draft"
    FAILED = "failed"
    CANCELED = "canceled"
    PENDING_APPROVAL = "pending_approval"
    PENDING_PERSONALIZATION = "pending_personalization"
    DIGITIZING = "digitizing"
    NOT_CONNECTED = "not_connected"
    ON_HOLD = "on_hold"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    RETURNED = "returned"


class FinancialStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    INVOICED = "invoiced"
    TO_BE_INVOICED = "to_be_invoiced"
    PAID = "paid"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    REFUSED = "refused"


class OrderType(StrEnum):
    ORDER = "order"
    DRAFT = "draft"


class Channel(StrEnum):
    API = "api"
    UI = "ui"


class FileType(StrEnum):
    """Print-file placements from seed 000's "Type of file" table."""

    DEFAULT = "default"
    FRONT = "front"
    BACK = "back"
    COVER = "cover"
    INSIDE = "inside"
    NECK_INNER = "neck-inner"
    NECK_OUTER = "neck-outer"
    SLEEVE_LEFT = "sleeve-left"
    SLEEVE_RIGHT = "sleeve-right"
    CHEST_LEFT_EMBROIDERY = "chest-left-embroidery"
    CHEST_CENTER_EMBROIDERY = "chest-center-embroidery"
    CHEST_LARGE_EMBROIDERY = "chest-large-embroidery"
    SLEEVE_LEFT_EMBROIDERY = "sleeve-left-embroidery"
    SLEEVE_RIGHT_EMBROIDERY = "sleeve-right-embroidery"
    WRIST_LEFT_EMBROIDERY = "wrist-left-embroidery"
    WRIST_RIGHT_EMBROIDERY = "wrist-right-embroidery"


#: Once an order has left the facility, the seeds allow neither cancel nor shipment changes.
SHIPPED_OR_LATER = frozenset(
    {
        FulfillmentStatus.SHIPPED,
        FulfillmentStatus.IN_TRANSIT,
        FulfillmentStatus.DELIVERED,
        FulfillmentStatus.RETURNED,
    }
)
