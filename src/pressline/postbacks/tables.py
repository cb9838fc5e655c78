"""Postback triggers, the delivery outbox and the log of its attempts.

``postback_deliveries`` is the transactional outbox (reliability.md 16): a row is
inserted in the same transaction as the change it reports, so it exists exactly when
that change committed. The worker sends it, records each attempt in
``postback_attempts`` and moves the row to a final status. A delivery keeps its own
copy of the URL, headers and body: what was queued is what is sent, byte for byte,
even if the trigger is edited afterwards. Only the signing secret is read from the
trigger at send time, so a rotation applies to retries too.

``order_id`` is deliberately not a foreign key: the log of what was sent outlives a
deleted draft, and a facility hand-off may be queued before anything else refers to it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
)

from pressline.db import UTCDateTime, metadata

postback_triggers = Table(
    "postback_triggers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False),
    Column("event_type", String(64), nullable=False),  # events.EventType
    Column("destination", String(16), nullable=False),  # webhook | email
    Column("url", String(2048)),  # webhook destinations
    Column("method", String(8), nullable=False),  # POST | PUT
    Column("format", String(8), nullable=False),  # json | xml
    Column("headers", JSON, nullable=False),  # static headers, e.g. the receiver's auth
    Column("email", String(254)),  # e-mail destinations
    # An HMAC key cannot be stored hashed: the secret is kept to sign every delivery.
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128)),  # still signs until previous_secret_expires_at
    Column("previous_secret_expires_at", UTCDateTime),
    Column("template_name", String(100)),  # a webhook_body / email_body template
    Column("template_version", Integer),  # NULL: the template's latest version
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The one query submit and every status change make: a customer's triggers for events.
    Index("ix_postback_triggers_customer_event", "customer_id", "event_type"),
)

postback_deliveries = Table(
    "postback_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),  # "msg_" + hex: the webhook-id and the event id
    Column("trigger_id", Uuid, ForeignKey("postback_triggers.id", ondelete="SET NULL")),
    Column("customer_id", Uuid, ForeignKey("customers.id")),
    Column("order_id", Uuid),
    Column("purpose", String(32), nullable=False),  # "postback", or e.g. a facility hand-off
    Column("event_type", String(64)),
    Column("destination", String(16), nullable=False),  # webhook | email
    Column("url", String(2048)),
    Column("method", String(8), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("email", String(254)),
    Column("subject", String(255)),
    Column("body", Text, nullable=False),
    Column("content_type", String(100), nullable=False),
    # Set while the body still has to go through the customer's template: the worker
    # renders it once, before the first attempt, and stores the result in ``body``.
    Column("template_name", String(100)),
    Column("template_version", Integer),
    # Only for deliveries without a trigger (a facility hand-off); a trigger's own
    # secret is read when sending, so that its rotation covers retries.
    Column("secret", String(128)),
    Column("status", String(16), nullable=False),  # pending | delivered | failed | disabled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    # A worker's claim: nobody else sends the row until locked_until has passed.
    Column("locked_until", UTCDateTime),
    Column("lease", Uuid),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_postback_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_postback_deliveries_order_id", "order_id"),
    Index("ix_postback_deliveries_customer_created", "customer_id", "created_at"),
    Index("ix_postback_deliveries_trigger_id", "trigger_id"),
)

postback_attempts = Table(
    "postback_attempts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "delivery_id",
        Uuid,
        ForeignKey("postback_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),  # 1 = the first attempt
    Column("at", UTCDateTime, nullable=False),
    Column("status_code", Integer),  # NULL: no HTTP answer (timeout, refused, …)
    Column("latency_ms", Integer),
    Column("outcome", String(16), nullable=False),  # delivered | retry | disable | failed
    Column("error", Text),  # what went wrong, at most 1 KiB
    Column("response_excerpt", Text),  # the start of the answer's body, at most 1 KiB
    Index("ix_postback_attempts_delivery_id", "delivery_id", "number"),
)
