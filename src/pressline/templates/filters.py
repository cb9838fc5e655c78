"""What a template can call: the documented filters, and the sandbox that runs them.

Jinja's ``ImmutableSandboxedEnvironment`` already refuses private and internal
attributes (``__class__``, ``_TemplateReference__context``), unsafe callables,
``str.format`` tricks and mutation of lists and dicts. What it does not refuse is
work: ``'a' * 10**9`` or ``2**(10**7)`` is one C call that no timeout can interrupt
in-process. So the operators that can build something huge in one step are
intercepted and their result size checked *before* Python computes it; the
worker process's memory and time limits (see ``render``) catch whatever else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import StrictUndefined, Undefined
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pressline.catalog.pricing import minor_unit
from pressline.templates.formats import to_json
from pressline.xmltext import xml_output

#: Integers a template computes stay below this many bits (a 1,200-digit number).
MAX_INT_BITS = 4096
#: ``strftime`` directives that mean the same on every platform.
_DATE_DIRECTIVES = frozenset("aAbBdHIjmMpSyYzZf%")
_DIRECTIVE = re.compile(r"%(.?)")
#: A ``%`` format's width or precision: ``'%999999999d' % 1`` is a gigabyte.
_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
#: Every attribute a plain ``dict`` has: any other name on one can only be a key.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class TemplateLimit(Exception):
    """A template asked for more than its limits allow; the renderer adds its line."""


# --- filters ---------------------------------------------------------------------------


def json_filter(value: object) -> str:
    """``{{ x|json }}``: a JSON literal (string, number, true/false/null, array, object).

    Plain text, not ``Markup``: inside an XML template it is still escaped as text.
    """
    return to_json(value)


def money(value: object, currency: str | None = None) -> str:
    """``{{ price|money }}`` → ``19.90``; with a currency, its ISO 4217 decimals (JPY → 0)."""
    amount = _decimal(value, "money")
    places = 2 if currency is None else minor_unit(str(currency).upper())
    try:
        return format(amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP), "f")
    except InvalidOperation:
        raise ValueError(f"money: {value!r} is too large") from None


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        str(value)  # a StrictUndefined raises its own error here
        raise ValueError(f"{where}: expected a number, got {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not a number") from None
    if not amount.is_finite() or abs(amount.adjusted()) > 20:
        raise ValueError(f"{where}: {value!r} is not an amount")
    return amount


def date_filter(value: object, format: str = "%Y-%m-%d", tz: str | None = None) -> str:
    """``{{ created|date('%d.%m.%Y', tz='Europe/Berlin') }}``; ``'iso'`` gives ISO 8601."""
    moment = _moment(value)
    if tz is not None:
        if not isinstance(moment, datetime):
            raise ValueError("date: tz needs a date-time, not a date")
        try:
            zone = ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"date: unknown time zone {tz!r}") from None
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    if format == "iso":
        return moment.isoformat()
    bad = [d for d in _DIRECTIVE.findall(format) if d not in _DATE_DIRECTIVES]
    if bad or len(format) > 100:
        raise ValueError(
            f"date: format {format!r} may use only %Y %m %d %H %M %S %f %y %b %B %a %A "
            "%j %p %I %z %Z %% (at most 100 characters)"
        )
    return moment.strftime(format)


def _moment(value: object) -> date:
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date: {text[:40]!r} is not an ISO 8601 date or date-time") from None


def digits(value: object) -> str:
    """``{{ phone|digits }}``: only the ASCII digits of the value."""
    return "".join(ch for ch in str(value) if "0" <= ch <= "9")


def cut(value: object, length: int) -> str:
    """``{{ street|cut(35) }}``: at most ``length`` characters, no ellipsis."""
    return str(value)[: max(int(length), 0)]


def as_list(value: object) -> list[object]:
    """``{% for i in order.items.item|as_list %}``: one XML element or many, always a list.

    The one filter that accepts a missing value: no element is an empty list.
    """
    if value is None or isinstance(value, Undefined):
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


FILTERS: dict[str, Callable[..., Any]] = {
    "json": json_filter,
    "tojson": json_filter,  # GelatoConnect templates written for stock Jinja use this name
    "money": money,
    "date": date_filter,
    "digits": digits,
    "cut": cut,
    "as_list": as_list,
}
#: Stock filters and globals that add nothing for JSON or XML but randomness or bulk.
_REMOVED_FILTERS = ("random", "pprint", "urlize", "filesizeformat", "xmlattr")
_REMOVED_GLOBALS = ("lipsum", "cycler", "joiner")


# --- the sandbox -----------------------------------------------------------------------


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with size checks on the operators that build big values."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            loader=None,
            extensions=["jinja2.ext.loopcontrols"],
            # XML output (the escaping one): no character XML cannot hold, whatever the data.
            finalize=xml_output if autoescape else None,
        )
        #: The largest string or list an operator may build; set per render.
        self.max_size = 1 << 20
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        for name in _REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.filters.update(FILTERS)
        self.filters["center"] = self._guarded_filter(self.filters["center"])
        self.filters["indent"] = self._guarded_filter(self.filters["indent"])
        self.filters["format"] = self._format_filter
        self.policies["truncate.leeway"] = 0

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``order.email``: for a plain dict (what parsed JSON and XML are) and a name that
        is no dict attribute, the key at once. Jinja's own lookup would get there too,
        after an ``AttributeError``; templates do this dozens of times per render."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right, self.max_size)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and getattr(obj, "__name__", "") in _PADDING_METHODS:
            self._check_widths(args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def _check_widths(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and arg > self.max_size:
                raise TemplateLimit(f"a width of {arg} exceeds the output limit")

    def _guarded_filter(self, original: Callable[..., str]) -> Callable[..., str]:
        def guarded(value: Any, *args: Any, **kwargs: Any) -> str:
            self._check_widths(args, kwargs)
            return original(value, *args, **kwargs)

        return guarded

    def _format_filter(self, value: Any, *args: Any, **kwargs: Any) -> str:
        text = str(value)
        _check_percent(text, self.max_size)
        return text % (kwargs or args)


def _check_binop(operator: str, left: Any, right: Any, max_size: int) -> None:
    if operator == "*":
        _check_repeat(left, right, max_size)
    elif operator == "**":
        _check_power(left, right)
    elif operator == "+" and _is_sized(left) and _is_sized(right):
        if len(left) + len(right) > max_size:
            raise TemplateLimit(f"'+' would build a value longer than {max_size}")
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, max_size)


def _check_repeat(left: Any, right: Any, max_size: int) -> None:
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimit(f"'*' would compute an integer over {MAX_INT_BITS} bits")
        return
    sequence, count = (left, right) if _is_int(right) else (right, left)
    if _is_sized(sequence) and _is_int(count) and len(sequence) * count > max_size:
        raise TemplateLimit(
            f"'*' would build a value of {len(sequence) * count} items (the limit is {max_size})"
        )


def _check_power(base: Any, exponent: Any) -> None:
    if not (_is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1):
        return
    if base.bit_length() * exponent > MAX_INT_BITS:
        raise TemplateLimit(f"'**' would compute an integer over {MAX_INT_BITS} bits")


def _check_percent(text: str, max_size: int) -> None:
    for width, precision in _PERCENT_WIDTH.findall(text):
        for number in (width, precision):
            if number == "*" or (number and (len(number) > 9 or int(number) > max_size)):
                raise TemplateLimit("a '%' format width or precision exceeds the output limit")


def _is_sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
