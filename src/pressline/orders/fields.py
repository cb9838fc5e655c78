"""Reusable validated field types for order payloads (domain.md §3 limits).

Each check raises ``PydanticCustomError`` with a stable code, so the error body's
``errors[].code`` is the same whatever library did the checking.
"""

from __future__ import annotations

import re
import socket
from decimal import Decimal
from functools import lru_cache, partial
from ipaddress import IPv4Address, IPv6Address, ip_address
from string import hexdigits
from typing import Annotated, Any
from urllib.parse import urlsplit

import annotated_types
import email_validator
import phonenumbers
import pycountry
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from pressline.config import get_settings
from pressline.postbacks import outbound

# Reference data loaded once into memory: validating a code is a set lookup.
COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
#: Countries whose addresses need a state or province (domain.md §3), and its codes
#: (seed 000: "State or province code"): ISO 3166-2, plus the US Armed Forces codes
#: AA, AE and AP that US carriers deliver to.
STATE_CODES: dict[str, frozenset[str]] = {
    country: frozenset(
        subdivision.code.split("-", 1)[1]
        for subdivision in pycountry.subdivisions
        if subdivision.country_code == country
    )
    | (frozenset({"AA", "AE", "AP"}) if country == "US" else frozenset())
    for country in ("AU", "CA", "US")
}

# Reasons phonenumbers gives that mean "not a phone number at all". INVALID_LENGTH is
# accepted on purpose: the seed's own example "+47222222" has it, and carriers reach
# such numbers; the address only needs a number a courier can try.
_IMPOSSIBLE = frozenset(
    {
        phonenumbers.ValidationResult.INVALID_COUNTRY_CODE,
        phonenumbers.ValidationResult.TOO_SHORT,
        phonenumbers.ValidationResult.TOO_LONG,
    }
)
_PHONE_CHARS = frozenset("0123456789+-()./ ")

#: C0 control characters and DEL: never part of a name, an address or a reference, and
#: PostgreSQL cannot store NUL at all. Free text (``lines``) may hold tabs and line breaks.
#: With them the noncharacters U+FFFE and U+FFFF, which XML cannot hold (``xmltext``):
#: stored, they would break every XML postback of the order.
CONTROLS = r"\x00-\x1f\x7f\ufffe\uffff"
LINES_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff"
_CONTROL = re.compile(f"[{CONTROLS}]")
_CONTROL_BUT_LINES = re.compile(f"[{LINES_CONTROLS}]")
CONTROLS_MESSAGE = (
    "Must not contain control characters (NUL, tab, line breaks and the like) "
    "or the noncharacters U+FFFE and U+FFFF"
)
#: What the schema strips from both ends of a text (Unicode White_Space).
_BLANKS = r"\t\n\x0b\x0c\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


#: The phone's JSON Schema pattern: what ``check_phone`` lets through, as sent.
PHONE_PATTERN = f"^[{_BLANKS}]*\\+?[0-9\\-()./ ]*[0-9][0-9\\-()./ ]*[{_BLANKS}]*$"


def has_controls(value: str) -> bool:
    return _CONTROL.search(value) is not None


def _refused_controls() -> PydanticCustomError:
    return PydanticCustomError("invalid_characters", CONTROLS_MESSAGE)


def no_controls(value: str) -> str:
    if has_controls(value):
        raise _refused_controls()
    return value


def no_controls_but_lines(value: str) -> str:
    if _CONTROL_BUT_LINES.search(value):
        raise _refused_controls()
    return value


def text_pattern(*, required: bool, lines: bool = False) -> str:
    """The JSON Schema ``pattern`` of a text as sent: blanks at either end (stripped),
    between them no control characters (tabs and line breaks allowed with ``lines``)
    and, when ``required``, one character that is not blank."""
    ends = f"[{_BLANKS}]*"
    inner = f"[^{LINES_CONTROLS if lines else CONTROLS}]*"
    if not required:
        return f"^{ends}{inner}{ends}$"
    return f"^{ends}{inner}[^{CONTROLS}{_BLANKS}]{inner}{ends}$"


class _Text(annotated_types.GroupedMetadata):
    """Stripped, within its lengths, free of control characters (tabs and line breaks
    allowed with ``lines``) and, when required, not blank."""

    def __init__(self, max_length: int, min_length: int, lines: bool) -> None:
        self.max_length, self.min_length, self.lines = max_length, min_length, lines

    def __iter__(self) -> Any:
        yield StringConstraints(
            strip_whitespace=True, min_length=self.min_length, max_length=self.max_length
        )
        yield AfterValidator(no_controls_but_lines if self.lines else no_controls)
        # The maximum holds for the text as sent, as the JSON Schema's maxLength says:
        # blanks at the ends are stripped, not a way past it. (Last: it runs first.)
        yield BeforeValidator(partial(_at_most, self.max_length))
        pattern = text_pattern(required=self.min_length > 0, lines=self.lines)
        yield Field(json_schema_extra={"pattern": pattern})


def _at_most(max_length: int, value: Any) -> Any:
    if isinstance(value, str) and len(value) > max_length:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": max_length},
        )
    return value


def text(max_length: int, min_length: int = 0, *, lines: bool = False) -> Any:
    """``Annotated[str, text(35, 1)]``: a text field of an API body."""
    return _Text(max_length, min_length, lines)


def _country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise PydanticCustomError(
            "invalid_country",
            "Country must be an ISO 3166-1 alpha-2 code such as 'GB' or 'US'",
        )
    return value


def _currency(value: str) -> str:
    if value not in CURRENCY_CODES:
        raise PydanticCustomError(
            "invalid_currency", "Currency must be an ISO 4217 code such as 'EUR' or 'USD'"
        )
    return value


def _email(value: str) -> str:
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise PydanticCustomError("invalid_email", "Email is not a valid format") from None
    return value


def check_phone(value: str, country: str | None) -> str:
    """Accept an E.123 number a courier can dial; ``country`` is the default region.

    ``country`` is None when the address's own country is missing or invalid: that is
    reported on ``country``, and a national number cannot be judged without it, so only
    its characters are checked (an international ``+…`` number still is in full).
    """
    if not set(value) <= _PHONE_CHARS:
        raise PydanticCustomError(
            "invalid_phone", "Phone may contain only digits, spaces, '+', '-', '(', ')', '.', '/'"
        )
    if "+" in value[1:]:  # phonenumbers reads "++1 …" as "+1 …": E.123 has one, first
        raise PydanticCustomError(
            "invalid_phone", "Phone may have one '+', before the country code"
        )
    if country is None and not value.startswith("+"):
        return value
    try:
        number = phonenumbers.parse(value, country or "ZZ")
    except phonenumbers.NumberParseException:
        raise PydanticCustomError(
            "invalid_phone", "Phone is not a valid number; include the country code, e.g. +44…"
        ) from None
    if phonenumbers.is_possible_number_with_reason(number) in _IMPOSSIBLE:
        raise PydanticCustomError("invalid_phone", "Phone is not a valid number")
    return value


def _absolute_http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        valid = (
            parts.scheme in {"http", "https"}
            and bool(parts.hostname)
            and (parts.port is None or parts.port > 0)  # .port raises on a malformed port
            and " " not in value
            and value.isprintable()  # no tab, newline or other control character
            # Read differently by other parsers: WHATWG reads a backslash as "/" (so
            # "http://127.0.0.1\\@example.com/" is 127.0.0.1 there), and a host that
            # is percent-encoded may be decoded into another one.
            and "\\" not in value
            and "%" not in (parts.hostname or "")
        )
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        valid = False
    if not valid:
        raise PydanticCustomError(
            "invalid_url", "URL must be an absolute http:// or https:// address with a host"
        )
    _public_file_host(_ascii_host(parts.hostname or ""))
    return value


def _ascii_host(host: str) -> str:
    """The host as clients look it up: a name in Unicode through IDNA, which also maps
    lookalikes to ASCII ("127。0。0。1" and fullwidth digits are 127.0.0.1 to curl and
    httpx), so that the address test sees what they will connect to."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise PydanticCustomError(
            "invalid_url", "URL host '{host}' is no valid international name", {"host": host}
        ) from None


def _public_file_host(host: str) -> None:
    """reliability.md 17: a print file on this machine, a private network or the cloud's
    metadata address is refused, unless the operator allowed that network
    (PRESSLINE_POSTBACK_ALLOWED_NETWORKS). Only what the URL itself shows is judged: a
    name is resolved by whoever fetches the file (the facility, on its own network), and
    a DNS lookup per file would put the resolver on the submit path."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        reason: str | None = f"'{host}' is this machine"
    else:
        address = _literal_address(name)
        if address is None:
            return
        if outbound.is_allowed(
            address, _allowed_networks(tuple(get_settings().postback_allowed_networks))
        ):
            return
        reason = outbound.forbidden_reason(address)
    if reason is not None:
        raise PydanticCustomError(
            "file_url_refused",
            "Print files must be on a public host: {reason}",
            {"reason": reason},
        )


def _literal_address(host: str) -> IPv4Address | IPv6Address | None:
    """The address a host names by itself, however written. Browsers, curl and C's
    ``inet_aton`` also read ``127.1``, ``2130706433``, ``0x7f.1`` and ``0177.0.0.1`` as
    IPv4 (WHATWG: a host whose last label is a number is an address); ``ip_address``
    takes only the dotted-quad form. None for a name."""
    try:
        return ip_address(host)
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1]
    if not (last.isdigit() or (last[:2] == "0x" and all(c in hexdigits for c in last[2:]))):
        return None
    try:
        return IPv4Address(socket.inet_aton(host))
    except OSError:  # ends like an address but is none (1.2.3.4.5): no URL host at all
        raise PydanticCustomError(
            "invalid_url",
            "URL host '{host}' ends in a number but is no IPv4 address",
            {"host": host},
        ) from None


@lru_cache(maxsize=4)
def _allowed_networks(values: tuple[str, ...]) -> tuple[outbound.Network, ...]:
    return outbound.parse_networks(values)


CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_country),
    Field(json_schema_extra={"enum": sorted(COUNTRY_CODES)}),
]
CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_currency),
    Field(json_schema_extra={"enum": sorted(CURRENCY_CODES)}),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email"}),
]
HttpUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048),
    WithJsonSchema(
        {"type": "string", "format": "uri", "pattern": "^https?://[^/?#]", "maxLength": 2048}
    ),
    AfterValidator(_absolute_http_url),
]
MONEY_PATTERN = r"^([0-9]{1,9}(\.[0-9]{1,4})?|1000000000(\.0{1,4})?)$"
Money = Annotated[
    Decimal,
    Field(ge=0, le=1_000_000_000, max_digits=16, decimal_places=4),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
                {"type": "string", "pattern": MONEY_PATTERN},
            ]
        }
    ),
]
