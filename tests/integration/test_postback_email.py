"""E-mail postbacks, captured by a local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.testclient import TestClient

from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.postbacks.events import EventType
from pressline.postbacks.schedule import Outcome
from pressline.postbacks.sending import Sender
from pressline.templates.formats import Format
from pressline.templates.model import TemplateType
from pressline.worker import DeliveryWorker
from tests.support.dripping import DrippingServer
from tests.support.postbacks import FixedRandom, Shop, new_shop


class Capture:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mail_settings(postback_settings: Settings, smtp_port: int) -> Settings:
    return postback_settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_starttls": False,
            "smtp_from": "postbacks@pressline.test",
        }
    )


@pytest.fixture
def mailbox(smtp_port: int) -> Iterator[Capture]:
    capture = Capture()
    controller = Controller(capture, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield capture
    finally:
        controller.stop()


@pytest.fixture
def shop(fresh_client: TestClient, fresh_database: Database) -> Shop:
    return new_shop(fresh_client, fresh_database)


def test_an_email_trigger_sends_the_event_by_mail(
    shop: Shop, mail_settings: Settings, mailbox: Capture
) -> None:
    order_id = shop.submit(orderReferenceId="mail-1001")
    shop.trigger(destination="email", email="orders@shop.example")
    shop.enqueue(order_id, EventType.ORDER_SHIPPED)

    worker = DeliveryWorker(shop.database, mail_settings, rng=FixedRandom(), run_timers=False)
    assert worker.step() == 1

    (envelope,) = mailbox.envelopes
    assert envelope.rcpt_tos == ["orders@shop.example"]
    assert envelope.mail_from == "postbacks@pressline.test"
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "order.shipped: order mail-1001"
    event = json.loads(message.get_content())
    (row,) = shop.deliveries()
    assert event["id"] == message["X-Pressline-Event-Id"] == f"msg_{row.id.hex}"
    assert message["Message-ID"] == f"<msg_{row.id.hex}@pressline.test>"
    sent = email.utils.parsedate_to_datetime(message["Date"])
    assert abs((sent - utcnow()).total_seconds()) < 60
    assert event["type"] == "order.shipped" and event["data"]["order"]["id"] == order_id
    assert row.status == "delivered"
    (attempt,) = shop.attempts(row.id)
    assert attempt.outcome == "delivered"


def test_an_unreachable_mail_server_is_retried(
    shop: Shop, mail_settings: Settings, smtp_port: int
) -> None:
    order_id = shop.submit()
    shop.trigger(destination="email", email="orders@shop.example")
    shop.enqueue(order_id, EventType.ORDER_SHIPPED)
    worker = DeliveryWorker(shop.database, mail_settings, rng=FixedRandom(), run_timers=False)
    start = utcnow()

    assert worker.step(start) == 1  # nobody listens on the port yet
    (row,) = shop.deliveries()
    assert row.status == "pending" and "SMTP" in row.last_error

    capture = Capture()
    controller = Controller(capture, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert worker.step(start + timedelta(seconds=5)) == 1
    finally:
        controller.stop()
    assert len(capture.envelopes) == 1
    assert shop.deliveries()[0].status == "delivered"


def test_without_smtp_settings_mail_waits_instead_of_failing(
    shop: Shop, postback_settings: Settings
) -> None:
    order_id = shop.submit()
    shop.trigger(destination="email", email="orders@shop.example")
    shop.enqueue(order_id, EventType.ORDER_SHIPPED)
    DeliveryWorker(shop.database, postback_settings, run_timers=False).step()
    (row,) = shop.deliveries()
    assert row.status == "pending" and "PRESSLINE_SMTP_HOST" in row.last_error


def test_an_email_template_writes_an_html_mail(
    shop: Shop, mail_settings: Settings, mailbox: Capture
) -> None:
    from pressline.templates import store

    source = (
        '<html xmlns="http://www.w3.org/1999/xhtml"><body>'
        "<p>Your order {{ data.order.orderReferenceId }} &amp; friends shipped.</p>"
        "</body></html>"
    )
    with shop.database.transaction() as conn:
        store.create_template(
            conn, customer_id=shop.customer_id, name="notice", kind=TemplateType.EMAIL_BODY,
            input_format=Format.JSON, output_format=Format.XML, source=source, now=utcnow(),
        )  # fmt: skip
    order_id = shop.submit(orderReferenceId="mail-<2>")
    shop.trigger(destination="email", email="orders@shop.example", template_name="notice")
    shop.enqueue(order_id, EventType.ORDER_SHIPPED)

    DeliveryWorker(shop.database, mail_settings, run_timers=False).step()

    (envelope,) = mailbox.envelopes
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message.get_content_type() == "text/html"
    assert "Your order mail-&lt;2&gt; &amp; friends shipped." in message.get_content()


def test_a_mail_server_dripping_its_greeting_is_cut_off_at_the_timeout() -> None:
    server = DrippingServer(  # a multi-line greeting that takes eight seconds
        first=b"220-hello\r\n", line=b"220-still greeting\r\n", last=b"220 ready\r\n",
        read_request=False,
    )  # fmt: skip
    settings = Settings(
        smtp_host="127.0.0.1", smtp_port=server.port, smtp_starttls=False,
        smtp_from="postbacks@pressline.test", postback_timeout_seconds=1,
    )  # fmt: skip
    sender = Sender(settings)
    started = time.monotonic()
    try:
        result = sender.send_email(
            to="orders@shop.example", subject="s", body="b", content_type="text/plain",
            message_id="evt-1",
        )  # fmt: skip
    finally:
        sender.close()
        server.close()
    assert time.monotonic() - started < 4  # not the eight seconds of greeting
    assert result.outcome is Outcome.RETRY
    assert result.error == "SMTP: timeout: no answer within 1 s"
