"""The catalog file model: what an operator's ``catalog.yaml`` may say.

Every consistency check sits in a validator on the entry it is about (a segment's
default, a variant's price tiers, a product's prefix), so the importer can point at
the offending line. Checks that need the whole document (is this segment code a
defined attribute?) run on ``CatalogFile.products`` and still report each problem at
the product entry's own location. ``pressline.catalog.products`` compiles a valid file.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from pressline.catalog.documents import fail_at, repeats

#: productCategoryUid -> the productTypeUids it holds; fixed for every module.
PRODUCT_TYPES: Mapping[str, frozenset[str]] = {
    "printed-products": frozenset({"flyer", "business-card", "greeting-card"}),
    "wall-art": frozenset({"poster", "framed-poster", "canvas"}),
    "photo-books": frozenset({"photo-book"}),
    "home-and-living": frozenset({"mug"}),
    "apparel": frozenset({"t-shirt", "hoodie"}),
}

#: The key a customer product (or anything else) uses for the orientation token.
ORIENTATION = "orientation"

# A uid is split on "_", so codes and values never contain one; prefixes may.
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*$")]
Value = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.\-]*$")]
Prefix = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]*(_[a-z0-9][a-z0-9\-]*)*$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
WireName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Percent = Annotated[Decimal, Field(gt=-100, le=1000)]
Loc = tuple[str | int, ...]
Item = TypeVar("Item")


def _non_empty(items: tuple[Item, ...]) -> tuple[Item, ...]:
    # Not Field(min_length=1): on a tuple, pydantic adds a bogus "too short" error
    # whenever one of the items is invalid.
    if not items:
        raise ValueError("list at least one entry")
    return items


NonEmpty = Annotated[tuple[Item, ...], AfterValidator(_non_empty)]


def _check_tiers(tiers: dict[int, Decimal]) -> dict[int, Decimal]:
    quantities = list(tiers)
    if not quantities or quantities[0] != 1:
        raise ValueError("price tiers start at min quantity 1")
    if quantities != sorted(set(quantities)):
        raise ValueError("price tiers must be listed by ascending min quantity")
    prices = list(tiers.values())
    if any(price <= 0 for price in prices):
        raise ValueError("unit prices must be positive")
    if any(later > earlier for earlier, later in itertools.pairwise(prices)):
        raise ValueError("a unit price may not rise with the quantity")
    return tiers


Tiers = Annotated[dict[PositiveInt, Decimal], AfterValidator(_check_tiers)]


class OrientationMode(StrEnum):
    REQUIRED = "required"  # the uid must end with an orientation token
    OPTIONAL = "optional"  # it may; the canonical uid keeps what was given
    NONE = "none"  # the product has no orientation


class _FileModel(BaseModel):
    # Page counts and similar values are numbers in YAML but strings in a uid.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class AttributeDefinition(_FileModel):
    """A segment code's wire name, title and each value's formatted text."""

    name: WireName
    title: Text
    values: dict[Value, Text] = Field(min_length=1)  # value -> formatted value


class SegmentSpec(_FileModel):
    code: Code
    values: NonEmpty[Value]  # the accepted subset
    default: Value | None = None  # used when the uid omits the segment
    shown: bool = True  # listed in Get Order's attributes[]

    @field_validator("values")
    @classmethod
    def _unique_values(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        fail_at(repeats(values, "value"), values)
        return values

    @field_validator("default")
    @classmethod
    def _default_accepted(cls, default: str | None, info: ValidationInfo) -> str | None:
        accepted = info.data.get("values")
        if default is not None and accepted is not None and default not in accepted:
            raise ValueError(f"default '{default}' is not one of {', '.join(accepted)}")
        return default


class ModelName(_FileModel):
    name: Text
    name_uid: Slug
    type_uid: Slug | None = None  # the product's own when omitted


class ModelsBy(_FileModel):
    """Product models named after one segment's value (e.g. posters by paper)."""

    segment: Code
    values: dict[Value, ModelName] = Field(min_length=1)


class VariantSpec(_FileModel):
    weight: PositiveInt  # grams per unit
    prices: dict[Currency, Tiers]  # currency -> min quantity -> unit price


class VariantsBy(_FileModel):
    """Weight and price tiers per value of one segment (usually the size)."""

    segment: Code
    values: dict[Value, VariantSpec] = Field(min_length=1)


class Adjustment(_FileModel):
    price_percent: Percent = Decimal(0)
    weight_percent: Percent = Decimal(0)


class ProductSpec(_FileModel):
    """One product model family under a uid prefix.

    Weight and prices come from the variant of one segment's value (usually the
    size); ``adjustments`` then add percentages per segment value (premium paper,
    4-4 print, a bigger garment size), summed and applied once.
    """

    prefix: Prefix
    name: Text
    name_uid: Slug
    category: Text
    category_uid: Slug
    type_uid: Slug
    orientation: OrientationMode
    segments: NonEmpty[SegmentSpec]  # canonical order
    models: ModelsBy | None = None
    variants: VariantsBy
    adjustments: dict[Code, dict[Value, Adjustment]] = Field(default_factory=dict)

    @field_validator("category_uid")
    @classmethod
    def _known_category(cls, category_uid: str) -> str:
        if category_uid not in PRODUCT_TYPES:
            raise ValueError(f"unknown category; known: {', '.join(PRODUCT_TYPES)}")
        return category_uid

    @field_validator("type_uid")
    @classmethod
    def _type_in_category(cls, type_uid: str, info: ValidationInfo) -> str:
        _check_type(type_uid, info.data.get("category_uid"))
        return type_uid

    @field_validator("segments")
    @classmethod
    def _unique_codes(cls, segments: tuple[SegmentSpec, ...]) -> tuple[SegmentSpec, ...]:
        fail_at(repeats([s.code for s in segments], "segment", at=("code",)), segments)
        return segments

    @field_validator("models")
    @classmethod
    def _models_on_a_segment(cls, models: ModelsBy | None, info: ValidationInfo) -> ModelsBy | None:
        accepted = _accepted(info)
        if models is not None and accepted is not None:
            fail_at(_keyed_by_segment(models.segment, models.values, accepted), models)
            category = info.data.get("category_uid")
            for value, model in models.values.items():
                if model.type_uid is not None:
                    _check_type(model.type_uid, category, ("values", value, "type_uid"))
        return models

    @field_validator("variants")
    @classmethod
    def _variants_cover_the_segment(cls, variants: VariantsBy, info: ValidationInfo) -> VariantsBy:
        accepted = _accepted(info)
        if accepted is not None:
            problems = list(_keyed_by_segment(variants.segment, variants.values, accepted))
            missing = [v for v in accepted.get(variants.segment, ()) if v not in variants.values]
            if missing:
                problems.append((("values",), f"no variant for {', '.join(missing)}"))
            fail_at(problems, variants)
        return variants

    @field_validator("adjustments")
    @classmethod
    def _adjust_own_values(
        cls, adjustments: dict[str, dict[str, Adjustment]], info: ValidationInfo
    ) -> dict[str, dict[str, Adjustment]]:
        accepted = _accepted(info)
        if accepted is not None:
            problems: list[tuple[Loc, str]] = []
            for code, values in adjustments.items():
                found = _keyed_by_segment(code, values, accepted, where=())
                problems.extend(((code, *loc), text) for loc, text in found)
            fail_at(problems, adjustments)
        return adjustments


def _check_type(type_uid: str, category_uid: object, loc: Loc = ()) -> None:
    if not isinstance(category_uid, str) or category_uid not in PRODUCT_TYPES:
        return  # the category's own error says it
    allowed = PRODUCT_TYPES[category_uid]
    if type_uid not in allowed:
        text = (
            f"type '{type_uid}' is not in category '{category_uid}': {', '.join(sorted(allowed))}"
        )
        fail_at([(loc, text)], type_uid)


def _accepted(info: ValidationInfo) -> dict[str, tuple[str, ...]] | None:
    segments = info.data.get("segments")
    return None if segments is None else {s.code: s.values for s in segments}


def _keyed_by_segment(
    code: str,
    keyed: Mapping[str, object],
    accepted: Mapping[str, tuple[str, ...]],
    where: Loc = ("segment",),
) -> list[tuple[Loc, str]]:
    """Problems of a table keyed by the values of one of the product's segments."""
    if code not in accepted:
        return [(where, f"the product has no segment '{code}'; it has {', '.join(accepted)}")]
    key_loc = ("values",) if where else ()
    return [
        ((*key_loc, value), f"'{value}' is not accepted by segment '{code}'")
        for value in keyed
        if value not in accepted[code]
    ]


class CatalogFile(_FileModel):
    """The operator's catalog document (``catalog.yaml``)."""

    currencies: NonEmpty[Currency]  # every product prices in each
    orientation: AttributeDefinition
    attributes: dict[Code, AttributeDefinition] = Field(min_length=1)
    products: NonEmpty[ProductSpec]

    @field_validator("currencies")
    @classmethod
    def _base_currency_present(cls, currencies: tuple[str, ...]) -> tuple[str, ...]:
        if "EUR" not in currencies or len(set(currencies)) != len(currencies):
            raise ValueError("list each currency once, EUR (the base currency) included")
        return currencies

    @field_validator("attributes")
    @classmethod
    def _codes_not_orientations(
        cls, attributes: dict[str, AttributeDefinition], info: ValidationInfo
    ) -> dict[str, AttributeDefinition]:
        orientation = info.data.get("orientation")
        taken = {ORIENTATION, *(orientation.values if orientation else ())}
        reserved = [code for code in attributes if code in taken]
        fail_at(
            (((code,), f"'{code}' is reserved for the orientation") for code in reserved),
            attributes,
        )
        return attributes

    @field_validator("products")
    @classmethod
    def _products_use_defined_terms(
        cls, products: tuple[ProductSpec, ...], info: ValidationInfo
    ) -> tuple[ProductSpec, ...]:
        attributes = info.data.get("attributes")
        currencies = info.data.get("currencies")
        problems: list[tuple[Loc, str]] = []
        for index, product in enumerate(products):
            found = _product_problems(product, index, products, attributes, currencies)
            problems.extend(((index, *loc), text) for loc, text in found)
        fail_at(problems, products)
        return products


def _product_problems(
    product: ProductSpec,
    index: int,
    products: tuple[ProductSpec, ...],
    attributes: Mapping[str, AttributeDefinition] | None,
    currencies: tuple[str, ...] | None,
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if product.prefix in [other.prefix for other in products[:index]]:
        problems.append((("prefix",), f"prefix '{product.prefix}' is listed twice"))
    for other in products:
        # A uid matches its longest prefix: "cards_pf" would swallow "cards_pf_..." uids.
        head, _, tail = product.prefix.partition(other.prefix + "_")
        if not head and tail.split("_")[0] in {s.code for s in other.segments}:
            text = f"prefix '{product.prefix}' hides segment uids of product '{other.prefix}'"
            problems.append((("prefix",), text))
    if attributes is not None:
        problems.extend(_undefined_terms(product, attributes))
    if currencies is not None:
        problems.extend(_missing_prices(product, currencies))
    return problems


def _undefined_terms(
    product: ProductSpec, attributes: Mapping[str, AttributeDefinition]
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for index, segment in enumerate(product.segments):
        definition = attributes.get(segment.code)
        if definition is None:
            text = f"segment '{segment.code}' is not among the attributes: {', '.join(attributes)}"
            problems.append((("segments", index, "code"), text))
            continue
        problems.extend(
            (
                ("segments", index, "values", position),
                f"'{value}' is not a value of '{segment.code}'",
            )
            for position, value in enumerate(segment.values)
            if value not in definition.values
        )
    return problems


def _missing_prices(product: ProductSpec, currencies: tuple[str, ...]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for value, variant in product.variants.values.items():
        missing = [c for c in currencies if c not in variant.prices]
        extra = [c for c in variant.prices if c not in currencies]
        if missing or extra:
            text = f"prices must be given in exactly {', '.join(currencies)}"
            problems.append((("variants", "values", value, "prices"), text))
    return problems
