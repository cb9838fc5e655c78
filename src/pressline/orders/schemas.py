"""Request bodies of the order endpoints (seed 000), validated straight from JSON bytes.

Field-level rules live on the fields; rules that need a sibling (state for US/CA/AU,
the phone's default region, productUid versus productName) read the siblings
validated before them through ``info.data``, so each error still names its own field.
Unknown fields are rejected (reliability.md 5): a typo such as ``shippingAdress`` is
a 400 naming it, never a silently dropped address.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from pressline.orders import examples
from pressline.orders.fields import (
    STATE_REQUIRED,
    CountryCode,
    CurrencyCode,
    Email,
    HttpUrl,
    Money,
    check_phone,
)
from pressline.orders.statuses import FileType, FinancialStatus, FulfillmentStatus, OrderType

MAX_ITEMS = 100
MAX_FILES = 20
MAX_METADATA = 20
MAX_QUANTITY = 100_000
MAX_SEARCH_LIMIT = 100


def _text(max_length: int, min_length: int = 0) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Reference = Annotated[str, _text(100, 1)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class MetadataEntry(_Model):
    key: Annotated[str, _text(100, 1)]
    value: Annotated[str, _text(100)]


Metadata = Annotated[list[MetadataEntry], Field(max_length=MAX_METADATA)]


class ShippingAddress(_Model):
    """A delivery address with Gelato's documented limits (domain.md §3)."""

    country: CountryCode
    first_name: Annotated[str, _text(25, 1)]
    last_name: Annotated[str, _text(25, 1)]
    company_name: Annotated[str, _text(60)] = ""
    address_line1: Annotated[str, _text(35, 1)]
    address_line2: Annotated[str, _text(35)] = ""
    city: Annotated[str, _text(30, 1)]
    post_code: Annotated[str, _text(15, 1)]
    state: Annotated[str, _text(35)] = Field(default="", validate_default=True)
    email: Email
    phone: Annotated[str, _text(25, 1)]
    is_business: bool = False
    federal_tax_id: Annotated[str, _text(50)] | None = None
    state_tax_id: Annotated[str, _text(50)] | None = None
    registration_state: Annotated[str, _text(35)] | None = None

    @field_validator("state")
    @classmethod
    def _state_where_required(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.data.get("country") in STATE_REQUIRED:
            raise PydanticCustomError(
                "state_required", "State is required for addresses in the US, Canada and Australia"
            )
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str, info: ValidationInfo) -> str:
        return check_phone(value, info.data.get("country"))


class PrintFile(_Model):
    type: FileType
    url: HttpUrl


class OrderItemCreate(_Model):
    item_reference_id: Reference
    product_name: Annotated[str, _text(200, 1)] | None = None
    product_variant: (
        Annotated[
            dict[Annotated[str, _text(100, 1)], Annotated[str, _text(100)]], Field(max_length=20)
        ]
        | None
    ) = Field(default=None, validate_default=True)
    product_uid: Annotated[str, _text(255, 1)] | None = Field(default=None, validate_default=True)
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    retail_price_incl_vat: Money | None = None
    files: Annotated[list[PrintFile], Field(max_length=MAX_FILES)]
    metadata: Metadata = []

    @field_validator("product_variant")
    @classmethod
    def _variant_goes_with_name(
        cls, value: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        has_name = info.data.get("product_name") is not None
        if has_name and not value:
            raise PydanticCustomError(
                "variant_required", "productVariant is required when productName is given"
            )
        if value and not has_name:
            raise PydanticCustomError(
                "name_required", "productVariant needs productName; it cannot go with productUid"
            )
        return value

    @field_validator("product_uid")
    @classmethod
    def _one_way_to_name_a_product(cls, value: str | None, info: ValidationInfo) -> str | None:
        has_name = info.data.get("product_name") is not None
        if value is not None and has_name:
            raise PydanticCustomError(
                "product_ambiguous",
                "Give either productUid or productName with productVariant, not both",
            )
        if value is None and not has_name and "product_variant" in info.data:
            raise PydanticCustomError(
                "product_required",
                "Either productUid or productName with productVariant is required",
            )
        return value


class OrderCreate(_Model):
    """Submit Order request (seed 000, "Submit Order")."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.SUBMIT_EXAMPLES})

    order_reference_id: Reference
    order_type: OrderType = OrderType.ORDER
    currency: CurrencyCode
    retail_currency: CurrencyCode | None = None
    retail_shipping_price_incl_vat: Money | None = None
    shipment_method_uid: Annotated[str, _text(255)] | None = None
    shipping_address: ShippingAddress
    items: Annotated[list[OrderItemCreate], Field(min_length=1, max_length=MAX_ITEMS)]
    metadata: Metadata = []
    prevent_duplicate: bool = Field(
        default=False,
        description="Accepted for GelatoConnect compatibility. orderReferenceId is always "
        "unique per customer, so a duplicate is refused with 409 whether or not it is set.",
    )

    @field_validator("items")
    @classmethod
    def _item_references_unique(cls, items: list[OrderItemCreate]) -> list[OrderItemCreate]:
        seen: set[str] = set()
        for item in items:
            if item.item_reference_id in seen:
                raise PydanticCustomError(
                    "duplicate_item_reference",
                    "itemReferenceId '{ref}' appears more than once in this order",
                    {"ref": item.item_reference_id},
                )
            seen.add(item.item_reference_id)
        return items


class ShipmentUpdate(_Model):
    """Update Shipment request: a new method, a new address, or both."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.UPDATE_SHIPMENT_REQUEST]})

    shipment_method_uid: Annotated[str, _text(255, 1)] | None = None
    shipping_address: ShippingAddress | None = Field(default=None, validate_default=True)

    @field_validator("shipping_address")
    @classmethod
    def _at_least_one(
        cls, value: ShippingAddress | None, info: ValidationInfo
    ) -> ShippingAddress | None:
        if value is None and info.data.get("shipment_method_uid") is None:
            raise PydanticCustomError(
                "nothing_to_update",
                "Give shipmentMethodUid, shippingAddress, or both",
            )
        return value


class OrderSearch(_Model):
    """Search Orders request: every filter is optional; results are newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.SEARCH_EXAMPLES})

    fulfillment_status: Annotated[list[FulfillmentStatus], Field(max_length=20)] = []
    financial_status: Annotated[list[FinancialStatus], Field(max_length=20)] = []
    order_reference_id: Reference | None = None
    order_reference_ids: Annotated[list[Reference], Field(max_length=MAX_SEARCH_LIMIT)] = []
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    countries: Annotated[list[CountryCode], Field(max_length=250)] = []
    limit: Annotated[int, Field(ge=1, le=MAX_SEARCH_LIMIT)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0

    def reference_filter(self) -> list[str]:
        refs = list(self.order_reference_ids)
        if self.order_reference_id is not None:
            refs.append(self.order_reference_id)
        return refs
