"""The one renderer: every template type, customer format in or out, in a sandbox.

A template is customer-written code, so it runs where it cannot hurt the server:
Jinja's immutable sandbox inside a small pool of worker processes. This module is
the public face; the pieces live beside it:

- ``model``: template types, sources, limits, results, and the error tree;
- ``pool``: the parent's side, worker processes started, replaced, and waited on
  (``render`` from a thread, ``render_async`` on the event loop);
- ``channel``: one worker process and the socket the parent speaks to it over;
- ``worker``: the worker process's side, the sandboxed render itself.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pressline.errors import ValidationFailed
from pressline.templates.formats import Format
from pressline.templates.lookups import NO_LOOKUPS, LookupResolver
from pressline.templates.model import (
    DEFAULT_LIMITS,
    MAX_SOURCE_CHARS,
    Limits,
    LookupNotFound,
    MiB,
    Rendered,
    RendererUnavailable,
    TemplateError,
    TemplateForbidden,
    TemplateInputInvalid,
    TemplateLimitExceeded,
    TemplateOutputInvalid,
    TemplateSource,
    TemplateType,
)
from pressline.templates.pool import RenderPool

if TYPE_CHECKING:
    from pydantic import BaseModel

    ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_SOURCE_CHARS",
    "Limits",
    "LookupNotFound",
    "MiB",
    "RenderPool",
    "Rendered",
    "RendererUnavailable",
    "TemplateError",
    "TemplateForbidden",
    "TemplateInputInvalid",
    "TemplateLimitExceeded",
    "TemplateOutputInvalid",
    "TemplateSource",
    "TemplateType",
    "check_template",
    "default_pool",
    "render",
    "render_async",
    "validate_output",
]


_default_pool: RenderPool | None = None
_default_lock = threading.Lock()


def default_pool() -> RenderPool:
    """The process-wide pool ``render`` and ``check_template`` use."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = RenderPool()
            atexit.register(_default_pool.close)
        return _default_pool


def render(
    template: TemplateSource,
    payload: bytes | Mapping[str, Any],
    *,
    lookups: LookupResolver = NO_LOOKUPS,
    limits: Limits = DEFAULT_LIMITS,
    variables: Mapping[str, Any] | None = None,
) -> Rendered:
    """Render ``template`` over ``payload`` in the default pool (see ``RenderPool.render``)."""
    return default_pool().render(
        template, payload, lookups=lookups, limits=limits, variables=variables
    )


async def render_async(
    template: TemplateSource,
    payload: bytes | Mapping[str, Any],
    *,
    lookups: LookupResolver = NO_LOOKUPS,
    limits: Limits = DEFAULT_LIMITS,
    variables: Mapping[str, Any] | None = None,
    owner: Hashable = None,
) -> Rendered:
    """``render`` on an event loop (see ``RenderPool.render_async``)."""
    return await default_pool().render_async(
        template, payload, lookups=lookups, limits=limits, variables=variables, owner=owner
    )


def check_template(template: TemplateSource, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise ``TemplateError`` (with its line) if ``template`` does not compile."""
    default_pool().check(template, limits=limits)


def validate_output(rendered: Rendered, model: type[ModelT]) -> ModelT:
    """The output as ``model`` (e.g. ``OrderCreate``), or the usual ``ValidationFailed``.

    Each error keeps the canonical ``param`` (``items[0].productUid``); the message
    names the template, since the client never wrote those fields itself.
    """
    from pydantic import ValidationError

    from pressline.web import field_errors  # the one pydantic → FieldError mapping

    try:
        if rendered.template.output_format is Format.JSON:
            return model.model_validate_json(rendered.body)
        return model.model_validate(rendered.value)
    except ValidationError as exc:
        errors = field_errors(exc)
    first, template = errors[0], rendered.template
    where = f"{first.param}: " if first.param else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise ValidationFailed(
        errors,
        summary=f"{template.label} produced an invalid {template.type.output_noun}: "
        f"{where}{first.message}{more}",
    )
