"""Customer templates: Jinja2 in a sandbox, lookup tables, sample payloads (issue 6).

The pure core: ``render.render`` turns a customer's JSON or XML into the canonical request,
or a canonical response or event into the customer's format; ``lookups`` holds the
tables templates translate identifiers with. Storage, endpoint linking and the
request log build on these. The function ``render`` is not re-exported here: the
name belongs to the module (``from pressline.templates.render import render``).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from pressline.templates.formats import Format, JsonValue
from pressline.templates.lookups import (
    NO_LOOKUPS,
    LookupResolver,
    LookupTable,
    LookupTables,
    read_csv,
    write_csv,
)
from pressline.templates.render import (
    DEFAULT_LIMITS,
    Limits,
    LookupNotFound,
    Rendered,
    RendererUnavailable,
    RenderPool,
    TemplateError,
    TemplateForbidden,
    TemplateInputInvalid,
    TemplateLimitExceeded,
    TemplateOutputInvalid,
    TemplateSource,
    TemplateType,
    check_template,
    default_pool,
    validate_output,
)


def samples() -> Traversable:
    """The folder of sample payloads and example templates shipped with Pressline."""
    return files(__name__) / "samples"


__all__ = [
    "DEFAULT_LIMITS",
    "NO_LOOKUPS",
    "Format",
    "JsonValue",
    "Limits",
    "LookupNotFound",
    "LookupResolver",
    "LookupTable",
    "LookupTables",
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
    "read_csv",
    "samples",
    "validate_output",
    "write_csv",
]
