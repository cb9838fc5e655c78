"""Prices, currency conversion, VAT and receipts (pure: no I/O, no database, no HTTP).

The operator's rates file (``data/rates.yaml``) is validated by :class:`RatesFile` and
compiled once into a :class:`PriceBook`, which answers per-order questions from plain dict
lookups. A receipt has one ``product`` line per order item, one ``shipment`` line and one
``packaging`` line, like seed 000's. Each line is rounded once, half up, to its currency's
minor unit, and every total is a sum of rounded lines, so a receipt always adds up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Final, Self

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from pressline.catalog.documents import fail_at
from pressline.catalog.model import (
    EU_MEMBER_STATES,
    ResolvedProduct,
    ShippingQuote,
    Unresolvable,
)

#: ISO 4217 currencies whose minor unit is not the usual 2 decimals. A fact of the
#: standard, not operator policy, so it lives here rather than in the rates file.
NON_DECIMAL_MINOR_UNITS: Final = MappingProxyType(
    {
        **dict.fromkeys(
            ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
             "UYI", "VND", "VUV", "XAF", "XOF", "XPF"),
            0,
        ),
        **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    }
)  # fmt: skip
DEFAULT_MINOR_UNIT: Final = 2


def minor_unit(currency: str) -> int:
    """Decimals a ``currency`` amount is rounded to (ISO 4217 exponent)."""
    return NON_DECIMAL_MINOR_UNITS.get(currency, DEFAULT_MINOR_UNIT)


# --- the operator file ---------------------------------------------------------------


def _currency_code(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isupper():
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (three capitals)")
    if pycountry.currencies.get(alpha_3=value) is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _country_code(value: str) -> str:
    if len(value) != 2 or not value.isascii() or not value.isupper():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (two capitals)")
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (GB, not UK)")
    return value


CurrencyCode = Annotated[str, AfterValidator(_currency_code)]


def _not_a_yaml_boolean(value: object) -> object:
    # YAML 1.1 reads a bare NO (Norway) as false; say so instead of "not a string".
    if isinstance(value, bool):
        raise ValueError(f'{value!r} is a YAML boolean; quote country codes such as "NO"')
    return value


CountryCode = Annotated[str, BeforeValidator(_not_a_yaml_boolean), AfterValidator(_country_code)]
ExchangeRate = Annotated[Decimal, Field(gt=0)]
# Below 1 so that "19" (meant as 19 %) is caught rather than charging 1900 % VAT.
VatRate = Annotated[Decimal, Field(ge=0, lt=1)]


class RatesFile(BaseModel):
    """``rates.yaml`` as written by the operator (the format is in the file's header)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_currency: CurrencyCode
    exchange_rates: dict[CurrencyCode, ExchangeRate]
    vat_rates: dict[CountryCode, VatRate]
    packaging_per_package: Annotated[Decimal, Field(ge=0)]
    reverse_charge: bool

    @field_validator("vat_rates")
    @classmethod
    def _every_eu_member_has_a_rate(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        # Defaulting a member state to 0 % would silently under-charge inside the EU.
        missing = sorted(EU_MEMBER_STATES - rates.keys())
        if missing:
            raise ValueError(f"every EU member state needs a VAT rate; missing: {missing}")
        return rates

    @model_validator(mode="after")
    def _base_rate_is_one(self) -> Self:
        base = self.base_currency
        if base not in self.exchange_rates:
            problem = f"the base currency {base} needs an exchange rate of 1"
            fail_at([(("exchange_rates",), problem)], self.exchange_rates)
        if self.exchange_rates[base] != 1:
            problem = f"the base currency {base} must have an exchange rate of exactly 1"
            fail_at([(("exchange_rates", base), problem)], self.exchange_rates[base])
        return self


# --- receipts --------------------------------------------------------------------------


class ReceiptLineType(StrEnum):
    PRODUCT = "product"
    SHIPMENT = "shipment"
    PACKAGING = "packaging"


@dataclass(frozen=True, slots=True)
class ProductLine:
    """One order item to price: ``reference_id`` is the item's id, echoed by its line."""

    reference_id: str
    product: ResolvedProduct
    quantity: int


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One receipt item (seed 000's ``receipts[].items[]``), amounts rounded to the currency."""

    type: ReceiptLineType
    reference_id: str
    title: str
    currency: str
    price_base: Decimal  # unit price, rounded for display
    amount: int  # units: pieces for products, packages for packaging, 1 for shipment
    price_initial: Decimal
    discount: Decimal
    price: Decimal
    vat: Decimal
    price_incl_vat: Decimal


#: Receipt total prefix per line type (seed 000's keys), digitization has no lines.
_TOTAL_PREFIX: Final = MappingProxyType(
    {
        ReceiptLineType.PRODUCT: "products",
        ReceiptLineType.SHIPMENT: "shipping",
        ReceiptLineType.PACKAGING: "packaging",
    }
)


_TOTAL_PREFIXES: Final = ("products", "digitization", "shipping", "packaging")
_TOTAL_SUFFIXES: Final = ("PriceInitial", "PriceDiscount", "Price", "PriceVat", "PriceInclVat")


@dataclass(frozen=True, slots=True)
class Receipt:
    """An order's priced lines, with the VAT decision that produced them."""

    currency: str
    minor_unit: int
    lines: tuple[ReceiptLine, ...]
    vat_rate: Decimal  # the rate applied to every line (0 when reverse charge applies)
    reverse_charge: bool
    charged: bool  # False: the order is not charged, every amount is 0

    @property
    def total_incl_vat(self) -> Decimal:
        """What the customer pays (search results show it as a string)."""
        return sum((line.price_incl_vat for line in self.lines), self._zero())

    def totals(self) -> dict[str, Decimal]:
        """The receipt's totals keyed by seed 000's camelCase names, each a sum of lines."""
        zero = self._zero()
        # One pass over the lines: this runs on every submit.
        sums = {prefix: [zero, zero, zero, zero, zero] for prefix in _TOTAL_PREFIXES}
        for line in self.lines:
            acc = sums[_TOTAL_PREFIX[line.type]]
            acc[0] += line.price_initial
            acc[1] += line.discount
            acc[2] += line.price
            acc[3] += line.vat
            acc[4] += line.price_incl_vat
        totals: dict[str, Decimal] = {}
        grand = [zero, zero, zero, zero, zero]
        for prefix, values in sums.items():
            for index, (suffix, value) in enumerate(zip(_TOTAL_SUFFIXES, values, strict=True)):
                totals[f"{prefix}{suffix}"] = value
                grand[index] += value
        initial, discount, price, vat, incl_vat = grand
        # Pressline gives no discounts yet (every line's discount is 0), so no VAT on them.
        totals["discount"] = discount
        totals["discountVat"] = zero
        totals["discountInclVat"] = discount
        totals["totalInitial"] = initial
        totals["total"] = price
        totals["totalVat"] = vat
        totals["totalInclVat"] = incl_vat
        return totals

    def _zero(self) -> Decimal:
        return Decimal(0).quantize(_quantum(self.minor_unit))


def _quantum(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


# --- the runtime price book ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LineSpec:
    """What a receipt line is before rounding: an unrounded unit price times a count."""

    type: ReceiptLineType
    reference_id: str
    title: str
    unit_price: Decimal
    amount: int


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Exchange and VAT rates compiled for cheap per-order lookups. Build with from_file."""

    base_currency: str
    exchange_rates: MappingProxyType[str, Decimal]
    vat_rates: MappingProxyType[str, Decimal]
    packaging_per_package: Decimal  # base currency
    reverse_charge: bool
    _quanta: MappingProxyType[str, Decimal]
    _supported: str  # "AUD, CAD, ..." for error messages

    @classmethod
    def from_file(cls, file: RatesFile) -> Self:
        return cls(
            base_currency=file.base_currency,
            exchange_rates=MappingProxyType(dict(file.exchange_rates)),
            vat_rates=MappingProxyType(dict(file.vat_rates)),
            packaging_per_package=file.packaging_per_package,
            reverse_charge=file.reverse_charge,
            _quanta=MappingProxyType(
                {code: _quantum(minor_unit(code)) for code in file.exchange_rates}
            ),
            _supported=", ".join(sorted(file.exchange_rates)),
        )

    def convert(self, amount: Decimal, from_currency: str, to_currency: str) -> Decimal:
        """``amount`` in ``to_currency``, unrounded, through the base currency."""
        from_rate = self._rate(from_currency)
        to_rate = self._rate(to_currency)
        if from_currency == to_currency:
            return amount
        return amount / from_rate * to_rate

    def unit_price(self, product: ResolvedProduct, quantity: int, currency: str) -> Decimal:
        """The unrounded unit price of ``quantity`` pieces, from the product's price tiers.

        The catalog's own price list in ``currency`` wins; otherwise the base-currency list
        is converted, so an order in SEK pays the EUR price at today's rate.
        """
        self._rate(currency)
        tiers = product.prices.get(currency)
        source = currency
        if not tiers:
            tiers = product.prices.get(self.base_currency)
            source = self.base_currency
        if not tiers:
            raise Unresolvable(
                "product_not_priced",
                f"Product {product.product_uid!r} has no price in {currency} "
                f"or {self.base_currency}.",
            )
        # Tiers are sorted ascending; the first applies below every other threshold.
        price = tiers[0].unit_price
        for tier in tiers:
            if tier.min_quantity > quantity:
                break
            price = tier.unit_price
        return self.convert(price, source, currency)

    def vat_for(
        self,
        *,
        destination_country: str,
        facility_country: str,
        is_business: bool,
        tax_id: str | None,
    ) -> tuple[Decimal, bool]:
        """The VAT rate to charge and whether the EU reverse charge applies instead."""
        reverse = (
            self.reverse_charge
            and is_business
            and bool(tax_id and tax_id.strip())
            and destination_country in EU_MEMBER_STATES
            and facility_country in EU_MEMBER_STATES
            and destination_country != facility_country
        )
        if reverse:
            return Decimal(0), True
        return self.vat_rates.get(destination_country, Decimal(0)), False

    def price_order(
        self,
        *,
        lines: Sequence[ProductLine],
        shipping: ShippingQuote,
        shipment_id: str,
        currency: str,
        destination_country: str,
        facility_country: str,
        is_business: bool,
        tax_id: str | None,
        charged: bool = True,
    ) -> Receipt:
        """The order's receipt in ``currency``; ``charged=False`` keeps the lines at 0."""
        vat_rate, reverse = self.vat_for(
            destination_country=destination_country,
            facility_country=facility_country,
            is_business=is_business,
            tax_id=tax_id,
        )
        specs = [
            _LineSpec(
                ReceiptLineType.PRODUCT,
                line.reference_id,
                f"{line.quantity}x {line.product.product_uid}",
                self.unit_price(line.product, line.quantity, currency),
                line.quantity,
            )
            for line in lines
        ]
        specs.append(self._shipment_spec(shipping, shipment_id, currency))
        specs.append(self._packaging_spec(shipping, shipment_id, currency))
        quantum = self._quanta[currency]
        return Receipt(
            currency=currency,
            minor_unit=minor_unit(currency),
            lines=tuple(_round_line(s, currency, vat_rate, quantum, charged) for s in specs),
            vat_rate=vat_rate,
            reverse_charge=reverse,
            charged=charged,
        )

    def _shipment_spec(self, quote: ShippingQuote, shipment_id: str, currency: str) -> _LineSpec:
        price = self.convert(quote.price, quote.currency, currency)
        title = f"Delivery using {quote.method_name}"
        return _LineSpec(ReceiptLineType.SHIPMENT, shipment_id, title, price, 1)

    def _packaging_spec(self, quote: ShippingQuote, shipment_id: str, currency: str) -> _LineSpec:
        unit = self.convert(self.packaging_per_package, self.base_currency, currency)
        return _LineSpec(
            ReceiptLineType.PACKAGING, shipment_id, "Packaging", unit, quote.package_count
        )

    def _rate(self, currency: str) -> Decimal:
        rate = self.exchange_rates.get(currency)
        if rate is None:
            raise self.unsupported(currency)
        return rate

    def unsupported(self, currency: str) -> Unresolvable:
        """The error for a currency this price book has no exchange rate for."""
        return Unresolvable(
            "unsupported_currency",
            f"Currency {currency!r} is not supported. Supported currencies: {self._supported}.",
        )


def _round_line(
    spec: _LineSpec, currency: str, vat_rate: Decimal, quantum: Decimal, charged: bool
) -> ReceiptLine:
    """Round the line once: its price, then VAT on the rounded price, then their sum."""
    zero = Decimal(0).quantize(quantum)
    if charged:
        price_base = spec.unit_price.quantize(quantum, rounding=ROUND_HALF_UP)
        price_initial = (spec.unit_price * spec.amount).quantize(quantum, rounding=ROUND_HALF_UP)
    else:
        price_base = price_initial = zero
    discount = zero
    price = price_initial - discount
    vat = (price * vat_rate).quantize(quantum, rounding=ROUND_HALF_UP)
    return ReceiptLine(
        type=spec.type,
        reference_id=spec.reference_id,
        title=spec.title,
        currency=currency,
        price_base=price_base,
        amount=spec.amount,
        price_initial=price_initial,
        discount=discount,
        price=price,
        vat=vat,
        price_incl_vat=price + vat,
    )
