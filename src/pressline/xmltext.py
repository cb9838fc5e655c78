"""Text as XML 1.0 can hold it.

XML 1.0 has no way to write the C0 control characters other than tab and line breaks,
the surrogates, U+FFFE or U+FFFF, not even escaped: one of them in customer data made an
XML postback or an XML template's output a document no parser reads. Requests refuse
them (``orders.fields``); what was stored before, or came another way, is written here
with U+FFFD in its place.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"


def xml_text(value: str) -> str:
    """``value`` with every character XML 1.0 cannot hold replaced by U+FFFD."""
    return _ILLEGAL.sub(REPLACEMENT, value) if _ILLEGAL.search(value) else value


def xml_output(value: Any) -> Any:
    """A template expression's value made safe for an XML document (Jinja's
    ``finalize``): text as :func:`xml_text`, already escaped text kept escaped."""
    if isinstance(value, Markup):
        return Markup(xml_text(str(value)))  # noqa: S704 (escaped already; characters only)
    if isinstance(value, str):
        return xml_text(value)
    return value
