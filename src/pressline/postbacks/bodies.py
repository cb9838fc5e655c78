"""A postback's body in the trigger's format: the JSON event, or the same event as XML.

JSON is the documented default (docs/postbacks.md). A trigger set to XML gets the same
event as an XML document: lists become repeated elements named after their parent
(``<items><item>…</item></items>``) and the metadata, whose keys need not be valid
element names, becomes ``<entry key="…">value</entry>``. E-mail gets the JSON event as
plain text. A trigger with a template gets the JSON event here too: the worker renders
it through the template before the first attempt (``pressline.worker``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import xmltodict  # type: ignore[import-untyped]

from pressline.postbacks.events import encode_event
from pressline.xmltext import xml_text

JSON_TYPE: Final = "application/json"
XML_TYPE: Final = "application/xml"
TEXT_TYPE: Final = "text/plain; charset=utf-8"
_SINGULAR: Final = {"items": "item", "packages": "package", "entries": "entry"}


@dataclass(frozen=True, slots=True)
class Body:
    text: str
    content_type: str


def render_body(trigger: Any, event: Mapping[str, Any]) -> Body:
    """The body a delivery of ``event`` to ``trigger`` stores (and sends on every attempt).

    ``trigger`` is a row of ``postback_triggers`` (``destination``, ``format``,
    ``template_name``).
    """
    if trigger.template_name is not None or trigger.destination == "email":
        # A template renders from the JSON event; an e-mail carries it as text.
        content_type = JSON_TYPE if trigger.destination != "email" else TEXT_TYPE
        return Body(encode_event(event), content_type)
    if trigger.format == "xml":
        return Body(event_xml(event), XML_TYPE)
    return Body(encode_event(event), JSON_TYPE)


def _xml_value(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return {key: _xml_value(inner, key) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        child = _SINGULAR.get(name, "value")
        return {child: [_xml_value(inner, child) for inner in value]} if value else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return xml_text(value)
    return value


def event_xml(event: Mapping[str, Any]) -> str:
    """``event`` as an XML document with root ``<event>``."""
    data = dict(event.get("data") or {})
    metadata = data.pop("metadata", None) or {}
    shaped = {key: _xml_value(value, key) for key, value in event.items() if key != "data"}
    shaped_data = {key: _xml_value(value, key) for key, value in data.items()}
    entries = [
        {"@key": xml_text(str(key)), "#text": xml_text(str(value))}
        for key, value in metadata.items()
    ]
    shaped_data["metadata"] = {"entry": entries} if entries else None
    shaped["data"] = shaped_data
    text: str = xmltodict.unparse({"event": shaped}, full_document=True)
    return text
