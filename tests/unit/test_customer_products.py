"""Customer products (``pressline.catalog.customer_products``): productName + productVariant.

The Business Card example is seed 001's "Using Customer Products"; the Framed Poster
one is seed 000's "Selecting a Product".
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pressline.catalog.customer_products import (
    CustomerProductsFile,
    CustomerProductSpec,
    resolve_variant,
)
from pressline.catalog.model import Unresolvable
from pressline.catalog.products import Catalog, CatalogFile


def _data(name: str) -> Any:
    return yaml.safe_load((resources.files("pressline.catalog") / "data" / name).read_text())


CATALOG = Catalog.from_file(CatalogFile.model_validate(_data("catalog.yaml")))
EXAMPLE = CustomerProductsFile.model_validate(_data("customer_products.example.yaml"))
BUSINESS_CARD = next(spec for spec in EXAMPLE.products if spec.name == "Business Card")
SEED_VARIANT = {"Size": "Standard", "Paper": "Premium Matte", "Color": "Full Color Both Sides"}


def business_card() -> dict[str, Any]:
    return {
        "name": "Business Card",
        "base_product_uid": "cards",
        "orientation": "hor",
        "options": {
            "Size": {"Standard": {"pf": "85x55-mm"}, "US Standard": {"pf": "3.5x2-inch"}},
            "Color": {"Both Sides": {"cl": "4-4"}, "Front Only": {"cl": "4-0"}},
        },
    }


def unresolvable(spec: CustomerProductSpec, variant: dict[str, str]) -> Unresolvable:
    with pytest.raises(Unresolvable) as caught:
        resolve_variant(spec, variant)
    return caught.value


# Resolution ---------------------------------------------------------------------------


def test_the_seed_business_card_variant_resolves_to_a_business_card_uid() -> None:
    product = CATALOG.resolve(resolve_variant(BUSINESS_CARD, SEED_VARIANT))

    assert (
        product.product_uid
        == "cards_pf_85x55-mm_pt_350-gsm-coated-silk_cl_4-4_ct_matt-lamination_hor"
    )
    assert product.type_uid == "business-card"


def test_the_seed_framed_poster_variant_resolves_to_a_black_a3_frame() -> None:
    spec = next(spec for spec in EXAMPLE.products if spec.name == "Framed Poster")

    uid = resolve_variant(spec, {"FrameColour": "Black", "PaperSize": "A3"})

    assert CATALOG.resolve(uid).product_uid == (
        "frame_product_frs_a3_frc_black_frm_wood_frp_w13xt22-mm_gt_plexiglass"
    )


def test_the_order_of_the_variant_keys_does_not_matter() -> None:
    reordered = dict(reversed(list(SEED_VARIANT.items())))

    assert resolve_variant(BUSINESS_CARD, reordered) == resolve_variant(BUSINESS_CARD, SEED_VARIANT)


def test_the_orientation_comes_last_whether_the_spec_or_an_option_sets_it() -> None:
    spec = CustomerProductSpec.model_validate(
        {
            "name": "Poster",
            "base_product_uid": "large-posters_pt_170-gsm-coated-silk",
            "options": {
                "Orientation": {"Portrait": {"orientation": "ver"}},
                "Size": {"50x70": {"pf": "500x700-mm"}},
            },
        }
    )

    uid = resolve_variant(spec, {"Orientation": "Portrait", "Size": "50x70"})

    assert uid == "large-posters_pt_170-gsm-coated-silk_pf_500x700-mm_ver"
    assert resolve_variant(BUSINESS_CARD, SEED_VARIANT).endswith("_hor")


@pytest.mark.parametrize("spec", EXAMPLE.products, ids=lambda spec: spec.name)
def test_every_combination_of_the_example_file_resolves_in_the_starter_catalog(
    spec: CustomerProductSpec,
) -> None:
    uids = set()
    for variant in spec.combinations():
        uids.add(CATALOG.resolve(resolve_variant(spec, variant)).product_uid)

    option_sizes = [len(values) for values in spec.options.values()]
    expected = 1
    for size in option_sizes:
        expected *= size
    assert len(uids) == expected  # and no two variants are the same product


def test_combinations_list_each_choice_of_one_value_per_option() -> None:
    spec = CustomerProductSpec.model_validate(business_card())

    assert list(spec.combinations()) == [
        {"Size": "Standard", "Color": "Both Sides"},
        {"Size": "Standard", "Color": "Front Only"},
        {"Size": "US Standard", "Color": "Both Sides"},
        {"Size": "US Standard", "Color": "Front Only"},
    ]


def test_a_spec_survives_the_json_round_trip_it_is_stored_in() -> None:
    stored = BUSINESS_CARD.model_dump(mode="json")

    assert CustomerProductSpec.model_validate(stored) == BUSINESS_CARD


# Variants that do not fit -------------------------------------------------------------


def test_an_unknown_option_is_refused_with_the_options_that_exist() -> None:
    error = unresolvable(BUSINESS_CARD, {**SEED_VARIANT, "Colour": "Full Color Both Sides"})

    assert error.code == "unknown_product_option"
    assert "'Colour'" in error.message
    assert "'Size', 'Paper', 'Color'" in error.message


def test_a_missing_option_is_refused_with_the_options_to_give() -> None:
    error = unresolvable(BUSINESS_CARD, {"Size": "Standard"})

    assert error.code == "missing_product_option"
    assert "lacks 'Paper', 'Color'" in error.message
    assert "'Size', 'Paper', 'Color'" in error.message


def test_an_option_value_is_compared_exactly_and_refused_with_the_values_that_exist() -> None:
    error = unresolvable(BUSINESS_CARD, {**SEED_VARIANT, "Paper": "premium matte"})

    assert error.code == "invalid_product_option_value"
    assert "'Paper'" in error.message
    assert "'premium matte'" in error.message
    assert "'Premium Matte', 'Glossy', 'Natural Uncoated'" in error.message


# Invalid specs and files --------------------------------------------------------------

Change = Callable[[dict[str, Any]], object]

INVALID: list[tuple[str, Change, tuple[str | int, ...]]] = [
    ("no options", lambda s: s.update(options={}), ("options",)),
    ("an option without values", lambda s: s["options"].update(Paper={}), ("options", "Paper")),
    (
        "a value that sets nothing",
        lambda s: s["options"]["Size"].update(Custom={}),
        ("options", "Size", "Custom"),
    ),
    (
        "two values of one option alike",
        lambda s: s["options"]["Size"].update(Regular={"pf": "85x55-mm"}),
        ("options", "Size", "Regular"),
    ),
    (
        "two options setting one segment",
        lambda s: s["options"].update(Format={"Wide": {"pf": "3.5x2-inch"}}),
        ("options", "Format"),
    ),
    (
        "an option setting the orientation the spec fixes",
        lambda s: s["options"].update(Orientation={"Portrait": {"orientation": "ver"}}),
        ("options", "Orientation"),
    ),
    (
        "a segment value with an underscore",
        lambda s: s["options"]["Size"].update(Odd={"pf": "85_55"}),
        ("options", "Size", "Odd", "pf"),
    ),
    (
        "a base uid with spaces",
        lambda s: s.update(base_product_uid="cards pf"),
        ("base_product_uid",),
    ),
]


@pytest.mark.parametrize(("change", "loc"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_an_invalid_spec_is_refused_at_the_offending_option(
    change: Change, loc: tuple[str | int, ...]
) -> None:
    document = business_card()
    change(document)

    with pytest.raises(ValidationError) as caught:
        CustomerProductSpec.model_validate(document)

    assert [error["loc"] for error in caught.value.errors()] == [loc]


def test_a_file_naming_one_product_twice_is_refused_at_the_second() -> None:
    second = copy.deepcopy(business_card())

    with pytest.raises(ValidationError) as caught:
        CustomerProductsFile.model_validate({"products": [business_card(), second]})

    assert [error["loc"] for error in caught.value.errors()] == [("products", 1, "name")]


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerProductsFile.model_validate({"products": []})

    assert caught.value.errors()[0]["loc"] == ("products",)
