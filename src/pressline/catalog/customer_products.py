"""Customer products: a customer's own names for catalog products.

An order item may say ``"productName": "Business Card"`` with ``"productVariant":
{"Size": "Standard", ...}`` instead of a productUid (domain notes §4). A spec holds a
base productUid (the catalog prefix plus the segments every variant shares), the
orientation when every variant has the same one, and per option value the productUid
segments that value sets. ``resolve_variant`` joins them into a productUid for
``Catalog.resolve``, which checks it and puts it in canonical order.

A spec knows no catalog, so it cannot tell on its own whether its segments exist:
importing one resolves every combination against the catalog in force.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from pressline.catalog.documents import fail_at
from pressline.catalog.model import Unresolvable
from pressline.catalog.product_file import ORIENTATION, Code, Loc, NonEmpty, Value

__all__ = ["CustomerProductSpec", "CustomerProductsFile", "resolve_variant"]

# A prefix and segments without orientation: tokens of letters, digits, "." and "-".
BaseUid = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.\-]*(_[a-z0-9][a-z0-9.\-]*)*$")
]
Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
#: segment code -> value; the key ``orientation`` sets the orientation token instead.
Segments = Annotated[dict[Code, Value], Field(min_length=1)]
OptionValues = Annotated[dict[Label, Segments], Field(min_length=1)]


class _FileModel(BaseModel):
    # A YAML option value such as 30 or a page count 24 is meant as text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class CustomerProductSpec(_FileModel):
    """One customer-facing product (``productName``) and its variant options."""

    name: Label
    base_product_uid: BaseUid
    orientation: Value | None = None  # when every variant has the same one
    options: dict[Label, OptionValues] = Field(min_length=1)  # option -> value -> segments

    @field_validator("options")
    @classmethod
    def _options_set_distinct_things(
        cls, options: dict[str, dict[str, dict[str, str]]], info: ValidationInfo
    ) -> dict[str, dict[str, dict[str, str]]]:
        # Two values alike would make one productVariant ambiguous; two options on one
        # segment would make the uid depend on which option wins.
        problems: list[tuple[Loc, str]] = []
        owners = {ORIENTATION: "the orientation field"} if info.data.get("orientation") else {}
        for option, values in options.items():
            problems.extend(_identical_values(option, values))
            for code in dict.fromkeys(itertools.chain.from_iterable(values.values())):
                if code in owners:
                    problems.append(((option,), f"segment '{code}' is also set by {owners[code]}"))
                owners.setdefault(code, f"option '{option}'")
        fail_at(problems, options)
        return options

    def combinations(self) -> Iterator[dict[str, str]]:
        """Every productVariant the spec accepts (the product of its options' values)."""
        names = list(self.options)
        for choice in itertools.product(*(self.options[name] for name in names)):
            yield dict(zip(names, choice, strict=True))


def _identical_values(
    option: str, values: Mapping[str, Mapping[str, str]]
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    earlier: dict[tuple[tuple[str, str], ...], str] = {}
    for value, segments in values.items():
        key = tuple(sorted(segments.items()))
        if key in earlier:
            text = f"'{value}' sets the same segments as '{earlier[key]}' of option '{option}'"
            problems.append(((option, value), text))
        earlier.setdefault(key, value)
    return problems


class CustomerProductsFile(_FileModel):
    """A customer's products file (``pressline customer-products import FILE``)."""

    products: NonEmpty[CustomerProductSpec]

    @field_validator("products")
    @classmethod
    def _unique_names(
        cls, products: tuple[CustomerProductSpec, ...]
    ) -> tuple[CustomerProductSpec, ...]:
        names = [product.name for product in products]
        fail_at(
            [
                ((index, "name"), f"product name '{name}' is listed twice")
                for index, name in enumerate(names)
                if name in names[:index]
            ],
            products,
        )
        return products


def resolve_variant(spec: CustomerProductSpec, variant: Mapping[str, str]) -> str:
    """The productUid ``variant`` picks from ``spec``; ``Unresolvable`` if it does not fit.

    Names and values compare exactly (case and spaces count); the errors list what
    exists so an integrator can correct the spelling.
    """
    unknown = [name for name in variant if name not in spec.options]
    if unknown:
        raise Unresolvable(
            "unknown_product_option",
            f"Customer product '{spec.name}' has no option {_quoted(unknown)}; its options "
            f"are {_quoted(spec.options)}.",
        )
    missing = [name for name in spec.options if name not in variant]
    if missing:
        raise Unresolvable(
            "missing_product_option",
            f"The productVariant of customer product '{spec.name}' lacks {_quoted(missing)}; "
            f"give a value for each of its options {_quoted(spec.options)}.",
        )
    parts = [spec.base_product_uid]
    orientation = spec.orientation
    for option, values in spec.options.items():
        segments = values.get(variant[option])
        if segments is None:
            raise Unresolvable(
                "invalid_product_option_value",
                f"Option '{option}' of customer product '{spec.name}' has no value "
                f"'{variant[option]}'; its values are {_quoted(values)}.",
            )
        for code, value in segments.items():
            if code == ORIENTATION:
                orientation = value
            else:
                parts += (code, value)
    if orientation is not None:
        parts.append(orientation)
    return "_".join(parts)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)
