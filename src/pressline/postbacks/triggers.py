"""Postback triggers: which event goes where, for one customer (domain.md §6).

A trigger is an event and a destination: a webhook (URL, POST or PUT, JSON or XML,
static headers) or an e-mail address, optionally with one of the customer's templates
for the body. Each trigger has its own signing secret, shown once when it is created
or rotated. A rotation keeps the previous secret signing for a grace period, so a
receiver can switch without refusing a single delivery.

The URL is checked by the caller (``check_url`` needs the operator's settings and DNS)
before :func:`create_trigger`; the worker checks it again before every delivery.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, delete, insert, select, update

from pressline.accounts.tables import customers
from pressline.db import AnyRow
from pressline.errors import FieldError, TemplateNotFound, TriggerNotFound, ValidationFailed
from pressline.postbacks import outbox
from pressline.postbacks.events import EventType
from pressline.postbacks.outbox import DeliveryStatus
from pressline.postbacks.signing import generate_secret
from pressline.postbacks.tables import postback_deliveries, postback_triggers

DESTINATIONS: Final = ("webhook", "email")
METHODS: Final = ("POST", "PUT")
FORMATS: Final = ("json", "xml")
#: Headers a trigger may not set: the signature's, and those the request itself defines
#: (framing, the connection, its hop-by-hop headers, what the sender negotiates).
RESERVED_HEADERS: Final = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length",
     "host", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade",
     "expect", "accept-encoding", "proxy-authorization", "proxy-connection"}
)  # fmt: skip
MAX_HEADERS: Final = 20
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """What an operator (or a customer) asks for; validated by :func:`validate`."""

    event_type: str
    destination: str = "webhook"
    url: str | None = None
    method: str = "POST"
    format: str = "json"
    headers: Mapping[str, str] = field(default_factory=dict)
    email: str | None = None
    template_name: str | None = None
    template_version: int | None = None


def _invalid(code: str, param: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(code, param, message)])


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise _invalid("invalid_header", "headers", f"at most {MAX_HEADERS} static headers")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise _invalid("invalid_header", "headers", f"'{name}' is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise _invalid("invalid_header", "headers", f"'{name}' is set by Pressline itself")
        if len(value) > 4096 or not all(ch == "\t" or " " <= ch <= "~" for ch in value):
            message = (
                f"the value of '{name}' must be printable ASCII (no line breaks), "
                "at most 4096 characters"
            )
            raise _invalid("invalid_header", "headers", message)
        checked[name] = value
    return checked


def validate(spec: TriggerSpec) -> TriggerSpec:
    """``spec`` normalised (method upper case, format lower case), or ValidationFailed."""
    try:
        event = EventType(spec.event_type)
    except ValueError:
        choices = ", ".join(e.value for e in EventType)
        raise _invalid("invalid_event", "event", f"the event is one of {choices}") from None
    if spec.destination not in DESTINATIONS:
        raise _invalid("invalid_destination", "destination", "a destination is webhook or email")
    method, fmt = spec.method.upper(), spec.format.lower()
    if method not in METHODS:
        raise _invalid("invalid_method", "method", "a webhook is sent with POST or PUT")
    if fmt not in FORMATS:
        raise _invalid("invalid_format", "format", "the body format is json or xml")
    if spec.destination == "webhook":
        if not spec.url:
            raise _invalid("url_required", "url", "a webhook trigger needs a URL")
        if spec.email:
            raise _invalid("invalid_destination", "email", "a webhook trigger has no e-mail")
    else:
        if not spec.email or not _EMAIL.match(spec.email):
            raise _invalid("invalid_email", "email", "an e-mail trigger needs a valid address")
        if spec.url or spec.headers:
            raise _invalid("invalid_destination", "url", "an e-mail trigger has no URL or headers")
    if spec.template_name is not None and not _TEMPLATE_NAME.match(spec.template_name):
        raise _invalid("invalid_template", "template", "not a template name")
    if spec.template_version is not None and (
        spec.template_name is None or spec.template_version < 1
    ):
        message = "a template version (1 or more) goes with a template name"
        raise _invalid("invalid_template", "templateVersion", message)
    return TriggerSpec(
        event_type=event.value,
        destination=spec.destination,
        url=spec.url if spec.destination == "webhook" else None,
        method=method,
        format=fmt,
        headers=_check_headers(spec.headers),
        email=spec.email if spec.destination == "email" else None,
        template_name=spec.template_name,
        template_version=spec.template_version,
    )


@dataclass(frozen=True, slots=True)
class NewTrigger:
    id: uuid.UUID
    secret: str  # shown once


def create_trigger(
    conn: Connection, *, customer_id: uuid.UUID, spec: TriggerSpec, now: datetime
) -> NewTrigger:
    """Store a validated trigger with a fresh secret."""
    outbox.subscriptions.forget()  # this process sees the change at once
    spec = validate(spec)
    if spec.template_name is not None:
        _check_template(conn, customer_id, spec)
    trigger_id, secret = uuid.uuid4(), generate_secret()
    conn.execute(
        insert(postback_triggers).values(
            id=trigger_id,
            customer_id=customer_id,
            event_type=spec.event_type,
            destination=spec.destination,
            url=spec.url,
            method=spec.method,
            format=spec.format,
            headers=dict(spec.headers),
            email=spec.email,
            secret=secret,
            previous_secret=None,
            previous_secret_expires_at=None,
            template_name=spec.template_name,
            template_version=spec.template_version,
            enabled=True,
            disabled_reason=None,
            created_at=now,
            updated_at=now,
        )
    )
    return NewTrigger(trigger_id, secret)


def _check_template(conn: Connection, customer_id: uuid.UUID, spec: TriggerSpec) -> None:
    """The named template exists (at that version) and is a postback body template."""
    from pressline.templates import TemplateType, store

    assert spec.template_name is not None
    try:
        template = store.load(conn, customer_id, spec.template_name, spec.template_version)
    except TemplateNotFound as exc:
        raise _invalid("template_not_found", "template", exc.message) from None
    wanted = TemplateType.EMAIL_BODY if spec.destination == "email" else TemplateType.WEBHOOK_BODY
    if template.type is not wanted:
        message = f"{template.label} is a {template.type.value} template, not {wanted.value}"
        raise _invalid("invalid_template", "template", message)


_LIST = (
    select(postback_triggers, customers.c.reference_id.label("customer_reference_id"))
    .join(customers, customers.c.id == postback_triggers.c.customer_id)
    .order_by(customers.c.reference_id, postback_triggers.c.created_at, postback_triggers.c.id)
)


def list_triggers(conn: Connection, *, customer_id: uuid.UUID | None = None) -> list[AnyRow]:
    query = _LIST if customer_id is None else _LIST.where(customers.c.id == customer_id)
    return list(conn.execute(query))


def find_trigger(conn: Connection, trigger_id: uuid.UUID) -> AnyRow | None:
    found: AnyRow | None = conn.execute(_LIST.where(postback_triggers.c.id == trigger_id)).first()
    return found


def get_trigger(conn: Connection, trigger_id: uuid.UUID) -> AnyRow:
    row = find_trigger(conn, trigger_id)
    if row is None:
        raise TriggerNotFound(str(trigger_id))
    return row


def _update(conn: Connection, trigger_id: uuid.UUID, **values: Any) -> None:
    done = conn.execute(
        update(postback_triggers).where(postback_triggers.c.id == trigger_id).values(**values)
    )
    if done.rowcount == 0:
        raise TriggerNotFound(str(trigger_id))


def rotate_secret(
    conn: Connection, trigger_id: uuid.UUID, *, grace: timedelta, now: datetime
) -> str:
    """A new secret; the current one keeps signing too until ``now + grace``."""
    current = get_trigger(conn, trigger_id)
    secret = generate_secret()
    _update(
        conn,
        trigger_id,
        secret=secret,
        previous_secret=current.secret if grace > timedelta(0) else None,
        previous_secret_expires_at=now + grace if grace > timedelta(0) else None,
        updated_at=now,
    )
    return secret


def set_enabled(
    conn: Connection,
    trigger_id: uuid.UUID,
    *,
    enabled: bool,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Enable (clearing the reason) or disable a trigger. Disabling also stops its
    pending deliveries (an operator can redeliver them once it is enabled again)."""
    outbox.subscriptions.forget()  # this process sees the change at once
    _update(
        conn,
        trigger_id,
        enabled=enabled,
        disabled_reason=None if enabled else (reason or "disabled by the operator"),
        updated_at=now,
    )
    if not enabled:
        conn.execute(
            update(postback_deliveries)
            .where(
                postback_deliveries.c.trigger_id == trigger_id,
                postback_deliveries.c.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.DISABLED, next_attempt_at=None, updated_at=now)
        )


def delete_trigger(conn: Connection, trigger_id: uuid.UUID) -> None:
    """Delete a trigger; its deliveries stay in the log (their trigger_id becomes NULL),
    and those still pending are stopped."""
    outbox.subscriptions.forget()  # this process sees the change at once
    get_trigger(conn, trigger_id)
    conn.execute(
        update(postback_deliveries)
        .where(
            postback_deliveries.c.trigger_id == trigger_id,
            postback_deliveries.c.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.DISABLED, next_attempt_at=None)
    )
    conn.execute(delete(postback_triggers).where(postback_triggers.c.id == trigger_id))
