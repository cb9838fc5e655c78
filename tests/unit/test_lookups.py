"""Lookup tables: rows, CSV import and export, and the lookups() templates call."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pressline.errors import InvalidReferenceFile, ValidationFailed
from pressline.templates import (
    Format,
    LookupNotFound,
    LookupTable,
    LookupTables,
    RenderPool,
    TemplateSource,
    TemplateType,
    read_csv,
    write_csv,
)
from pressline.templates.lookups import MAX_ROWS, MAX_TABLE_CHARS, LookupFailed, lookup_function

POSTER = "large-posters_pf_500x700-mm_pt_170-gsm-coated-silk_cl_4-0_ver"
FLYER = "flat_product_pf_a4_pt_200-gsm-uncoated_cl_4-0_ct_none_prt_none_sft_none_set_none_hor"


def sku_table(**kw: str | None) -> LookupTable:
    return LookupTable.from_rows("sku", [("POSTER-50x70", POSTER), ("FLYER-A4", FLYER)], **kw)  # type: ignore[arg-type]


# --- the table -------------------------------------------------------------------------


def test_rows_round_trip_in_the_order_given() -> None:
    table = LookupTable.from_rows("shipping", [("Standard", "dhl_paket"), ("Express", "ups")])
    assert table.to_rows() == [("Standard", "dhl_paket"), ("Express", "ups")]
    assert LookupTable.from_rows("shipping", table.to_rows()) == table


def test_keys_and_values_are_trimmed_and_keys_keep_their_case() -> None:
    table = LookupTable.from_rows("sku", [("  FLYER-A4 ", f" {FLYER}\t")])
    assert table.get("FLYER-A4") == FLYER
    assert table.get(" FLYER-A4") == FLYER
    assert table.get("flyer-a4") is None


def test_every_bad_row_is_reported_at_its_index() -> None:
    rows = [("A", "1"), ("", "2"), ("A", "3"), ("B", "x" * 1001)]
    with pytest.raises(ValidationFailed) as caught:
        LookupTable.from_rows("sku", rows)
    found = [(error.code, error.param) for error in caught.value.errors]
    assert found == [
        ("required", "rows[1].key"),
        ("duplicate_key", "rows[2].key"),
        ("too_long", "rows[3].key"),
    ]


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "-leading-dash", "sku/2"])
def test_a_table_name_must_be_usable_in_a_template(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        LookupTable.from_rows(name, [("a", "b")])
    assert [error.param for error in caught.value.errors] == ["name"]


def test_rows_are_edited_one_at_a_time_without_changing_the_original() -> None:
    table = sku_table()
    edited = (
        table.with_row("MUG", "mug_uid").with_row("FLYER-A4", "other").without_row("POSTER-50x70")
    )
    assert edited.to_rows() == [("FLYER-A4", "other"), ("MUG", "mug_uid")]
    assert table.get("POSTER-50x70") == POSTER


def test_an_edit_with_an_empty_key_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="The key is empty"):
        sku_table().with_row("  ", "x")


def test_the_fingerprint_follows_the_content() -> None:
    assert sku_table().fingerprint == sku_table().fingerprint
    assert sku_table().fingerprint != sku_table(fallback="x").fingerprint
    assert sku_table().fingerprint != sku_table().with_row("MUG", "m").fingerprint


# --- CSV -------------------------------------------------------------------------------


def test_csv_with_a_header_and_a_byte_order_mark_is_read() -> None:
    data = f"\ufeffKey,Value\r\nPOSTER-50x70,{POSTER}\r\n\r\nFLYER-A4,{FLYER}\r\n".encode()
    table = read_csv(data, name="sku")
    assert table == sku_table()


def test_csv_without_a_header_is_all_rows() -> None:
    table = read_csv(f"POSTER-50x70,{POSTER}\nFLYER-A4,{FLYER}\n", name="sku")
    assert table.to_rows() == [("POSTER-50x70", POSTER), ("FLYER-A4", FLYER)]


def test_a_key_value_line_further_down_is_a_row_not_a_header() -> None:
    table = read_csv("a,1\nkey,value\n", name="t")
    assert table.get("key") == "value"


def test_csv_problems_are_all_reported_by_line_and_nothing_is_imported() -> None:
    data = (
        "key,value\n"  # 1
        "A,1\n"  # 2
        "B,2,extra\n"  # 3
        ",3\n"  # 4
        "A,4\n"  # 5
        'C;"5"\n'  # 6
    )
    with pytest.raises(InvalidReferenceFile) as caught:
        read_csv(data, name="sku", source="sku.csv")
    messages = [error.message for error in caught.value.errors]
    assert messages == [
        "line 3: expected 2 columns (key,value), found 3",
        "line 4: the key is empty",
        "line 5: duplicate key 'A' (first on line 2)",
        "line 6: expected 2 columns (key,value), found 1 (separate columns with a comma)",
    ]
    assert caught.value.message == "sku.csv was not imported (4 problems); nothing changed."


def test_csv_lines_are_counted_across_quoted_line_breaks() -> None:
    data = 'A,"two\nlines"\nA,again\n'
    with pytest.raises(InvalidReferenceFile) as caught:
        read_csv(data, name="t")
    assert [e.message for e in caught.value.errors] == [
        "line 3: duplicate key 'A' (first on line 1)"
    ]


def test_csv_that_is_not_utf8_names_the_line() -> None:
    with pytest.raises(InvalidReferenceFile) as caught:
        read_csv(b"a,1\nb,caf\xe9\n", name="t")
    assert caught.value.errors[0].message.startswith("line 2: not UTF-8")


def test_an_unusable_table_name_fails_the_csv_import() -> None:
    with pytest.raises(InvalidReferenceFile) as caught:
        read_csv("a,1\n", name="no spaces please")
    assert caught.value.errors[0].param == "name"


def test_export_reads_back_to_the_same_table() -> None:
    table = LookupTable.from_rows(
        "notes", [("comma,key", 'say "hi"'), ("multi", "line\nvalue"), ("=SUM(A1)", "x")]
    )
    text = write_csv(table)
    assert text.startswith("key,value\n")
    assert read_csv(text, name="notes") == table


# --- lookups() -------------------------------------------------------------------------


def lookups_over(*tables: LookupTable) -> object:
    by_name = {table.name: table for table in tables}
    return lookup_function(by_name.get)


SHIPPING = LookupTable.from_rows("shipping", [("Standard", "dhl_paket")], fallback="standard")


def call(*tables: LookupTable, keys: object, **kw: object) -> object:
    function = lookups_over(*tables)
    assert callable(function)
    return function(keys, **kw)


def test_lookups_returns_the_value_of_the_key() -> None:
    assert call(sku_table(), keys={"sku": "FLYER-A4"}) == FLYER


def test_lookups_returns_the_default_for_a_missing_key_when_not_strict() -> None:
    assert call(sku_table(), keys={"sku": "MUG"}) == ""
    assert call(sku_table(), keys={"sku": "MUG"}, default="none") == "none"
    assert call(sku_table(), keys={"sku": None}, default="none") == "none"


def test_strict_lookups_name_the_key_and_the_table() -> None:
    with pytest.raises(LookupFailed, match="no row for key 'MUG' in table 'sku'"):
        call(sku_table(), keys={"sku": "MUG"}, strict=True)


def test_a_table_fallback_answers_before_default_and_strict() -> None:
    assert call(SHIPPING, keys={"shipping": "Overnight"}, default="x") == "standard"
    assert call(SHIPPING, keys={"shipping": "Overnight"}, strict=True) == "standard"


def test_several_tables_are_tried_in_order_then_their_fallbacks() -> None:
    keys = {"sku": "Standard", "shipping": "Standard"}
    assert call(sku_table(), SHIPPING, keys=keys) == "dhl_paket"
    assert call(sku_table(), SHIPPING, keys={"sku": "X", "shipping": "Y"}) == "standard"


def test_numbers_are_looked_up_by_their_text() -> None:
    table = LookupTable.from_rows("ids", [("1042", "yes")])
    assert call(table, keys={"ids": 1042}) == "yes"


def test_a_table_that_does_not_exist_is_an_error_even_when_not_strict() -> None:
    with pytest.raises(LookupFailed, match="no lookup table named 'skus'"):
        call(sku_table(), keys={"skus": "FLYER-A4"})


@pytest.mark.parametrize("keys", [{}, "FLYER-A4", ["sku"]])
def test_lookups_takes_a_dict_of_table_to_key(keys: object) -> None:
    with pytest.raises(LookupFailed, match="takes a dict"):
        call(sku_table(), keys=keys)


# --- through the renderer ----------------------------------------------------------------


def template(source: str) -> TemplateSource:
    return TemplateSource(
        "items", 2, TemplateType.ORDER_SUBMIT_REQUEST, Format.JSON, Format.JSON, source
    )


ITEMS = "[\n{% for sku in skus %}{{ lookups({'sku': sku}, strict=True) | json }},\n{% endfor %}0]"


def test_a_strict_miss_in_a_template_names_the_key_template_and_line(pool: RenderPool) -> None:
    with pytest.raises(LookupNotFound) as caught:
        pool.render(template(ITEMS), b'{"skus": ["FLYER-A4", "MUG-11OZ"]}',
                    lookups=LookupTables([sku_table()]))  # fmt: skip
    assert caught.value.line == 2
    assert caught.value.message == (
        "Template 'items' v2, line 2: lookups(): no row for key 'MUG-11OZ' in table 'sku', "
        "and no fallback (strict=True)"
    )


class CountingTables:
    """A resolver that counts the tables the renderer had to fetch."""

    def __init__(self, *tables: LookupTable) -> None:
        self.tables = LookupTables(tables)
        self.fetched: list[str] = []

    def fingerprints(self) -> Mapping[str, str]:
        return self.tables.fingerprints()

    def table(self, name: str) -> LookupTable | None:
        self.fetched.append(name)
        return self.tables.table(name)


def test_a_worker_fetches_a_table_once_and_sees_every_edit(pool: RenderPool) -> None:
    first = CountingTables(sku_table().with_row("ONLY-IN-THIS-TEST", "x"))
    for _ in range(3):
        out = pool.render(template(ITEMS), b'{"skus": ["FLYER-A4"]}', lookups=first)
        assert out.value == [FLYER, 0]
    assert first.fetched == ["sku"]

    edited = CountingTables(sku_table().with_row("FLYER-A4", "new-uid"))
    out = pool.render(template(ITEMS), b'{"skus": ["FLYER-A4"]}', lookups=edited)
    assert out.value == ["new-uid", 0]
    assert edited.fetched == ["sku"]


def _full_table(extra: int = 0) -> list[tuple[str, str]]:
    """MAX_ROWS rows holding MAX_TABLE_CHARS characters (plus ``extra`` in the last value)."""
    width = MAX_TABLE_CHARS // MAX_ROWS - 6  # each key is six characters
    rows = [(f"k{i:05d}", "v" * width) for i in range(MAX_ROWS)]
    rows[-1] = (rows[-1][0], "v" * (width + extra))
    return rows


def test_a_table_of_the_largest_size_allowed_renders(pool: RenderPool) -> None:
    table = LookupTable.from_rows("sku", _full_table())
    last = f"k{MAX_ROWS - 1:05d}"
    out = pool.render(template(ITEMS), f'{{"skus": ["{last}"]}}'.encode(),
                      lookups=LookupTables([table]))  # fmt: skip
    assert out.value == [table.rows[last], 0]


def test_a_table_larger_than_that_is_refused_when_saved() -> None:
    with pytest.raises(ValidationFailed) as refused:
        LookupTable.from_rows("sku", _full_table(extra=1))
    [error] = refused.value.field_errors
    assert (error.code, error.param) == ("too_large", "rows")
    assert "16,000,001 characters" in error.message
