"""Operator files: every problem reported, each at the line it is on."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from pressline.catalog import documents
from pressline.errors import InvalidReferenceFile


class Size(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    grams: int

    @field_validator("grams")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value


class Sheet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    sizes: list[Size]


GOOD = """\
# a comment the operator wrote
name: flyers
sizes:
  - code: a4
    grams: 5
  - code: a5
    grams: 3
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidReferenceFile) as caught:
        documents.parse(Sheet, text, source="sheet.yaml")
    return [error.message for error in caught.value.field_errors]


def test_a_valid_file_gives_the_model() -> None:
    sheet = documents.parse(Sheet, GOOD, source="sheet.yaml")
    assert [size.code for size in sheet.sizes] == ["a4", "a5"]


def test_a_bad_value_is_reported_at_its_own_line() -> None:
    text = GOOD.replace("grams: 3", "grams: -3")
    assert problems(text) == ["line 7: sizes.1.grams: Value error, must be positive"]


def test_every_problem_is_listed_not_only_the_first() -> None:
    text = GOOD.replace("grams: 5", "grams: five").replace("code: a5", "kode: a5")
    found = problems(text)
    assert len(found) == 3
    assert found[0].startswith("line 5: sizes.0.grams:")
    assert any(message.startswith("line 6: sizes.1.code: Field required") for message in found)
    assert any(message.startswith("line 6: sizes.1.kode: Extra inputs") for message in found)


def test_a_missing_key_points_at_the_entry_that_lacks_it() -> None:
    text = "name: flyers\nsizes:\n  - code: a4\n"
    assert problems(text) == ["line 3: sizes.0.grams: Field required"]


def test_broken_yaml_names_its_line() -> None:
    found = problems("name: flyers\nsizes: [\n  - code: a4\n")
    assert len(found) == 1 and found[0].startswith("line ")
    assert "not valid YAML" in found[0]


def test_the_summary_says_nothing_changed() -> None:
    with pytest.raises(InvalidReferenceFile) as caught:
        documents.parse(Sheet, "name: 1\n", source="sheet.yaml")
    assert caught.value.message.startswith("sheet.yaml was not imported (")
    assert caught.value.message.endswith("nothing changed.")
