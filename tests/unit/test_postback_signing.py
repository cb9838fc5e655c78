"""Postback signatures (``pressline.postbacks.signing``), verified as receivers verify them:
with the ``standardwebhooks`` package."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from pressline.postbacks.signing import active_secrets, generate_secret, sign, validate_secret

BODY = '{"id":"msg_1","type":"order.shipped","timestamp":"2026-03-10T09:30:05Z","data":{}}'


def _now() -> datetime:
    # Receivers refuse timestamps more than five minutes from their clock.
    return datetime.now(UTC)


def test_a_generated_secret_is_a_whsec_secret_of_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert validate_secret(first) == first
    assert first != second


def test_a_signed_delivery_verifies_with_standardwebhooks() -> None:
    secret = generate_secret()
    headers = sign(message_id="msg_1", timestamp=_now(), body=BODY, secrets=[secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_1"
    assert Webhook(secret).verify(BODY, headers)["type"] == "order.shipped"


def test_another_secret_or_a_changed_body_does_not_verify() -> None:
    secret = generate_secret()
    headers = sign(message_id="msg_1", timestamp=_now(), body=BODY, secrets=[secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("shipped", "printed"), headers)


def test_during_rotation_both_the_old_and_the_new_secret_verify() -> None:
    new, old = generate_secret(), generate_secret()
    headers = sign(message_id="msg_1", timestamp=_now(), body=BODY, secrets=[new, old])
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)
    for secret in (new, old):
        assert Webhook(secret).verify(BODY, headers)["id"] == "msg_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_a_retry_keeps_the_webhook_id_and_signs_its_own_timestamp() -> None:
    secret = generate_secret()
    earlier = _now() - timedelta(seconds=90)
    first = sign(message_id="msg_1", timestamp=earlier, body=BODY, secrets=[secret])
    retry = sign(message_id="msg_1", timestamp=_now(), body=BODY, secrets=[secret])
    assert retry["webhook-id"] == first["webhook-id"]
    assert int(retry["webhook-timestamp"]) - int(first["webhook-timestamp"]) in range(89, 92)
    assert retry["webhook-signature"] != first["webhook-signature"]
    Webhook(secret).verify(BODY, retry)


def test_the_timestamp_header_is_unix_seconds_whatever_the_zone() -> None:
    secret = generate_secret()
    moment = _now().replace(microsecond=0)
    local = moment.astimezone(timezone(timedelta(hours=-5)))
    headers = sign(message_id="msg_1", timestamp=local, body=BODY, secrets=[secret])
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    Webhook(secret).verify(BODY, headers)


def test_bytes_and_text_bodies_sign_alike() -> None:
    secret, at = generate_secret(), _now()
    text = '{"city":"Köln"}'
    as_text = sign(message_id="m", timestamp=at, body=text, secrets=[secret])
    as_bytes = sign(message_id="m", timestamp=at, body=text.encode(), secrets=[secret])
    assert as_text == as_bytes


def test_a_secret_listed_twice_signs_once() -> None:
    secret = generate_secret()
    headers = sign(message_id="m", timestamp=_now(), body=BODY, secrets=[secret, secret])
    assert " " not in headers["webhook-signature"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secrets": []}, "at least one secret"),
        ({"timestamp": datetime(2026, 3, 10)}, "timezone-aware"),
        ({"message_id": ""}, "message_id"),
        ({"secrets": ["not-a-secret"]}, "starts with"),
    ],
)
def test_signing_refuses_what_would_not_verify(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "message_id": "m",
        "timestamp": _now(),
        "body": BODY,
        "secrets": [generate_secret()],
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sign(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("c2VjcmV0", "starts with"),
        ("whsec_!!!not-base64!!!", "base64"),
        ("whsec_" + base64.b64encode(b"x" * 16).decode(), "24 to 64 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes"),
    ],
)
def test_malformed_secrets_are_refused(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_secret(secret)


def test_an_unpadded_base64_secret_is_accepted_as_receivers_accept_it() -> None:
    unpadded = "whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("=")
    assert validate_secret(unpadded) == unpadded
    headers = sign(message_id="m", timestamp=_now(), body=BODY, secrets=[unpadded])
    Webhook(unpadded).verify(BODY, headers)


def test_the_previous_secret_signs_until_its_grace_period_ends() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert active_secrets("new", "old", later, now=now) == ("new", "old")
    assert active_secrets("new", "old", now, now=now) == ("new",)
    assert active_secrets("new", "old", None, now=now) == ("new", "old")
    assert active_secrets("new", None, later, now=now) == ("new",)
    assert active_secrets("same", "same", later, now=now) == ("same",)
