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
from urllib.parse import parse_qsl, urlencode

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
_START_TAG = re.compile(rf"<({_NAME})(?:\s[^>]*)?>")
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
    """Secret-named elements' content (text, CDATA, child elements: all of it, up to the
    closing tag or the end) and secret-named attributes' values blanked."""
    kept: list[str] = []
    position = 0
    for start in _START_TAG.finditer(text):
        name = start.group(1)
        if start.start() < position or start.group(0).endswith("/>") or not is_secret(name):
            continue
        end = re.compile(rf"</{re.escape(name)}\s*>").search(text, start.end())
        kept += [text[position : start.end()], REDACTED]
        position = len(text) if end is None else end.start()
    text = "".join(kept) + text[position:]

    def attribute(match: re.Match[str]) -> str:
        if not is_secret(match.group(2)):
            return match.group(0)
        return f'{match.group(1)}{match.group(2)}{match.group(3)}"{REDACTED}"'

    return _ATTRIBUTE.sub(attribute, text)


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
    stripped = body.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()  # a BOM, as parsers allow
    if stripped[:1] in (b"{", b"["):
        try:
            return orjson.dumps(_scrub(orjson.loads(stripped))).decode()
        except orjson.JSONDecodeError:
            return _scrub_broken_json(text)
    if stripped[:1] == b"<":
        return _scrub_xml(text)
    return _scrub_form(text)


#: A key and the start of its value in JSON that did not parse: a string (escapes
#: allowed, maybe cut short), a number or literal, or the first character of an object
#: or array.
_JSON_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[-+.\w]+|[{\[])')


def _scrub_broken_json(text: str) -> str:
    """JSON that does not parse, yet looks like JSON: the values of secret-named keys
    blanked. A secret-named object or array cannot be delimited without a parser, so
    then nothing of the body is kept."""
    held_object = False

    def pair(match: re.Match[str]) -> str:
        nonlocal held_object
        if not is_secret(_json_text(match.group(1))):
            return match.group(0)
        if match.group(3) in ("{", "["):
            held_object = True
        return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'

    scrubbed = _JSON_PAIR.sub(pair, text)
    if held_object:
        return f"{REDACTED} (not valid JSON, with a secret-named object or array)"
    return scrubbed


def _json_text(quoted: str) -> str:
    """A JSON string's text from between its quotes (as it is, if its escapes are bad)."""
    try:
        return str(orjson.loads(f'"{quoted}"'))
    except orjson.JSONDecodeError:
        return quoted


def _scrub_form(text: str) -> str:
    """A form body (``a=1&password=x``) with secret-named fields' values blanked; any
    other text as it is."""
    try:
        fields = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:  # not a form: some part has no '='
        return text
    if not any(is_secret(name) for name, _ in fields):
        return text
    return urlencode([(name, REDACTED if is_secret(name) else value) for name, value in fields])
