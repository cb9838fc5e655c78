"""Operator files (YAML) validated by pydantic, with errors reported by line.

PyYAML gives values without positions and nodes without values, so a file is read
twice: once for its values, once for the line of every mapping key and list entry.
A pydantic error location is then mapped to the deepest line the file shows for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from pressline.errors import FieldError, InvalidReferenceFile

Model = TypeVar("Model", bound=BaseModel)
Path = tuple[str | int, ...]


def parse(model: type[Model], text: str, *, source: str) -> Model:
    """``text`` as a ``model``; every problem in one ``InvalidReferenceFile``."""
    try:
        data = yaml.safe_load(text)
        lines = dict(_lines(yaml.compose(text, Loader=yaml.SafeLoader), ()))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        error = _error(line, None, f"not valid YAML: {problem}")
        raise InvalidReferenceFile(source, [error]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            _error(_line_of(lines, tuple(item["loc"])), _dotted(item["loc"]), item["msg"])
            for item in exc.errors(include_url=False)
        ]
        raise InvalidReferenceFile(source, errors) from None


def fail_at(problems: Iterable[tuple[Path, str]], value: object) -> None:
    """Raise one validation error per problem, each at its own location.

    For checks that need a wider view than one entry (a duplicate, a cross-reference):
    pydantic prefixes these locations with the validated field's own, so ``parse`` can
    still name the YAML line of the exact entry.
    """
    details = [
        InitErrorDetails(
            type=PydanticCustomError("reference_file", "{problem}", {"problem": text}),
            loc=loc,
            input=value,
        )
        for loc, text in problems
    ]
    if details:
        raise ValidationError.from_exception_data("reference file", details)


def repeats(items: Sequence[str], what: str, *, at: Path = ()) -> list[tuple[Path, str]]:
    """A problem at each item (or at its ``at`` field) that was already listed before it."""
    return [
        ((index, *at), f"{what} '{item}' is listed twice")
        for index, item in enumerate(items)
        if item in items[:index]
    ]


def _lines(node: yaml.Node | None, path: Path) -> Iterator[tuple[Path, int]]:
    if node is None:
        return
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield (*path, str(key.value)), key.start_mark.line + 1
            yield from _lines(value, (*path, str(key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            yield from _lines(value, (*path, index))


def _line_of(lines: dict[Path, int], loc: Path) -> int | None:
    # Pydantic adds segments of its own (a union member's name, a validator's tag):
    # the deepest prefix the file has is the closest place to point at.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _dotted(loc: tuple[Any, ...]) -> str | None:
    return ".".join(str(part) for part in loc) or None


def _error(line: int | None, param: str | None, message: str) -> FieldError:
    where = f"line {line}: " if line is not None else ""
    field = f"{param}: " if param else ""
    return FieldError("invalid_reference_file", param, f"{where}{field}{message}")
