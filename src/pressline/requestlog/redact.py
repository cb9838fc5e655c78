"""Secrets never reach the request log.

Headers are not logged at all (so neither is ``X-API-KEY``). Bodies are logged, with
the value of every field whose name says it holds a secret replaced: JSON object
keys, XML elements and attributes alike. Runs in the writer thread, not on the
request path.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson

REDACTED = "[redacted]"
#: Field names that contain one of these (in any case, with any '-' or '_' inside) hold
#: secrets. The one list: the name test and the bodies' first look are both made from it.
SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "credential",
    "cardnumber",
    "cvv",
    "cvc",
    "privatekey",
    "signature",
)
_WORDS_AS_BYTES = tuple(word.encode() for word in SECRET_WORDS)
_NAME = r"[A-Za-z_][\w.:-]*"
_ELEMENT = re.compile(rf"<({_NAME})(\s[^>]*)?>([^<]*)</\1\s*>")
_ATTRIBUTE = re.compile(rf"(\s)({_NAME})(\s*=\s*)(\"[^\"]*\"|'[^']*')")


@lru_cache(maxsize=4096)
def is_secret(name: str) -> bool:
    """Whether a field of this name holds a secret (names repeat: the answer is cached)."""
    folded = _fold(name.encode("utf-8", "replace"))
    return any(word in folded for word in _WORDS_AS_BYTES)


def _fold(text: bytes) -> bytes:
    """Lower case without '-' and '_', so that ``Api-Key`` and ``api_key`` read ``apikey``."""
    return text.lower().translate(None, b"-_")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and is_secret(key) else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _scrub_xml(text: str) -> str:
    def element(match: re.Match[str]) -> str:
        if not is_secret(match.group(1)):
            return match.group(0)
        return f"<{match.group(1)}{match.group(2) or ''}>{REDACTED}</{match.group(1)}>"

    def attribute(match: re.Match[str]) -> str:
        if not is_secret(match.group(2)):
            return match.group(0)
        return f'{match.group(1)}{match.group(2)}{match.group(3)}"{REDACTED}"'

    return _ATTRIBUTE.sub(attribute, _ELEMENT.sub(element, text))


def _may_hold_secrets(body: bytes) -> bool:
    """A cheap first look: most bodies name no secret field and are stored as they are.

    Substring tests on the folded text (a regular expression's alternation costs a
    hundred times more on a few kilobytes). A body with ``\\u`` escapes always gets the
    closer look: a JSON key may spell a secret's name in them (``"\\u0074oken"``).
    """
    folded = _fold(body)
    return b"\\u" in body or any(word in folded for word in _WORDS_AS_BYTES)


def redact(body: bytes | None, *, limit: int, scrub: bool = True) -> str | None:
    """``body`` as text with secret fields replaced, cut to ``limit`` characters.

    ``scrub=False`` for Pressline's own documents (the canonical request a template made,
    responses): their field names are fixed by the API and name no secret.
    """
    if not body:
        return None
    text = body.decode("utf-8", "replace")
    if scrub and _may_hold_secrets(body):
        text = _scrubbed(body, text)
    if len(text) > limit:
        text = f"{text[:limit]}…[truncated {len(text) - limit} characters]"
    return text


def _scrubbed(body: bytes, text: str) -> str:
    stripped = body.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            return orjson.dumps(_scrub(orjson.loads(body))).decode()
        except orjson.JSONDecodeError:
            # Not valid JSON, yet JSON-like: blank quoted values after secret-named keys.
            return re.sub(
                r'("([^"]*)"\s*:\s*)"[^"]*"',
                lambda m: f'{m.group(1)}"{REDACTED}"' if is_secret(m.group(2)) else m.group(0),
                text,
            )
    if stripped[:1] == b"<":
        return _scrub_xml(text)
    return text
