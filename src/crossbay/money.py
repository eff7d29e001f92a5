"""Money is an integer of minor units with its ISO currency; never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision

# The locale babel formats each of our languages in: Hong Kong and mainland conventions.
_BABEL_LOCALE = {"zh-Hant": "zh_Hant_HK", "zh-Hans": "zh_Hans_CN", "en": "en_HK"}


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError("Money.currency must be an upper-case ISO 4217 code")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def to_decimal(self) -> Decimal:
        """Major units, exact: 8800 HKD cents -> Decimal('88.00')."""
        return Decimal(self.amount).scaleb(-minor_digits(self.currency))

    def format(self, language: str = "zh-Hant") -> str:
        return format_currency(
            self.to_decimal(), self.currency, locale=_BABEL_LOCALE.get(language, "zh_Hant_HK")
        )


def minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))


# What providers send: ASCII digits and an optional fraction; no exponent, spaces or plus sign.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def money_from_decimal_string(text: str, currency: str) -> Money:
    """Parse a provider's major-unit string ("88.00") exactly; refuse fractions of a minor unit."""
    if not _DECIMAL_TEXT.fullmatch(text):
        raise ValueError("not a plain decimal amount")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a decimal amount") from None
    if not value.is_finite():
        raise ValueError("not a finite amount")
    scaled = value.scaleb(minor_digits(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError("amount has more decimal places than the currency allows")
    return Money(int(scaled), currency)
