"""Request bodies of the order endpoints (seed 000), validated straight from JSON bytes.

Field-level rules live on the fields; rules that need a sibling (state for US/CA/AU,
the phone's default region, productUid versus productName) read the siblings
validated before them through ``info.data``, so each error still names its own field.
A rule about a field the client left out (no product at all, productName without
productVariant, neither shipment change) is a model-level check that raises at the
field's wire name: pydantic would name a defaulted field by its Python name.
Unknown fields are rejected (reliability.md 5): a typo such as ``shippingAdress`` is
a 400 naming it, never a silently dropped address.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from pressline.orders import examples
from pressline.orders.fields import (
    PHONE_PATTERN,
    STATE_CODES,
    CountryCode,
    CurrencyCode,
    Email,
    HttpUrl,
    Money,
    check_phone,
    text,
    text_pattern,
)
from pressline.orders.statuses import FileType, FinancialStatus, FulfillmentStatus, OrderType

MAX_ITEMS = 100
MAX_UID_LENGTH = 255
MAX_NAME_LENGTH = 200
MAX_VARIANT_OPTIONS = 20
MAX_VARIANT_TEXT = 100  # each option's name and value
MAX_FILES = 20
MAX_METADATA = 20
MAX_QUANTITY = 100_000
MAX_SEARCH_LIMIT = 100
#: Search bounds are held within these (every order lies between them, so the result
#: is the same): "endDate": "9999-12-31" means "no end", and the search's arithmetic on
#: a bound stays inside datetime's range.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)


Reference = Annotated[str, text(100, 1)]


_LocatedError = tuple[tuple[int | str, ...], PydanticCustomError, Any]


def _invalid(title: str, errors: list[_LocatedError]) -> ValidationError:
    """Errors at the given locations (wire names), from a check above those fields."""
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=error, loc=loc, input=value) for loc, error, value in errors]
    )


def _whole_number(value: Any) -> Any:
    """A count is a JSON number: ``"1"`` or ``true`` is a client bug, not a quantity."""
    if isinstance(value, str | bool):
        raise PydanticCustomError("invalid_type", "Input should be a whole number")
    return value


Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), BeforeValidator(_whole_number)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class MetadataEntry(_Model):
    key: Annotated[str, text(100, 1)]
    value: Annotated[str, text(100, lines=True)]  # free text: a gift message may break lines


Metadata = Annotated[list[MetadataEntry], Field(max_length=MAX_METADATA)]


#: In the US, Canada and Australia a state or province code is required (JSON Schema).
_STATE_RULES: list[JsonValue] = [
    {
        "if": {"required": ["country"], "properties": {"country": {"const": country}}},
        "then": {"required": ["state"], "properties": {"state": {"enum": [*sorted(codes)]}}},
    }
    for country, codes in sorted(STATE_CODES.items())
]


class ShippingAddress(_Model):
    """A delivery address with Gelato's documented limits (domain.md §3)."""

    model_config = ConfigDict(json_schema_extra={"allOf": _STATE_RULES})

    country: CountryCode
    first_name: Annotated[str, text(25, 1)]
    last_name: Annotated[str, text(25, 1)]
    company_name: Annotated[str, text(60)] = ""
    address_line1: Annotated[str, text(35, 1)]
    address_line2: Annotated[str, text(35)] = ""
    city: Annotated[str, text(30, 1)]
    post_code: Annotated[str, text(15, 1)]
    state: Annotated[str, text(35)] = Field(default="", validate_default=True)
    email: Email
    phone: Annotated[
        str,
        text(25, 1),
        # One "+", first; blanks at the ends are stripped (fields.check_phone).
        Field(json_schema_extra={"pattern": PHONE_PATTERN}),
    ]
    is_business: StrictBool = False
    federal_tax_id: Annotated[str, text(50)] | None = None
    state_tax_id: Annotated[str, text(50)] | None = None
    registration_state: Annotated[str, text(35)] | None = None

    @classmethod
    def stored(cls, document: dict[str, Any]) -> ShippingAddress:
        """An order's address as stored: validated when it was accepted, perhaps under
        older rules ("California" before state codes), so not judged again."""
        return cls.model_construct(**document)

    @field_validator("state")
    @classmethod
    def _state_where_required(cls, value: str, info: ValidationInfo) -> str:
        country = info.data.get("country")
        codes = STATE_CODES.get(country or "")
        if codes is None:
            return value
        if not value:
            raise PydanticCustomError(
                "state_required", "State is required for addresses in the US, Canada and Australia"
            )
        if value not in codes:
            raise PydanticCustomError(
                "invalid_state",
                "State must be a {country} state or province code: {codes}",
                {"country": country, "codes": ", ".join(sorted(codes))},
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
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["productUid"],
                    "properties": {
                        "productUid": {"type": "string"},
                        "productName": {"type": "null"},
                        "productVariant": {"type": "null"},
                    },
                },
                {
                    "required": ["productName", "productVariant"],
                    "properties": {
                        "productUid": {"type": "null"},
                        "productName": {"type": "string"},
                        "productVariant": {"type": "object", "minProperties": 1},
                    },
                },
            ]
        }
    )
    item_reference_id: Reference
    # Seed 000's "Selecting a Product" shows each way to name the product.
    product_name: Annotated[str, text(MAX_NAME_LENGTH, 1)] | None = Field(
        default=None, examples=["Framed Poster"]
    )
    product_variant: (
        Annotated[
            dict[
                Annotated[str, text(MAX_VARIANT_TEXT, 1)],
                Annotated[str, text(MAX_VARIANT_TEXT)],
            ],
            Field(max_length=MAX_VARIANT_OPTIONS),
            WithJsonSchema(
                {
                    "type": "object",
                    "maxProperties": 20,
                    "propertyNames": {
                        "minLength": 1,
                        "maxLength": MAX_VARIANT_TEXT,
                        "pattern": text_pattern(required=True),
                    },
                    "additionalProperties": {
                        "type": "string",
                        "maxLength": MAX_VARIANT_TEXT,
                        "pattern": text_pattern(required=False),
                    },
                }
            ),
        ]
        | None
    ) = Field(default=None, examples=[{"FrameColour": "Black", "PaperSize": "A3"}])
    product_uid: Annotated[str, text(MAX_UID_LENGTH, 1)] | None = Field(
        default=None,
        examples=["frame_product_frs_10x10-inch_frc_oak_frm_wood_frp_w13xt22-mm_gt_plexiglass"],
    )
    quantity: Quantity
    retail_price_incl_vat: Money | None = None
    files: Annotated[list[PrintFile], Field(min_length=1, max_length=MAX_FILES)]
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
        if value is not None and info.data.get("product_name") is not None:
            raise PydanticCustomError(
                "product_ambiguous",
                "Give either productUid or productName with productVariant, not both",
            )
        return value

    @model_validator(mode="after")
    def _names_a_product(self) -> Self:
        gap = product_naming_gap(self.product_uid, self.product_name, self.product_variant)
        if gap is not None:
            raise _invalid(type(self).__name__, [((gap[0],), gap[1], None)])
        return self


def product_naming_gap(
    uid: object, name: object, variant: object
) -> tuple[str, PydanticCustomError] | None:
    """What an item lacks to name its product, as (the wire field, its error), or None.

    The item's own check, and the second look at a refused body (where the rest of the
    item has errors, so pydantic never ran that check)."""
    if uid is None and name is None and not variant:  # a variant alone: name_required
        return "productUid", PydanticCustomError(
            "product_required", "Either productUid or productName with productVariant is required"
        )
    if uid is None and name is not None and variant is None:  # with a uid: ambiguous
        return "productVariant", PydanticCustomError(
            "variant_required", "productVariant is required when productName is given"
        )
    return None


class OrderCreate(_Model):
    """Submit Order request (seed 000, "Submit Order")."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.SUBMIT_EXAMPLES})

    order_reference_id: Reference
    order_type: OrderType = OrderType.ORDER
    currency: CurrencyCode
    retail_currency: CurrencyCode | None = None
    retail_shipping_price_incl_vat: Money | None = None
    shipment_method_uid: Annotated[str, text(255)] | None = None
    shipping_address: ShippingAddress
    items: Annotated[list[OrderItemCreate], Field(min_length=1, max_length=MAX_ITEMS)]
    metadata: Metadata = []
    prevent_duplicate: StrictBool = Field(
        default=False,
        description="GelatoConnect's flag: true makes orderReferenceId this submit's "
        "idempotency key. Resending the same body within 24 hours returns the first answer "
        "(the existing order's id) with `Idempotent-Replayed: true` instead of 409; another "
        "body under the reference is 422 `idempotency`. A reference first used without the "
        "flag stays a 409 duplicate.",
    )

    @field_validator("items", mode="wrap")
    @classmethod
    def _item_references_unique(
        cls, value: Any, handler: ValidatorFunctionWrapHandler
    ) -> list[OrderItemCreate]:
        """Every repeat is reported at its own ``items[i].itemReferenceId``, beside the
        items' other errors: when some item is invalid, the references are read from the
        items as sent (one request reports every invalid field)."""
        try:
            items: list[OrderItemCreate] = handler(value)
        except ValidationError as exc:
            repeats = _repeated_references(_sent_references(value))
            if not repeats:
                raise
            kept: list[_LocatedError] = [
                (
                    tuple(error["loc"]),
                    PydanticCustomError(error["type"], error["msg"]),
                    error["input"],
                )
                for error in exc.errors()
            ]
            raise _invalid(cls.__name__, kept + repeats) from None
        repeats = _repeated_references([item.item_reference_id for item in items])
        if repeats:
            raise _invalid(cls.__name__, repeats)
        return items


def sent_field(item: object, alias: str, name: str) -> object:
    """A field of a body part as sent, by its wire name or its Python name (both are
    accepted); None when the part is not an object or lacks the field."""
    return item.get(alias, item.get(name)) if isinstance(item, dict) else None


def _sent_references(value: Any) -> list[str | None]:
    """Each sent item's ``itemReferenceId`` if it is a string (else it has its own error)."""
    if not isinstance(value, list):
        return []
    references: list[str | None] = []
    for item in value:
        ref = sent_field(item, "itemReferenceId", "item_reference_id")
        references.append(ref.strip() if isinstance(ref, str) else None)
    return references


def _repeated_references(references: list[str | None]) -> list[_LocatedError]:
    seen: set[str] = set()
    repeats: list[_LocatedError] = []
    for index, ref in enumerate(references):
        if ref is None:
            continue
        if ref in seen:
            error = PydanticCustomError(
                "duplicate_item_reference",
                "itemReferenceId '{ref}' appears more than once in this order",
                {"ref": ref},
            )
            repeats.append(((index, "itemReferenceId"), error, ref))
        seen.add(ref)
    return repeats


class ShipmentUpdate(_Model):
    """Update Shipment request: a new method, a new address, or both."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [examples.UPDATE_SHIPMENT_REQUEST],
            "anyOf": [
                {
                    "required": ["shipmentMethodUid"],
                    "properties": {"shipmentMethodUid": {"type": "string"}},
                },
                {
                    "required": ["shippingAddress"],
                    "properties": {"shippingAddress": {"type": "object"}},
                },
            ],
        }
    )

    shipment_method_uid: Annotated[str, text(255, 1)] | None = None
    shipping_address: ShippingAddress | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        """A body-level error (``param`` null): neither field is wrong on its own."""
        if self.shipping_address is None and self.shipment_method_uid is None:
            raise PydanticCustomError(
                "nothing_to_update",
                "Give shipmentMethodUid, shippingAddress, or both",
            )
        return self


class OrderSearch(_Model):
    """Search Orders request: every filter is optional; results are newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.SEARCH_EXAMPLES})

    fulfillment_status: Annotated[list[FulfillmentStatus], Field(max_length=20)] = []
    financial_status: Annotated[list[FinancialStatus], Field(max_length=20)] = []
    order_reference_id: Reference | None = None
    order_reference_ids: Annotated[list[Reference], Field(max_length=MAX_SEARCH_LIMIT)] = []
    start_date: datetime | None = Field(
        default=None, description="Created at or after (ISO 8601; no offset means UTC)."
    )
    end_date: datetime | None = Field(
        default=None,
        description="Created at or before (ISO 8601; no offset means UTC; a date alone "
        "means the end of that day).",
    )
    countries: Annotated[list[CountryCode], Field(max_length=250)] = []
    limit: Annotated[int, Field(ge=1, le=MAX_SEARCH_LIMIT), BeforeValidator(_whole_number)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_whole_number)] = 0

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _isotext(cls, value: object) -> object:
        # pydantic alone also reads "1700000000" (Unix time), "20261101" and a space
        # for the T: none of them is the ISO 8601 the seed asks for.
        if value is not None and not (isinstance(value, str) and _ISO_8601.match(value)):
            raise PydanticCustomError(
                "invalid_datetime",
                "Input should be an ISO 8601 date-time (2026-11-01T00:00:00Z) or date",
            )
        return value

    @field_validator("end_date", mode="before")
    @classmethod
    def _whole_end_day(cls, value: object) -> object:
        if isinstance(value, str) and _DATE_ONLY.match(value):
            return f"{value}T23:59:59.999999+00:00"
        return value

    @field_validator("start_date", "end_date")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            value = value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-12:00 is past datetime's range in UTC
            return _LATEST if value.year > 1 else _EARLIEST
        return min(max(value, _EARLIEST), _LATEST)

    def reference_filter(self) -> list[str]:
        refs = list(self.order_reference_ids)
        if self.order_reference_id is not None:
            refs.append(self.order_reference_id)
        return refs
