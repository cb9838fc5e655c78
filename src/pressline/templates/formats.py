"""JSON and XML in and out of templates: the payload a template reads, the text it writes.

Both directions go through the same two parsers, because both are untrusted: the
input is a customer's request body, the output is text a customer-written template
produced. JSON numbers with a fraction become ``Decimal`` (money stays exact); XML
becomes a dict the way ``xmltodict`` shapes it (``@attr``, ``#text``, repeated
elements as lists) through an expat parser with defusedxml's guards installed: a
document type declaration, an entity declaration or an external reference is refused
before anything is expanded, so a billion-laughs body costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NoReturn, TypeAlias
from xml.parsers import expat

import xmltodict  # type: ignore[import-untyped]
from defusedxml.common import (  # type: ignore[import-untyped]
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

JsonValue: TypeAlias = "bool | int | Decimal | str | list[JsonValue] | dict[str, JsonValue] | None"

#: The C string encoder behind ``json.dumps(..., ensure_ascii=False)``, without its
#: per-call set-up: the ``json`` filter runs dozens of times per render.
_json_string: Callable[[str], str] = json.encoder.encode_basestring

#: A JSON literal never needs more: it keeps ``{{ x|json }}`` of a Decimal such as
#: ``1E+999999999`` from expanding into a gigabyte of zeros.
MAX_DECIMAL_EXPONENT = 40


class Format(StrEnum):
    """How a template's input is parsed and its output checked."""

    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return "application/json" if self is Format.JSON else "application/xml"


class PayloadError(ValueError):
    """Text that is not a well-formed document of its format; the message says where."""


def parse(data: bytes, fmt: Format) -> JsonValue:
    """``data`` as a value, or ``PayloadError`` naming the line and column at fault."""
    return _parse_json(data) if fmt is Format.JSON else _parse_xml(data)


def _reject_constant(name: str) -> NoReturn:
    raise PayloadError(f"{name} is not a JSON number")


def _parse_json(data: bytes) -> JsonValue:
    try:
        value: JsonValue = json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise PayloadError("not valid JSON: the text is not UTF-8") from None
    except RecursionError:
        raise PayloadError("not valid JSON: nested too deeply") from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise PayloadError(f"not valid JSON: {exc}") from None
    return value


class _DefusedExpat:
    """The ``expat`` module as xmltodict sees it, with defusedxml's refusals installed."""

    @staticmethod
    def ParserCreate(encoding: str | None = None, namespace_separator: str | None = None) -> Any:
        parser = expat.ParserCreate(encoding, namespace_separator)
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = _forbid_dtd
        parser.EntityDeclHandler = _forbid_entity
        parser.UnparsedEntityDeclHandler = _forbid_unparsed_entity
        parser.ExternalEntityRefHandler = _forbid_external
        return parser


def _forbid_dtd(name: str, sysid: str | None, pubid: str | None, _internal: bool) -> NoReturn:
    raise DTDForbidden(name, sysid, pubid)


def _forbid_entity(name: str, _param: bool, value: str | None, *rest: str | None) -> NoReturn:
    raise EntitiesForbidden(name, value, *rest)


def _forbid_unparsed_entity(name: str, *rest: str | None) -> NoReturn:
    raise EntitiesForbidden(name, None, *rest)


def _forbid_external(context: str, base: str | None, *rest: str | None) -> NoReturn:
    raise ExternalReferenceForbidden(context, base, *rest)


def _parse_xml(data: bytes) -> JsonValue:
    try:
        value: JsonValue = xmltodict.parse(data, expat=_DefusedExpat, disable_entities=True)
    except expat.ExpatError as exc:
        reason = expat.errors.messages.get(exc.code, str(exc)) if exc.code else str(exc)
        raise PayloadError(
            f"not well-formed XML: {reason} (line {exc.lineno}, column {exc.offset + 1})"
        ) from None
    except DTDForbidden:
        raise PayloadError(
            "XML with a document type declaration (<!DOCTYPE ...>), which is not accepted"
        ) from None
    except (DefusedXmlException, ValueError):
        # xmltodict raises a bare ValueError of its own for an entity declaration.
        raise PayloadError(
            "XML entity declarations and external references are not accepted"
        ) from None
    except RecursionError:
        raise PayloadError("not well-formed XML: nested too deeply") from None
    return value


def to_json(value: object) -> str:
    """A JSON literal for ``value``: what the ``json`` filter writes into a template.

    Decimals are written as numbers with every digit they have (``19.90`` stays
    ``19.90``), dates as ISO 8601 strings. NaN and infinities are refused: JSON has none.
    """
    if isinstance(value, str):  # first: by far the most common, and a Markup is a str
        return _json_string(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, Decimal):
        return _decimal_literal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("json: NaN and infinity have no JSON form")
        return repr(value)
    if isinstance(value, datetime | date):
        return _json_string(value.isoformat())
    if isinstance(value, dict):
        items = (f"{to_json(_key(key))}:{to_json(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    str(value)  # a StrictUndefined raises its own "'x' is undefined" here
    raise TypeError(f"json: a {type(value).__name__} has no JSON form")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"json: object keys must be strings, not {type(key).__name__}")
    return key


def _decimal_literal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError("json: NaN and infinity have no JSON form")
    if abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ValueError(f"json: {value} is too large or too small for an amount")
    return format(value, "f")
