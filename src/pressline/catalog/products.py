"""The product catalog at run time: a productUid in, a ``ResolvedProduct`` out.

A productUid is a product prefix (which may itself contain ``_``), then ``_key_value``
segments in any order, then the orientation token when the product has one (domain
notes §4). ``Catalog.from_file`` compiles a validated ``CatalogFile`` once into dict
lookups, so that ``resolve`` costs microseconds on every order submit; it also keeps
recent answers, because the same few uids come back all day.

Resolution errors are ``Unresolvable`` with a stable code and a sentence that lists
what the catalog would have accepted, so an integrator can fix the uid from the
message alone:

    unknown_product                 no catalog prefix starts the uid
    malformed_product_uid           empty parts, a key without value, orientation not last
    unknown_product_segment         a key the product does not have
    duplicate_product_segment       a key given twice
    invalid_product_segment_value   a value the segment does not accept
    missing_product_segment         a segment without default left out
    missing_product_orientation     the product needs an orientation, none given
    invalid_product_orientation     an orientation the product does not take
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Self

from pressline.catalog.model import Attribute, PriceTier, ResolvedProduct, Unresolvable
from pressline.catalog.product_file import (
    ORIENTATION,
    PRODUCT_TYPES,
    AttributeDefinition,
    CatalogFile,
    OrientationMode,
    ProductSpec,
    SegmentSpec,
    VariantSpec,
)

__all__ = [
    "ORIENTATION",
    "PRODUCT_TYPES",
    "Catalog",
    "CatalogFile",
    "CatalogProduct",
    "OrientationMode",
    "ProductModel",
    "ProductSegment",
    "ProductVariant",
]

# Distinct uids seen in practice are a few hundred; the cap only bounds odd traffic.
_CACHE_SIZE = 4096
_CENT = Decimal("0.01")
_UNIT_PRICE_PRECISION = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ProductSegment:
    """One segment of a product, at its canonical position."""

    code: str
    title: str
    accepted: Mapping[str, Attribute]  # value -> its attribute, in catalog order
    default: str | None
    shown: bool = True

    def described(self) -> str:
        return f"'{self.code}' ({self.title})"


@dataclass(frozen=True, slots=True)
class ProductModel:
    """The model a uid names: Get Order's productName, productNameUid and type."""

    name: str
    name_uid: str
    type_uid: str


@dataclass(frozen=True, slots=True)
class ProductVariant:
    """Weight and price tiers before the chosen values' adjustments."""

    weight: int
    prices: Mapping[str, tuple[PriceTier, ...]]


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """A compiled catalog product: its segments, models, weights and price tiers."""

    prefix: str
    category: str
    category_uid: str
    model: ProductModel  # unless ``models`` names another for the ``models_by`` value
    segments: tuple[ProductSegment, ...]
    by_code: Mapping[str, ProductSegment]
    orientation: OrientationMode
    orientations: Mapping[str, Attribute]  # empty when the product has none
    models_by: str | None
    models: Mapping[str, ProductModel]
    variants_by: str
    variants: Mapping[str, ProductVariant]
    adjustments: Mapping[str, Mapping[str, tuple[Decimal, Decimal]]]  # price %, weight %

    @property
    def name(self) -> str:
        return self.model.name

    def described(self) -> str:
        return f"product '{self.prefix}' ({self.model.name})"

    def example_uid(self) -> str:
        """A canonical uid of this product: defaults, else each segment's first value."""
        parts = [self.prefix]
        for segment in self.segments:
            parts += (segment.code, segment.default or next(iter(segment.accepted)))
        if self.orientation is OrientationMode.REQUIRED:
            parts.append(next(iter(self.orientations)))
        return "_".join(parts)


class Catalog:
    """Every product of the operator's catalog, found by productUid."""

    __slots__ = ("_products", "_resolve_cached")

    def __init__(self, products: Iterable[CatalogProduct]) -> None:
        self._products = {product.prefix: product for product in products}
        self._resolve_cached = lru_cache(maxsize=_CACHE_SIZE)(self._resolve)

    @classmethod
    def from_file(cls, file: CatalogFile) -> Self:
        return cls(_compile(spec, file) for spec in file.products)

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(self._products)

    @property
    def products(self) -> tuple[CatalogProduct, ...]:
        return tuple(self._products.values())

    def product(self, prefix: str) -> CatalogProduct:
        """The product under ``prefix``; ``KeyError`` if the catalog has none."""
        return self._products[prefix]

    def resolve(self, product_uid: str) -> ResolvedProduct:
        """The product ``product_uid`` names, canonicalised; ``Unresolvable`` if none.

        The answer is shared between callers (it is cached): do not mutate its prices.
        """
        return self._resolve_cached(product_uid)

    def _resolve(self, uid: str) -> ResolvedProduct:
        product = self._match(uid)
        rest = uid[len(product.prefix) :]
        tokens = rest[1:].split("_") if rest else []
        if "" in tokens:
            raise _malformed(uid, product, "it has an empty part (two '_' in a row or a last '_')")
        chosen, orientation = _read_segments(product, uid, tokens)
        values = _complete(product, chosen)
        return _build(product, values, _orientation(product, orientation))

    def _match(self, uid: str) -> CatalogProduct:
        # The longest prefix wins: "flat_product_pf_a4" is product "flat_product", even
        # were there a product "flat".
        if not uid:
            raise Unresolvable("malformed_product_uid", "productUid is empty.")
        end = len(uid)
        while end > 0:
            product = self._products.get(uid[:end])
            if product is not None:
                return product
            end = uid.rfind("_", 0, end)
        raise Unresolvable(
            "unknown_product",
            f"No catalog product matches productUid '{uid}': a productUid starts with a "
            f"product prefix, one of {_listing(self._products)}.",
        )


def _read_segments(
    product: CatalogProduct, uid: str, tokens: list[str]
) -> tuple[dict[str, str], str | None]:
    """The ``key -> value`` pairs in ``tokens``, and the lone last token if any."""
    orientation = None
    if len(tokens) % 2:
        orientation = tokens.pop()
        valueless = product.by_code.get(orientation)
        if valueless is not None:
            raise _malformed(uid, product, f"segment {valueless.described()} has no value")
    chosen: dict[str, str] = {}
    for key, value in zip(tokens[::2], tokens[1::2], strict=True):
        segment = product.by_code.get(key)
        if segment is None:
            raise _unknown_segment(product, uid, key)
        if key in chosen:
            raise Unresolvable(
                "duplicate_product_segment",
                f"Segment {segment.described()} appears twice in productUid '{uid}'; "
                f"give it once, one of {_listing(segment.accepted)}.",
            )
        if value not in segment.accepted:
            raise Unresolvable(
                "invalid_product_segment_value",
                f"Segment {segment.described()} of {product.described()} does not accept "
                f"'{value}'; accepted values: {_listing(segment.accepted)}.",
            )
        chosen[key] = value
    return chosen, orientation


def _unknown_segment(product: CatalogProduct, uid: str, key: str) -> Unresolvable:
    if key in product.orientations:
        return _malformed(uid, product, f"the orientation '{key}' must come last")
    accepted = ", ".join(segment.described() for segment in product.segments)
    return Unresolvable(
        "unknown_product_segment",
        f"{_capital(product.described())} has no segment '{key}'; its segments are {accepted}.",
    )


def _complete(product: CatalogProduct, chosen: Mapping[str, str]) -> tuple[str, ...]:
    """The value of every segment in canonical order, defaults filled in."""
    values = tuple(chosen.get(segment.code, segment.default) for segment in product.segments)
    missing = [
        f"segment {segment.described()}, one of {_listing(segment.accepted)}"
        for segment, value in zip(product.segments, values, strict=True)
        if value is None
    ]
    if missing:
        raise Unresolvable(
            "missing_product_segment",
            f"The productUid of {product.described()} needs {'; and '.join(missing)}.",
        )
    return tuple(value for value in values if value is not None)


def _orientation(product: CatalogProduct, token: str | None) -> Attribute | None:
    if token is None:
        if product.orientation is OrientationMode.REQUIRED:
            raise Unresolvable(
                "missing_product_orientation",
                f"The productUid of {product.described()} must end with its orientation, "
                f"one of {_orientation_listing(product)}.",
            )
        return None
    attribute = product.orientations.get(token)
    if attribute is not None:
        return attribute
    if not product.orientations:
        message = (
            f"{_capital(product.described())} has no orientation, yet its productUid "
            f"ends with the lone part '{token}' instead of a _key_value segment."
        )
    else:
        message = (
            f"'{token}' is not an orientation of {product.described()}; accepted "
            f"orientations: {_orientation_listing(product)}."
        )
    raise Unresolvable("invalid_product_orientation", message)


def _build(
    product: CatalogProduct, values: tuple[str, ...], orientation: Attribute | None
) -> ResolvedProduct:
    parts = [product.prefix]
    attributes = []
    for segment, value in zip(product.segments, values, strict=True):
        parts += (segment.code, value)
        if segment.shown:
            attributes.append(segment.accepted[value])
    if orientation is not None:
        parts.append(orientation.value)
        attributes.append(orientation)
    chosen = dict(zip(product.by_code, values, strict=True))
    model = product.model
    if product.models_by is not None:
        model = product.models.get(chosen[product.models_by], model)
    variant = product.variants[chosen[product.variants_by]]
    price_percent, weight_percent = _percentages(product, chosen)
    return ResolvedProduct(
        product_uid="_".join(parts),
        prefix=product.prefix,
        name=model.name,
        name_uid=model.name_uid,
        category=product.category,
        category_uid=product.category_uid,
        type_uid=model.type_uid,
        attributes=tuple(attributes),
        unit_weight=_scaled_weight(variant.weight, weight_percent),
        prices={
            currency: tuple(
                PriceTier(tier.min_quantity, _scaled_price(tier.unit_price, price_percent))
                for tier in tiers
            )
            for currency, tiers in variant.prices.items()
        },
    )


def _percentages(product: CatalogProduct, chosen: Mapping[str, str]) -> tuple[Decimal, Decimal]:
    price, weight = Decimal(0), Decimal(0)
    for code, by_value in product.adjustments.items():
        adjustment = by_value.get(chosen[code])
        if adjustment is not None:
            price += adjustment[0]
            weight += adjustment[1]
    return price, weight


def _scaled_price(price: Decimal, percent: Decimal) -> Decimal:
    return price if not percent else _unit_price(price * (100 + percent) / 100)


def _unit_price(price: Decimal) -> Decimal:
    """To 1/100 cent, shown with at least cents: bulk unit prices go below a cent."""
    exact = price.quantize(_UNIT_PRICE_PRECISION, ROUND_HALF_UP)
    cents = exact.quantize(_CENT)
    return cents if cents == exact else exact.normalize()


def _scaled_weight(weight: int, percent: Decimal) -> int:
    scaled = (weight * (100 + percent) / 100).quantize(Decimal(1), ROUND_HALF_UP)
    return max(1, int(scaled))


def _malformed(uid: str, product: CatalogProduct, problem: str) -> Unresolvable:
    expected = f"'{product.prefix}', then _key_value segments"
    if product.orientations:
        expected += ", then the orientation"
    return Unresolvable(
        "malformed_product_uid",
        f"productUid '{uid}' is malformed: {problem}. Expected {expected}.",
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items)


def _orientation_listing(product: CatalogProduct) -> str:
    return ", ".join(f"{a.value} ({a.formatted_value})" for a in product.orientations.values())


def _attributes(definition: AttributeDefinition, values: Iterable[str]) -> dict[str, Attribute]:
    return {
        value: Attribute(definition.name, definition.title, value, definition.values[value])
        for value in values
    }


def _compile(spec: ProductSpec, file: CatalogFile) -> CatalogProduct:
    """A product's lookups, built once per catalog import."""
    segments = tuple(_segment(segment, file.attributes[segment.code]) for segment in spec.segments)
    orientations = {}
    if spec.orientation is not OrientationMode.NONE:
        orientations = _attributes(file.orientation, file.orientation.values)
    models = spec.models.values if spec.models is not None else {}
    return CatalogProduct(
        prefix=spec.prefix,
        category=spec.category,
        category_uid=spec.category_uid,
        model=ProductModel(spec.name, spec.name_uid, spec.type_uid),
        segments=segments,
        by_code={segment.code: segment for segment in segments},
        orientation=spec.orientation,
        orientations=orientations,
        models_by=spec.models.segment if spec.models is not None else None,
        models={
            value: ProductModel(model.name, model.name_uid, model.type_uid or spec.type_uid)
            for value, model in models.items()
        },
        variants_by=spec.variants.segment,
        variants={value: _variant(variant) for value, variant in spec.variants.values.items()},
        adjustments={
            code: {value: (a.price_percent, a.weight_percent) for value, a in by_value.items()}
            for code, by_value in spec.adjustments.items()
        },
    )


def _segment(spec: SegmentSpec, definition: AttributeDefinition) -> ProductSegment:
    accepted = _attributes(definition, spec.values)
    return ProductSegment(spec.code, definition.title, accepted, spec.default, spec.shown)


def _variant(spec: VariantSpec) -> ProductVariant:
    prices = {
        currency: tuple(
            PriceTier(quantity, _unit_price(price)) for quantity, price in tiers.items()
        )
        for currency, tiers in spec.prices.items()
    }
    return ProductVariant(spec.weight, prices)
