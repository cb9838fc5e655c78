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
from urllib.parse import quote, unquote_plus

import orjson

REDACTED = "[redacted]"
#: Field names that contain one of these (in any case, with any '-', '_' or ' ' inside) hold
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
# Every pattern here is linear in the text it scans (no scan restarts inside what an
# earlier one consumed): bodies come from clients, up to a mebibyte, and are scrubbed in
# the writer's transaction.
_START_TAG = re.compile(rf"<({_NAME})(?:\s[^<>]*)?>")
_ATTRIBUTE = re.compile(rf"(\s)({_NAME})(\s*=\s*)(\"[^\"]*\"|'[^']*')")


@lru_cache(maxsize=4096)
def is_secret(name: str) -> bool:
    """Whether a field of this name holds a secret (names repeat: the answer is cached)."""
    folded = _fold(name.encode("utf-8", "replace"))
    return any(word in folded for word in _WORDS_AS_BYTES)


def _fold(text: bytes) -> bytes:
    """Lower case without '-', '_', spaces and '+' (a form's space): ``Api-Key``,
    ``api_key`` and ``api+key`` read ``apikey``."""
    return text.lower().translate(None, b"-_ +")


def _scrub(value: Any, hits: list[str]) -> Any:
    if isinstance(value, dict):
        scrubbed = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret(key):
                hits.append(key)
                scrubbed[key] = REDACTED
            else:
                scrubbed[key] = _scrub(item, hits)
        return scrubbed
    if isinstance(value, list):
        return [_scrub(item, hits) for item in value]
    return value


def _scrub_xml(text: str) -> str:
    """Secret-named elements' content (text, CDATA, child elements: all of it, up to the
    matching closing tag or the end) and secret-named attributes' values blanked."""
    kept: list[str] = []
    position = 0
    for start in _START_TAG.finditer(text):
        name = start.group(1)
        if start.start() < position or start.group(0).endswith("/>") or not is_secret(name):
            continue
        kept += [text[position : start.end()], REDACTED]
        position = _closing_tag(text, name, start.end())
    text = "".join(kept) + text[position:]

    def attribute(match: re.Match[str]) -> str:
        if not is_secret(match.group(2)):
            return match.group(0)
        return f'{match.group(1)}{match.group(2)}{match.group(3)}"{REDACTED}"'

    return _ATTRIBUTE.sub(attribute, text)


def _closing_tag(text: str, name: str, start: int) -> int:
    """Where the element ``name`` opened before ``start`` closes (its nested namesakes
    counted), or the end of the text."""
    depth = 1
    for tag in re.compile(rf"<(/?){re.escape(name)}(?=[\s/>])[^<>]*>").finditer(text, start):
        if tag.group(1):
            depth -= 1
            if depth == 0:
                return tag.start()
        elif not tag.group(0).endswith("/>"):
            depth += 1
    return len(text)


def _may_hold_secrets(body: bytes) -> bool:
    """A cheap first look: most bodies name no secret field and are stored as they are.

    Substring tests on the folded text (a regular expression's alternation costs a
    hundred times more on a few kilobytes). A closer look also for a body with ``\\u``
    escapes (a JSON key may spell a secret's name in them: ``"\\u0074oken"``) and, unless
    it is JSON or XML, with ``%`` escapes (a form field's: ``pass%77ord``).
    """
    folded = _fold(body)
    if b"\\u" in body or any(word in folded for word in _WORDS_AS_BYTES):
        return True
    return b"%" in body and body.lstrip()[:1] not in (b"{", b"[", b"<")


def redact(body: bytes | None, *, limit: int, scrub: bool = True) -> str | None:
    """``body`` as text with secret fields replaced, cut to ``limit`` characters.

    ``scrub=False`` for Pressline's own documents (the canonical request a template made,
    responses): their field names are fixed by the API and name no secret. A body in
    which nothing is redacted is stored exactly as it came.
    """
    if not body:
        return None
    text = body.decode("utf-8", "replace")
    dropped = 0
    if scrub and _may_hold_secrets(body):
        text, dropped = _scrubbed(body, text, limit)
    if len(text) > limit:
        dropped += len(text) - limit
        text = text[:limit]
    return f"{text}…[truncated {dropped} characters]" if dropped else text


def _scrubbed(body: bytes, text: str, limit: int) -> tuple[str, int]:
    """``text`` with its secrets replaced, and how many characters were cut off first.
    Bodies that do not parse are scrubbed only as far as they are kept (``limit``), so
    the scan never outgrows what is stored."""
    stripped = body.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()  # a BOM, as parsers allow
    kept, dropped = text[:limit], max(len(text) - limit, 0)
    if stripped[:1] in (b"{", b"["):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return _scrub_broken_json(kept), dropped
        hits: list[str] = []
        scrubbed = _scrub(value, hits)
        return (orjson.dumps(scrubbed).decode() if hits else text), 0
    if stripped[:1] == b"<":
        return _scrub_xml(kept), dropped
    return _scrub_form(kept), dropped


#: A JSON string from its opening quote (escapes allowed; cut short, to the end).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_COLON = re.compile(r"\s*:\s*")
_SCALAR = re.compile(r"[-+.\w]*")
#: A key a JavaScript-ish writer left unquoted or quoted with ' (``{password: …}``).
_LOOSE_KEY = re.compile(r"(?:'([^'\n]{1,200})'|\b([A-Za-z_$][\w$-]{0,200}))\s*:")


def _scrub_broken_json(text: str) -> str:
    """JSON that does not parse, yet looks like JSON: the values of secret-named keys
    blanked, strings read left to right. When a secret's value cannot be delimited
    without a parser (an object or array), or a secret-named key is not in double
    quotes, nothing of the body is kept."""
    kept: list[str] = []
    position = 0
    while (start := text.find('"', position)) >= 0:
        key = _STRING.match(text, start)
        assert key is not None  # a quote always starts a string
        colon = _COLON.match(text, key.end())
        if colon is None or not is_secret(_json_text(key.group(0))):
            kept.append(text[position : key.end()])
            position = key.end()
            continue
        value_at = colon.end()
        if text[value_at : value_at + 1] in ("{", "["):
            return _UNREADABLE
        value = (_STRING if text.startswith('"', value_at) else _SCALAR).match(text, value_at)
        assert value is not None  # both match the empty string at least
        kept += [text[position:value_at], f'"{REDACTED}"']
        position = value.end()
    scrubbed = "".join(kept) + text[position:]
    for match in _LOOSE_KEY.finditer(scrubbed):
        if is_secret(match.group(1) or match.group(2)):
            return _UNREADABLE
    return scrubbed


_UNREADABLE = f"{REDACTED} (not valid JSON, and a secret in it could not be delimited)"


def _json_text(quoted: str) -> str:
    """A JSON string's text from its quoted form (as it is, if its escapes are bad)."""
    try:
        return str(
            orjson.loads(quoted if quoted.endswith('"') and len(quoted) > 1 else quoted + '"')
        )
    except orjson.JSONDecodeError:
        return quoted.strip('"')


#: One field of a form body: its name and its value, up to the next '&'.
_FORM_FIELD = re.compile(r"(^|&)([^=&]*)=([^&]*)")


def _scrub_form(text: str) -> str:
    """A form body (``a=1&password=x``) with secret-named fields' values blanked in place
    (names read as forms encode them: ``pass%77ord``, ``api+key``); other text as it is."""

    def field(match: re.Match[str]) -> str:
        if not is_secret(unquote_plus(match.group(2))):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}={quote(REDACTED)}"

    return _FORM_FIELD.sub(field, text)
