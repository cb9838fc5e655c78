"""What the renderer works with: template types, sources, limits, results, and errors.

Shared by the parent (``pool``, ``render``) and the worker process (``worker``); the
worker unpickles ``TemplateSource`` and ``Limits`` by this module's path.

::

    ValidationFailed (pressline.errors)
    └── TemplateError               syntax, undefined variable, type error, ...
        ├── TemplateForbidden       an escape attempt, include/import/extends
        ├── TemplateLimitExceeded   time, memory, output, input, huge operation
        ├── TemplateInputInvalid    the payload is not the template's input format
        ├── TemplateOutputInvalid   the output is not well-formed JSON or XML
        └── LookupNotFound          a strict lookups() miss, or an unknown table
    DomainError
    └── RendererUnavailable         no worker could be started or freed in time
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pressline.errors import FieldError, ServiceUnavailable, ValidationFailed
from pressline.templates.formats import Format, JsonValue

MiB = 1 << 20
MAX_SOURCE_CHARS = 256 * 1024


class TemplateType(StrEnum):
    ORDER_SUBMIT_REQUEST = "order_submit_request"
    CANCEL_REQUEST = "cancel_request"
    SUBMIT_RESPONSE = "submit_response"
    CANCEL_RESPONSE = "cancel_response"
    WEBHOOK_BODY = "webhook_body"
    EMAIL_BODY = "email_body"

    @property
    def is_request(self) -> bool:
        """Customer format → canonical request; its output is validated like a request."""
        return self in (TemplateType.ORDER_SUBMIT_REQUEST, TemplateType.CANCEL_REQUEST)

    @property
    def output_noun(self) -> str:
        return {
            TemplateType.ORDER_SUBMIT_REQUEST: "order",
            TemplateType.CANCEL_REQUEST: "cancel request",
        }.get(self, "body")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one render may use. Memory is counted above the worker's own footprint."""

    time_seconds: float = 1.0
    memory_bytes: int = 64 * MiB
    output_bytes: int = 1 * MiB
    input_bytes: int = 1 * MiB

    def __reduce__(self) -> tuple[type[Limits], tuple[float, int, int, int]]:
        # Pickled for every job: positional fields are cheaper than dataclass state.
        return Limits, (self.time_seconds, self.memory_bytes, self.output_bytes, self.input_bytes)

    def __post_init__(self) -> None:
        if not (0 < self.time_seconds <= 60 and self.memory_bytes >= 16 * MiB):
            raise ValueError("time_seconds must be in (0, 60] and memory_bytes at least 16 MiB")
        if self.output_bytes < 1 or self.input_bytes < 1:
            raise ValueError("output_bytes and input_bytes must be positive")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """One version of a customer's template, as stored (enum fields accept their values)."""

    name: str
    version: int
    type: TemplateType
    input_format: Format
    output_format: Format
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", TemplateType(self.type))
        object.__setattr__(self, "input_format", Format(self.input_format))
        object.__setattr__(self, "output_format", Format(self.output_format))
        if self.type.is_request and self.output_format is not Format.JSON:
            message = f"a template of type {self.type} must output JSON (the canonical request)"
            raise ValueError(message)
        if self.version < 1:
            raise ValueError("template versions start at 1")
        if len(self.source) > MAX_SOURCE_CHARS:
            raise ValueError(f"a template is at most {MAX_SOURCE_CHARS} characters")

    def __reduce__(
        self,
    ) -> tuple[Callable[..., TemplateSource], tuple[str, int, str, str, str, str]]:
        fields = (self.type.value, self.input_format.value, self.output_format.value)
        return TemplateSource, (self.name, self.version, *fields, self.source)

    @property
    def label(self) -> str:
        return f"Template '{self.name}' v{self.version}"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A render's output: the bytes to send or validate, and the parsed value."""

    template: TemplateSource
    body: bytes
    value: JsonValue
    elapsed_seconds: float

    @property
    def media_type(self) -> str:
        return self.template.output_format.media_type


# --- errors ----------------------------------------------------------------------------


class TemplateError(ValidationFailed):
    """A template that could not produce its output; names the template and its line."""

    code = "template_error"

    def __init__(self, template: TemplateSource, detail: str, *, line: int | None = None) -> None:
        self.template_name = template.name
        self.template_version = template.version
        self.template_type = template.type
        self.line = line
        self.detail = detail
        where = f", line {line}" if line else ""
        message = f"{template.label}{where}: {detail}"
        super().__init__([FieldError(self.code, None, message)], summary=message)


class TemplateForbidden(TemplateError):
    code = "template_forbidden"


class TemplateLimitExceeded(TemplateError):
    code = "template_limit_exceeded"


class TemplateInputInvalid(TemplateError):
    code = "template_input_invalid"


class TemplateOutputInvalid(TemplateError):
    code = "template_output_invalid"

    def __init__(self, template: TemplateSource, detail: str, *, output: bytes) -> None:
        super().__init__(template, detail)
        #: What the template wrote, for the request log: the error names only a line.
        self.output = output


class LookupNotFound(TemplateError):
    code = "lookup_not_found"


class RendererUnavailable(ServiceUnavailable):
    code = "renderer_unavailable"
    default_message = "Templates cannot be rendered right now; retry shortly."
