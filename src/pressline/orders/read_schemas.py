"""Response bodies of the order endpoints, field for field as seed 000 shows them.

These models document the contract (OpenAPI) and are checked against real responses
by the contract tests; the hot paths build plain dicts of the same shape
(``orders.views``) rather than instantiating them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from pressline.orders import examples
from pressline.orders.statuses import Channel, FinancialStatus, FulfillmentStatus, OrderType


class _Read(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class KeyValue(_Read):
    key: str
    value: str


class NameValue(_Read):
    name: str
    value: str


class OrderCreated(_Read):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.SUBMIT_RESPONSE]})

    id: str
    order_reference_id: str
    created_at: datetime


class CancelResult(_Read):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.CANCEL_RESPONSE]})

    code: int
    message: str


class AddressRead(_Read):
    id: str
    order_id: str
    country: str
    first_name: str
    last_name: str
    company_name: str
    address_line1: str
    address_line2: str
    city: str
    post_code: str
    state: str
    email: str
    phone: str
    is_business: bool
    federal_tax_id: str | None
    state_tax_id: str | None
    registration_state: str | None


class FileRead(_Read):
    id: str | None
    type: str
    url: str
    thread_colors: list[str]
    is_visible: bool
    fit_method: str | None
    fill_method: str | None
    mime_type: str | None
    metadata: list[KeyValue]


class PreviewRead(_Read):
    type: str
    url: str


class AttributeRead(_Read):
    name: str
    title: str
    value: str
    formatted_value: str


class EventLogEntryRead(_Read):
    """One entry of an order's ``history`` or an item's ``eventLog`` (docs/api.md)."""

    id: str
    type: str  # status_changed, partially_canceled, cancel_requested, package_updated, …
    actor: str  # customer | facility | operator | system
    from_status: FulfillmentStatus | None
    to_status: FulfillmentStatus | None
    message: str
    details: dict[str, Any] | None
    created_at: datetime


class RequestLinkRead(_Read):
    """A request that touched the order (the request log; quote its ``requestId``)."""

    request_id: str
    method: str
    path: str
    status: int
    created_at: datetime


class ItemRead(_Read):
    id: str
    item_reference_id: str
    product_uid: str | None
    store_product_variant_id: str | None
    store_product_id: str | None
    files: list[FileRead]
    processed_file_url: str | None
    quantity: int
    quantity_canceled: int = 0  # Pressline: canceled so far (partial cancels)
    options: list[dict[str, Any]]
    category: str | None
    product_category_uid: str | None
    product_type_uid: str | None
    product_name_uid: str | None
    product_name: str | None
    fulfillment_status: FulfillmentStatus
    page_count: int | None
    print_jobs: list[dict[str, Any]]
    event_log: list[EventLogEntryRead]
    previews: list[PreviewRead]
    design_id: str | None
    product_file_mime_type: str | None
    final_product_uid: str | None
    metadata: list[KeyValue]
    retail_price_incl_vat: float | None
    attributes: list[AttributeRead]
    item_reference_name: str | None
    is_ignored: bool
    price: float | None
    custom_trim: dict[str, Any] | None
    file_url: str | None
    dpi: int | None
    app_services: list[dict[str, Any]]
    files_size: float | None
    product_variant: list[NameValue]


class PackageItemRead(_Read):
    item_id: str
    quantity: int


class PackageRead(_Read):
    id: str
    code: str | None
    tracking_code: str | None
    tracking_url: str | None
    carrier: str | None = None
    status: str | None = None  # shipped | in_transit | delivered | returned
    items: list[PackageItemRead] = []
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ShipmentRead(_Read):
    id: str
    order_product_id: str | None
    shipping_address_id: str
    promise_uid: str | None
    package_count: int | None
    shipment_method_uid: str | None
    shipment_method_name: str | None
    is_cheapest: bool | None
    min_delivery_days: int | None
    max_delivery_days: int | None
    min_delivery_date: date | None
    max_delivery_date: date | None
    total_weight: int | None
    price: float | None
    status: str | None
    packages: list[PackageRead]
    fulfillment_country: str | None
    fulfillment_facility_id: str | None
    retail_shipping_price_incl_vat: float | None
    initial_min_delivery_date: date | None
    initial_max_delivery_date: date | None
    service_type: str | None
    speed_type: str | None


class ShipmentSummary(_Read):
    shipment_method_uid: str | None
    shipment_method_name: str | None
    fulfillment_country: str | None
    fulfillment_facility_id: str | None
    package_count: int | None
    initial_min_delivery_date: date | None
    initial_max_delivery_date: date | None
    service_type: str | None


class ShipmentUpdated(_Read):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.UPDATE_SHIPMENT_RESPONSE]})

    shipping_address: AddressRead
    shipment: ShipmentSummary


class BillingEntityRead(_Read):
    id: int | str
    company_name: str
    company_number: str
    company_vat_number: str
    company_vat_numbers: list[str]
    country_iso_code: str
    country: str
    recipient_name: str
    address_line1: str
    address_line2: str
    city: str
    post_code: str
    state_code: str
    state: str
    email: str
    phone: str
    currency_iso_code: str
    currency: str
    status: int
    ioss_number: str | None
    invoice_type: str | None


class ReturnAddressRead(_Read):
    id: str
    country: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    post_code: str | None
    state: str | None
    email: str | None
    phone: str | None
    company_name: str | None


class ReceiptLineRead(_Read):
    id: str
    receipt_id: str
    order_id: str
    client_id: str
    type: str  # product | shipment | packaging
    reference_id: str
    title: str
    currency: str
    price_base: float
    amount: int
    price_initial: float
    discount: float
    price: float
    vat: float
    price_incl_vat: float
    price_plan_id: str | None
    created_at: datetime
    updated_at: datetime


class ReceiptRead(_Read):
    """The order's priced receipt; absent when no facility could make the order."""

    id: str
    order_id: str
    type: str
    currency: str
    items: list[ReceiptLineRead]
    created_at: datetime
    updated_at: datetime
    receipt_number: str | None
    billing_entity: BillingEntityRead | None
    billing_tag: str | None = None
    transaction_type: str = "purchase"
    products_price_initial: float = 0
    products_price_discount: float = 0
    products_price: float = 0
    products_price_vat: float = 0
    products_price_incl_vat: float = 0
    digitization_price_initial: float = 0
    digitization_price_discount: float = 0
    digitization_price: float = 0
    digitization_price_vat: float = 0
    digitization_price_incl_vat: float = 0
    shipping_price_initial: float = 0
    shipping_price_discount: float = 0
    shipping_price: float = 0
    shipping_price_vat: float = 0
    shipping_price_incl_vat: float = 0
    packaging_price_initial: float = 0
    packaging_price_discount: float = 0
    packaging_price: float = 0
    packaging_price_vat: float = 0
    packaging_price_incl_vat: float = 0
    discount: float = 0
    discount_vat: float = 0
    discount_incl_vat: float = 0
    total_initial: float = 0
    total: float
    total_vat: float
    total_incl_vat: float
    is_calculated: bool = True


class OrderRead(_Read):
    """Get Order response (seed 000, "Get Order")."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.GET_ORDER_RESPONSE]})

    id: str
    client_id: str
    order_reference_id: str
    customer_reference_id: str
    fulfillment_status: FulfillmentStatus
    financial_status: FinancialStatus
    currency: str
    shipping_address: AddressRead
    items: list[ItemRead]
    shipment: ShipmentRead
    receipts: list[ReceiptRead]
    created_at: datetime
    refusal_reason: str | None
    channel: Channel
    store_id: str | None
    ordered_by_user_id: str | None
    order_type: OrderType
    metadata: list[KeyValue]
    billing_entity: BillingEntityRead | None
    retail_currency: str | None
    payment_method_type: str | None
    payment_method_id: str | None
    prepayment_transaction_id: str | None
    ordered_at: datetime | None
    updated_at: datetime
    connected_order_ids: list[str]
    discounts: list[dict[str, Any]]
    return_address: ReturnAddressRead | None
    ioss_number: str | None
    refusal_reason_code: str | None
    refusal_reason_details: str | None
    comment: str | None
    digitization_id: str | None
    app_services: list[dict[str, Any]]
    shipment_method_uid: str | None
    history: list[EventLogEntryRead] = []  # Pressline: the order-level event log
    requests: list[RequestLinkRead] = Field(
        default=[],
        description="Pressline's addition: the newest 20 API requests that touched the "
        "order (the request log); quote a requestId to the operator.",
    )


class OrderSummary(_Read):
    id: str
    client_id: str
    order_reference_id: str
    fulfillment_status: FulfillmentStatus
    financial_status: FinancialStatus
    currency: str
    total_incl_vat: str | None
    order_type: OrderType
    channel: Channel
    store_id: str | None
    connected_order_ids: list[str]
    first_name: str
    last_name: str
    country: str
    items_count: int
    created_at: datetime
    updated_at: datetime
    ordered_at: datetime | None
    refusal_reason_code: str | None
    app_services: list[dict[str, Any]]
    customer_reference_id: str


class OrderPage(_Read):
    """Search Orders response."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.SEARCH_RESPONSE]})

    orders: list[OrderSummary]


class QuotedProduct(_Read):
    item_reference_id: str
    final_product_uid: str
    product_name: str
    quantity: int
    unit_price: float
    price: float
    vat: float
    price_incl_vat: float


class QuotedShipmentMethod(_Read):
    shipment_method_uid: str
    shipment_method_name: str
    carrier: str
    tier: str
    service_type: str
    tracked: bool
    is_cheapest: bool
    package_count: int
    total_weight: int
    min_delivery_days: int
    max_delivery_days: int
    min_delivery_date: date
    max_delivery_date: date
    price: float
    price_incl_vat: float
    total: float
    total_vat: float
    total_incl_vat: float


class OrderQuote(_Read):
    """Quote Order response: nothing is stored. Prices are in the order's currency;
    ``products`` are priced with the cheapest method, each method carries the order's
    totals with it."""

    order_reference_id: str
    currency: str
    fulfillment_facility_id: str
    fulfillment_facility_name: str
    fulfillment_country: str
    retail_prices_required: bool
    retail_prices_missing: bool
    products: list[QuotedProduct]
    shipment_methods: list[QuotedShipmentMethod]


class ShipmentMethodOffer(_Read):
    shipment_method_uid: str
    name: str
    carrier: str
    tier: str
    service_type: str
    tracked: bool
    min_delivery_days: int
    max_delivery_days: int
    origin_countries: list[str]


class ShipmentMethodList(_Read):
    """List Shipment Methods response."""

    country: str
    shipment_methods: list[ShipmentMethodOffer]
