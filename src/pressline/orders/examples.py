"""The seeds' published examples, loaded once from ``seed_examples.json``.

They feed the OpenAPI document and the contract tests, so both speak the seeds' words.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from pydantic import JsonValue

_DATA: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("seed_examples.json").read_text("utf-8")
)

SUBMIT: dict[str, dict[str, Any]] = _DATA["submit"]
SUBMIT_EXAMPLES: list[JsonValue] = list(SUBMIT.values())
SUBMIT_RESPONSE: dict[str, Any] = _DATA["submit_response"]
CANCEL_RESPONSE: dict[str, Any] = _DATA["cancel_response"]
UPDATE_SHIPMENT: dict[str, dict[str, Any]] = _DATA["update_shipment"]
UPDATE_SHIPMENT_REQUEST: dict[str, Any] = UPDATE_SHIPMENT["reference"]
UPDATE_SHIPMENT_RESPONSE: dict[str, Any] = _DATA["update_shipment_response"]
GET_ORDER_RESPONSE: dict[str, Any] = _DATA["get_order_response"]
SEARCH: dict[str, dict[str, Any]] = _DATA["search"]
SEARCH_EXAMPLES: list[JsonValue] = list(SEARCH.values())
SEARCH_RESPONSE: dict[str, Any] = _DATA["search_response"]
