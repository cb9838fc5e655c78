"""A trigger's own body: the customer's webhook_body or email_body template over the event.

Rendered by the worker, once, before a delivery's first attempt, then stored in the
delivery: retries send those same bytes. Not at enqueue time, because rendering runs in
the template sandbox's process pool with time and memory limits (reliability.md 18)
and may take up to a second, which the transaction queueing the event (inside submit,
on the single writer) must not wait for.

The template's payload is the documented JSON event (``{id, type, timestamp, data}``,
docs/postbacks.md), or the same event as XML for a template that reads XML; the
customer's lookup tables are available to it. A template that is missing, of another
kind, or fails to render is final for that delivery: it is given up with the
template's error in the log. A renderer that is momentarily unavailable is retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection

from pressline.db import AnyRow
from pressline.errors import TemplateNotFound
from pressline.postbacks.bodies import TEXT_TYPE, event_xml
from pressline.templates import (
    Format,
    LookupTables,
    RendererUnavailable,
    TemplateError,
    TemplateSource,
    TemplateType,
    store,
)
from pressline.templates.render import render as render_template

#: The template kinds a postback may use.
KINDS: Final = (TemplateType.WEBHOOK_BODY, TemplateType.EMAIL_BODY)


class TemplateUnavailable(Exception):
    """The delivery's template cannot be used; the message says why (final)."""


class RenderingDelayed(Exception):
    """The renderer is not available right now (retry later)."""


@dataclass(frozen=True, slots=True)
class Loaded:
    template: TemplateSource
    lookups: LookupTables


def load(conn: Connection, row: AnyRow) -> Loaded:
    """The template the delivery names (its version, or the customer's latest)."""
    try:
        template = store.load(conn, row.customer_id, row.template_name, row.template_version)
    except TemplateNotFound as exc:
        raise TemplateUnavailable(exc.message) from None
    if template.type not in KINDS:
        raise TemplateUnavailable(
            f"{template.label} is a {template.type.value} template; a postback uses "
            f"{' or '.join(kind.value for kind in KINDS)}"
        )
    return Loaded(template, LookupTables(store.load_lookups(conn, row.customer_id)))


def render(loaded: Loaded, row: AnyRow) -> tuple[str, str]:
    """The rendered body and its content type."""
    template = loaded.template
    event = row.body
    payload = event if template.input_format is Format.JSON else event_xml(json.loads(event))
    try:
        rendered = render_template(template, payload.encode("utf-8"), lookups=loaded.lookups)
    except RendererUnavailable as exc:
        raise RenderingDelayed(exc.message) from None
    except TemplateError as exc:
        raise TemplateUnavailable(exc.message) from None
    body = rendered.body.decode("utf-8")
    if row.destination == "email":
        # An e-mail template writing XML writes XHTML (the documented email_body kind).
        html = template.output_format is Format.XML
        return body, "text/html; charset=utf-8" if html else TEXT_TYPE
    return body, rendered.media_type
