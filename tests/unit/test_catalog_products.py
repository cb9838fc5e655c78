"""The product catalog (``pressline.catalog.products``): productUids in, products out.

Facts about the seed uids come from seed 000 (Get Order's item and the Selecting a
Product example); the weight/price scheme and the file checks run on a small catalog
built here, so they do not depend on the starter file's prices.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pressline.catalog.model import Attribute, PriceTier, Unresolvable
from pressline.catalog.products import PRODUCT_TYPES, Catalog, CatalogFile

SEED_POSTER = "large-posters_pf_500x700-mm_pt_170-gsm-coated-silk_cl_4-0_ver"
SEED_FLYER = "flat_product_pf_a4_pt_200-gsm-uncoated_cl_4-0_ct_none_prt_none_sft_none_set_none_hor"
SEED_FRAME = "frame_product_frs_10x10-inch_frc_oak_frm_wood_frp_w13xt22-mm_gt_plexiglass"
CURRENCIES = {"EUR", "USD", "GBP"}


def starter_document() -> Any:
    text = (resources.files("pressline.catalog") / "data" / "catalog.yaml").read_text()
    return yaml.safe_load(text)


STARTER = Catalog.from_file(CatalogFile.model_validate(starter_document()))


def tiny_document() -> dict[str, Any]:
    """A one-product catalog small enough to reason about by hand."""

    def prices(a4: str, a3: str) -> dict[str, dict[int, str]]:
        return {"EUR": {1: a4, 100: a3, 1000: "0.035"}, "USD": {1: a4, 100: a3}}

    return {
        "currencies": ["EUR", "USD"],
        "orientation": {
            "name": "orientation",
            "title": "Orientation",
            "values": {"hor": "Horizontal", "ver": "Vertical"},
        },
        "attributes": {
            "pf": {"name": "size", "title": "Size", "values": {"a4": "A4", "a3": "A3", "a5": "A5"}},
            "pt": {"name": "paper", "title": "Paper", "values": {"thin": "Thin", "thick": "Thick"}},
            "cl": {"name": "colors", "title": "Colours", "values": {"4-0": "4+0", "4-4": "4+4"}},
        },
        "products": [
            {
                "prefix": "flat_product",
                "name": "Flyer",
                "name_uid": "flyer",
                "category": "Flyers",
                "category_uid": "printed-products",
                "type_uid": "flyer",
                "orientation": "required",
                "segments": [
                    {"code": "pf", "values": ["a4", "a3"]},
                    {"code": "pt", "values": ["thin", "thick"], "default": "thin"},
                    {"code": "cl", "values": ["4-0", "4-4"], "default": "4-0"},
                ],
                "variants": {
                    "segment": "pf",
                    "values": {
                        "a4": {"weight": 10, "prices": prices("0.40", "0.20")},
                        "a3": {"weight": 20, "prices": prices("0.70", "0.35")},
                    },
                },
                "adjustments": {
                    "pt": {"thick": {"price_percent": 25, "weight_percent": 50}},
                    "cl": {"4-4": {"price_percent": 10}},
                },
            }
        ],
    }


def tiny_catalog(change: Callable[[dict[str, Any]], object] = lambda document: None) -> Catalog:
    document = tiny_document()
    change(document)
    return Catalog.from_file(CatalogFile.model_validate(document))


def unresolvable(catalog: Catalog, uid: str) -> Unresolvable:
    with pytest.raises(Unresolvable) as caught:
        catalog.resolve(uid)
    return caught.value


# The seed uids ------------------------------------------------------------------------


def test_the_seed_poster_resolves_to_the_get_order_example() -> None:
    product = STARTER.resolve(SEED_POSTER)

    assert product.product_uid == SEED_POSTER
    assert product.prefix == "large-posters"
    assert (product.category, product.category_uid, product.type_uid) == (
        "Posters",
        "wall-art",
        "poster",
    )
    assert (product.name, product.name_uid) == (
        "Classic Semi-Glossy Poster",
        "classic-semi-glossy-poster",
    )
    assert product.attributes[0] == Attribute("size", "Size", "500x700-mm", "50 x 70 cm")
    assert product.attributes[-1] == Attribute(
        "orientation", "Orientation", "ver", "Vertical (portrait) orientation"
    )
    assert product.unit_weight == 800  # Get Order's unitWeight metadata


def test_the_seed_flyer_resolves_to_itself_with_every_segment_as_an_attribute() -> None:
    product = STARTER.resolve(SEED_FLYER)

    assert product.product_uid == SEED_FLYER
    assert (product.category_uid, product.type_uid) == ("printed-products", "flyer")
    assert [attribute.value for attribute in product.attributes] == [
        "a4",
        "200-gsm-uncoated",
        "4-0",
        "none",
        "none",
        "none",
        "none",
        "hor",
    ]
    assert product.attributes[-1].formatted_value == "Horizontal (landscape) orientation"


def test_the_seed_framed_poster_resolves_without_an_orientation() -> None:
    product = STARTER.resolve(SEED_FRAME)

    assert product.product_uid == SEED_FRAME
    assert (product.category_uid, product.type_uid) == ("wall-art", "framed-poster")
    assert [attribute.name for attribute in product.attributes] == [
        "frame_size",
        "frame_color",
        "frame_material",
        "passe_partout",
        "glass_type",
    ]


# Canonical form -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("large-posters_cl_4-0_pt_170-gsm-coated-silk_pf_500x700-mm_ver", SEED_POSTER),
        (
            "flat_product_set_none_sft_none_prt_none_ct_none_cl_4-0_pt_200-gsm-uncoated_pf_a4_hor",
            SEED_FLYER,
        ),
        ("frame_product_gt_plexiglass_frp_w13xt22-mm_frm_wood_frc_oak_frs_10x10-inch", SEED_FRAME),
    ],
)
def test_segments_in_any_order_resolve_to_the_canonical_uid(given: str, canonical: str) -> None:
    assert STARTER.resolve(given).product_uid == canonical


def test_left_out_segments_take_their_defaults_in_the_canonical_uid() -> None:
    product = STARTER.resolve("flat_product_pf_a4_hor")

    assert product.product_uid == (
        "flat_product_pf_a4_pt_170-gsm-coated-silk_cl_4-0_ct_none_prt_none_sft_none_set_none_hor"
    )
    assert [a.name for a in product.attributes][1:3] == ["paper_type", "colors"]


def test_the_model_name_follows_the_segment_that_names_it() -> None:
    matte = STARTER.resolve("large-posters_pf_500x700-mm_pt_200-gsm-uncoated_ver")

    assert (matte.name, matte.name_uid) == ("Classic Matte Poster", "classic-matte-poster")
    assert matte.type_uid == "poster"


def test_the_same_uid_twice_is_answered_from_the_cache() -> None:
    assert STARTER.resolve(SEED_POSTER) is STARTER.resolve(SEED_POSTER)


def test_a_prefix_may_contain_underscores_and_the_longest_matching_one_wins() -> None:
    def add_short_prefix(document: dict[str, Any]) -> None:
        short = copy.deepcopy(document["products"][0])
        short.update(prefix="flat", name="Short", name_uid="short")
        document["products"].append(short)

    catalog = tiny_catalog(add_short_prefix)

    assert catalog.resolve("flat_product_pf_a4_hor").prefix == "flat_product"
    assert catalog.resolve("flat_pf_a4_hor").name == "Short"
    assert catalog.prefixes == ("flat_product", "flat")


def test_an_optional_orientation_may_be_left_out_of_the_uid() -> None:
    catalog = tiny_catalog(lambda document: document["products"][0].update(orientation="optional"))

    without = catalog.resolve("flat_product_pf_a4")
    with_it = catalog.resolve("flat_product_pf_a4_ver")

    assert without.product_uid == "flat_product_pf_a4_pt_thin_cl_4-0"
    assert [a.name for a in without.attributes] == ["size", "paper", "colors"]
    assert with_it.product_uid == "flat_product_pf_a4_pt_thin_cl_4-0_ver"
    assert with_it.attributes[-1].value == "ver"


# Weight and price tiers ---------------------------------------------------------------


def test_the_variant_gives_weight_and_tiers_when_no_value_adjusts_them() -> None:
    product = tiny_catalog().resolve("flat_product_pf_a3_hor")

    assert product.unit_weight == 20
    assert product.prices["EUR"] == (
        PriceTier(1, Decimal("0.70")),
        PriceTier(100, Decimal("0.35")),
        PriceTier(1000, Decimal("0.035")),
    )
    assert product.prices["USD"] == (PriceTier(1, Decimal("0.70")), PriceTier(100, Decimal("0.35")))


def test_value_adjustments_add_up_and_apply_to_every_tier_and_the_weight() -> None:
    # thick paper +25 % price +50 % weight, 4-4 +10 % price: +35 % on every tier.
    product = tiny_catalog().resolve("flat_product_pf_a4_pt_thick_cl_4-4_hor")

    assert product.unit_weight == 15
    assert [tier.unit_price for tier in product.prices["EUR"]] == [
        Decimal("0.54"),
        Decimal("0.27"),
        Decimal("0.0473"),  # 0.04725 rounded half up: bulk prices keep sub-cent precision
    ]


@pytest.mark.parametrize("prefix", STARTER.prefixes)
def test_every_starter_product_resolves_with_tiers_from_one_in_every_currency(prefix: str) -> None:
    example = STARTER.product(prefix).example_uid()

    product = STARTER.resolve(example)

    assert product.product_uid == example
    assert product.type_uid in PRODUCT_TYPES[product.category_uid]
    assert product.unit_weight > 0
    assert set(product.prices) == CURRENCIES
    for tiers in product.prices.values():
        quantities = [tier.min_quantity for tier in tiers]
        assert quantities[0] == 1
        assert quantities == sorted(set(quantities))


def test_the_starter_catalog_offers_every_product_type() -> None:
    offered = set()
    for product in STARTER.products:
        resolved = STARTER.resolve(product.example_uid())
        offered.add((resolved.category_uid, resolved.type_uid))

    assert offered == {
        (category, kind) for category, kinds in PRODUCT_TYPES.items() for kind in kinds
    }


# Unresolvable uids --------------------------------------------------------------------

SIZES = "a3, a4, a5, a6, us-letter"


@pytest.mark.parametrize(
    ("uid", "code", "fragments"),
    [
        ("posters_pf_a4_ver", "unknown_product", ["'posters_pf_a4_ver'", "large-posters, frame"]),
        ("", "malformed_product_uid", ["empty"]),
        ("flat_product_pf_a4__hor", "malformed_product_uid", ["empty part"]),
        ("flat_product_ver_pf_a4", "malformed_product_uid", ["'ver' must come last"]),
        ("flat_product_pf_a4_cl", "malformed_product_uid", ["'cl' (Colours) has no value"]),
        ("flat_product_pf_a4_frc_oak_hor", "unknown_product_segment", ["'frc'", "'pf' (Size), "]),
        ("flat_product_pf_a2_hor", "invalid_product_segment_value", ["'pf' (Size)", "'a2'", SIZES]),
        ("flat_product_pf_A4_hor", "invalid_product_segment_value", ["'A4'", SIZES]),
        ("flat_product_pf_a4_pf_a5_hor", "duplicate_product_segment", ["'pf' (Size)", SIZES]),
        ("flat_product_cl_4-4_hor", "missing_product_segment", ["'pf' (Size)", SIZES]),
        ("flat_product_pf_a4", "missing_product_orientation", ["hor (Horizontal", "ver (Vertical"]),
        ("flat_product_pf_a4_up", "invalid_product_orientation", ["'up'", "hor (Horizontal"]),
        (f"{SEED_FRAME}_ver", "invalid_product_orientation", ["no orientation", "'ver'"]),
    ],
)
def test_an_unresolvable_uid_is_refused_with_what_would_be_accepted(
    uid: str, code: str, fragments: list[str]
) -> None:
    error = unresolvable(STARTER, uid)

    assert error.code == code
    for fragment in fragments:
        assert fragment in error.message


def test_every_missing_segment_is_named_at_once() -> None:
    error = unresolvable(STARTER, "photobooks-hardcover_pt_200-gsm-uncoated")

    assert error.code == "missing_product_segment"
    assert "'pf' (Size)" in error.message
    assert "'pgc' (Page count), one of 24, 32, 48, 64, 80, 100" in error.message


# Invalid catalog documents ------------------------------------------------------------

Change = Callable[[dict[str, Any]], object]


def _product(document: dict[str, Any]) -> dict[str, Any]:
    product: dict[str, Any] = document["products"][0]
    return product


def _a4_prices(document: dict[str, Any]) -> dict[str, Any]:
    prices: dict[str, Any] = _product(document)["variants"]["values"]["a4"]["prices"]
    return prices


INVALID: list[tuple[str, Change, tuple[str | int, ...]]] = [
    (
        "duplicate prefix",
        lambda d: d["products"].append(copy.deepcopy(_product(d))),
        ("products", 1, "prefix"),
    ),
    (
        "prefix hiding another product's segment",
        lambda d: d["products"].append({**copy.deepcopy(_product(d)), "prefix": "flat_product_pf"}),
        ("products", 1, "prefix"),
    ),
    (
        "segment not among the attributes",
        lambda d: _product(d)["segments"].append({"code": "zz", "values": ["x"], "default": "x"}),
        ("products", 0, "segments", 3, "code"),
    ),
    (
        "segment listed twice",
        lambda d: _product(d)["segments"].append(
            {"code": "cl", "values": ["4-0"], "default": "4-0"}
        ),
        ("products", 0, "segments", 3, "code"),
    ),
    (
        "value not defined for the attribute",
        lambda d: _product(d)["segments"][1]["values"].append("glossy"),
        ("products", 0, "segments", 1, "values", 2),
    ),
    (
        "value listed twice",
        lambda d: _product(d)["segments"][1]["values"].append("thin"),
        ("products", 0, "segments", 1, "values", 2),
    ),
    (
        "default not accepted",
        lambda d: _product(d)["segments"][2].update(default="4-4x"),
        ("products", 0, "segments", 2, "default"),
    ),
    (
        "unknown category",
        lambda d: _product(d).update(category_uid="stationery"),
        ("products", 0, "category_uid"),
    ),
    (
        "type outside its category",
        lambda d: _product(d).update(type_uid="poster"),
        ("products", 0, "type_uid"),
    ),
    (
        "tiers not starting at 1",
        lambda d: _a4_prices(d).update(EUR={10: "0.40", 100: "0.20"}),
        ("products", 0, "variants", "values", "a4", "prices", "EUR"),
    ),
    (
        "tiers out of order",
        lambda d: _a4_prices(d).update(USD={1: "0.40", 500: "0.10", 100: "0.20"}),
        ("products", 0, "variants", "values", "a4", "prices", "USD"),
    ),
    (
        "unit price rising with the quantity",
        lambda d: _a4_prices(d).update(USD={1: "0.40", 100: "0.50"}),
        ("products", 0, "variants", "values", "a4", "prices", "USD"),
    ),
    (
        "currency missing",
        lambda d: _a4_prices(d).pop("USD"),
        ("products", 0, "variants", "values", "a4", "prices"),
    ),
    (
        "no variant for an accepted value",
        lambda d: _product(d)["variants"]["values"].pop("a3"),
        ("products", 0, "variants", "values"),
    ),
    (
        "variant for a value the product does not accept",
        lambda d: _product(d)["variants"]["values"].update(a5={"weight": 5, "prices": {}}),
        ("products", 0, "variants", "values", "a5"),
    ),
    (
        "adjustment of a segment the product lacks",
        lambda d: _product(d)["adjustments"].update(frc={"oak": {"price_percent": 5}}),
        ("products", 0, "adjustments", "frc"),
    ),
    (
        "adjustment of a value the segment does not accept",
        lambda d: _product(d)["adjustments"]["pt"].update(glossy={"price_percent": 5}),
        ("products", 0, "adjustments", "pt", "glossy"),
    ),
    (
        "model named by a segment the product lacks",
        lambda d: _product(d).update(
            models={"segment": "zz", "values": {"x": {"name": "X", "name_uid": "x"}}}
        ),
        ("products", 0, "models", "segment"),
    ),
    (
        "model of a type outside the category",
        lambda d: _product(d).update(
            models={
                "segment": "pt",
                "values": {"thick": {"name": "M", "name_uid": "m", "type_uid": "mug"}},
            }
        ),
        ("products", 0, "models", "values", "thick", "type_uid"),
    ),
    (
        "attribute code taken by the orientation",
        lambda d: d["attributes"].update(hor={"name": "h", "title": "H", "values": {"x": "X"}}),
        ("attributes", "hor"),
    ),
    ("currencies without EUR", lambda d: d.update(currencies=["USD"]), ("currencies",)),
]


@pytest.mark.parametrize(("change", "loc"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_an_invalid_catalog_is_refused_at_the_offending_entry(
    change: Change, loc: tuple[str | int, ...]
) -> None:
    document = tiny_document()
    change(document)

    with pytest.raises(ValidationError) as caught:
        CatalogFile.model_validate(document)

    assert [error["loc"] for error in caught.value.errors()] == [loc]


def test_a_value_with_an_underscore_is_refused_because_uids_split_on_it() -> None:
    document = tiny_document()
    document["attributes"]["pf"]["values"]["a_4"] = "A4"

    with pytest.raises(ValidationError) as caught:
        CatalogFile.model_validate(document)

    assert caught.value.errors()[0]["loc"][:4] == ("attributes", "pf", "values", "a_4")


def test_the_tiny_catalog_used_above_is_itself_valid() -> None:
    assert tiny_catalog().prefixes == ("flat_product",)
