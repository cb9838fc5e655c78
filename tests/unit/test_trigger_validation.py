"""What a postback trigger may be (pure validation), and the XML form of an event."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import xmltodict  # type: ignore[import-untyped]

from pressline.errors import ValidationFailed
from pressline.postbacks.bodies import JSON_TYPE, TEXT_TYPE, XML_TYPE, event_xml, render_body
from pressline.postbacks.events import EventType, build_event
from pressline.postbacks.triggers import TriggerSpec, validate

URL = "https://hooks.example/p"


def test_a_webhook_trigger_is_normalised() -> None:
    spec = validate(TriggerSpec("order.shipped", url=URL, method="put", format="XML"))
    assert (spec.method, spec.format, spec.email) == ("PUT", "xml", None)


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        (TriggerSpec("order.teleported", url=URL), "event"),
        (TriggerSpec("order.shipped"), "url"),
        (TriggerSpec("order.shipped", url=URL, method="DELETE"), "method"),
        (TriggerSpec("order.shipped", url=URL, format="yaml"), "format"),
        (TriggerSpec("order.shipped", destination="sms", url=URL), "destination"),
        (TriggerSpec("order.shipped", destination="email", email="not-an-address"), "email"),
        (TriggerSpec("order.shipped", destination="email", email="a@b.example", url=URL), "url"),
        (TriggerSpec("order.shipped", url=URL, email="a@b.example"), "email"),
        (TriggerSpec("order.shipped", url=URL, headers={"Bad Name": "x"}), "headers"),
        (TriggerSpec("order.shipped", url=URL, headers={"Webhook-Signature": "x"}), "headers"),
        (TriggerSpec("order.shipped", url=URL, headers={"Content-Type": "x"}), "headers"),
        (TriggerSpec("order.shipped", url=URL, headers={"X-A": "one\r\nX-B: two"}), "headers"),
        (TriggerSpec("order.shipped", url=URL, headers={"X-A": "Grüße"}), "headers"),
        (TriggerSpec("order.shipped", url=URL, template_version=2), "templateVersion"),
        (TriggerSpec("order.shipped", url=URL, template_name="../etc"), "template"),
    ],
)
def test_bad_triggers_are_refused_naming_the_field(spec: TriggerSpec, param: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(spec)
    assert caught.value.errors[0].param == param


@pytest.mark.parametrize(
    "name", ["Host", "Transfer-Encoding", "Keep-Alive", "TE", "Upgrade", "Expect",
             "Accept-Encoding", "Proxy-Authorization"],
)  # fmt: skip
def test_headers_the_request_itself_defines_cannot_be_set(name: str) -> None:
    with pytest.raises(ValidationFailed, match=name):
        validate(TriggerSpec("order.shipped", url=URL, headers={name: "x"}))


def test_every_event_may_have_a_trigger() -> None:
    for event in EventType:
        assert validate(TriggerSpec(event.value, url=URL)).event_type == event.value


EVENT = build_event(
    event_id="msg_1",
    event_type=EventType.ORDER_SHIPPED,
    timestamp=datetime(2026, 3, 10, 9, 30, 5, tzinfo=UTC),
    order={"id": "o-1", "totalInclVat": Decimal("33.45"), "refusalReasonCode": None},
    items=[{"id": "i-1", "quantity": 2}, {"id": "i-2", "quantity": 1}],
    packages=[],
    metadata={"shop order": "1001", "<odd>": "a&b"},
)


def test_the_xml_form_keeps_every_value_and_escapes_text() -> None:
    text = event_xml(EVENT)
    parsed = xmltodict.parse(text)["event"]
    assert (parsed["id"], parsed["type"]) == ("msg_1", "order.shipped")
    assert parsed["timestamp"] == "2026-03-10T09:30:05Z"
    data = parsed["data"]
    assert data["order"] == {"id": "o-1", "totalInclVat": "33.45", "refusalReasonCode": None}
    assert [item["quantity"] for item in data["items"]["item"]] == ["2", "1"]
    assert data["packages"] is None
    assert data["metadata"]["entry"] == [
        {"@key": "shop order", "#text": "1001"},
        {"@key": "<odd>", "#text": "a&b"},
    ]
    assert "a&amp;b" in text


def test_the_xml_form_replaces_what_xml_cannot_hold() -> None:
    """Stored before requests refused them, or sent by a facility: U+FFFE, U+FFFF and C0
    controls have no XML form, and one made the whole postback unreadable."""
    event = build_event(
        event_id="msg_2", event_type=EventType.ORDER_SHIPPED,
        timestamp=datetime(2026, 3, 10, 9, 30, 5, tzinfo=UTC),
        order={"id": "o-1", "lastName": "Sch\ufffemidt\u0001"}, items=[], packages=[],
        metadata={"k\uffff": "v\u0002"},
    )  # fmt: skip
    data = xmltodict.parse(event_xml(event))["event"]["data"]
    assert data["order"]["lastName"] == "Sch\ufffdmidt\ufffd"
    assert data["metadata"]["entry"] == {"@key": "k\ufffd", "#text": "v\ufffd"}


@pytest.mark.parametrize(
    ("destination", "fmt", "template", "content_type"),
    [
        ("webhook", "json", None, JSON_TYPE),
        ("webhook", "xml", None, XML_TYPE),
        ("webhook", "xml", "tpl", JSON_TYPE),  # the template renders from the JSON event
        ("email", "json", None, TEXT_TYPE),
    ],
)
def test_the_stored_body_follows_the_trigger(
    destination: str, fmt: str, template: str | None, content_type: str
) -> None:
    trigger = SimpleNamespace(destination=destination, format=fmt, template_name=template)
    body = render_body(trigger, EVENT)
    assert body.content_type == content_type
    assert body.text.startswith("<?xml") == (content_type == XML_TYPE)
