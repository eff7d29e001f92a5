from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossbay.money import Money, money_from_decimal_string

CURRENCIES = st.sampled_from(["HKD", "CNY", "MOP"])
AMOUNTS = st.integers(min_value=-(10**15), max_value=10**15)


class TestConstruction:
    @pytest.mark.parametrize("amount", [88.0, 88.5, Decimal("88"), "8800", True, None])
    def test_refuses_anything_but_an_int_of_minor_units(self, amount: object) -> None:
        with pytest.raises(TypeError):
            Money(amount, "HKD")  # type: ignore[arg-type]

    @pytest.mark.parametrize("currency", ["hkd", "HK", "HKDD", "", "Hkd"])
    def test_refuses_a_currency_that_is_not_an_upper_case_iso_code(self, currency: str) -> None:
        with pytest.raises(ValueError):
            Money(100, currency)

    def test_zero_is_zero_of_that_currency(self) -> None:
        assert Money.zero("MOP") == Money(0, "MOP")

    def test_is_immutable(self) -> None:
        money = Money(100, "HKD")
        with pytest.raises(AttributeError):
            money.amount = 200  # type: ignore[misc]


class TestArithmetic:
    def test_adds_and_subtracts_minor_units(self) -> None:
        assert Money(8800, "HKD") + Money(1250, "HKD") == Money(10050, "HKD")
        assert Money(8800, "HKD") - Money(10000, "HKD") == Money(-1200, "HKD")
        assert -Money(8800, "HKD") == Money(-8800, "HKD")

    @pytest.mark.parametrize("operation", [Money.__add__, Money.__sub__])
    def test_refuses_to_mix_currencies(self, operation: object) -> None:
        with pytest.raises(ValueError, match="currency mismatch"):
            operation(Money(100, "HKD"), Money(100, "CNY"))  # type: ignore[operator]

    def test_equal_amounts_of_different_currencies_differ(self) -> None:
        assert Money(100, "HKD") != Money(100, "MOP")

    def test_adding_a_bare_number_raises_type_error(self) -> None:
        with pytest.raises(TypeError):
            Money(100, "HKD") + 1.5  # type: ignore[operator]

    @given(AMOUNTS, AMOUNTS, CURRENCIES)
    def test_subtracting_what_was_added_gives_back_the_start(self, a: int, b: int, currency: str) -> None:
        start, other = Money(a, currency), Money(b, currency)
        assert (start + other) - other == start

    @given(AMOUNTS, AMOUNTS, CURRENCIES)
    def test_addition_commutes(self, a: int, b: int, currency: str) -> None:
        assert Money(a, currency) + Money(b, currency) == Money(b, currency) + Money(a, currency)

    @given(AMOUNTS, CURRENCIES)
    def test_a_sum_with_its_negation_is_zero(self, a: int, currency: str) -> None:
        assert Money(a, currency) + -Money(a, currency) == Money.zero(currency)


class TestToDecimal:
    @pytest.mark.parametrize(
        ("money", "expected"),
        [
            (Money(8800, "HKD"), Decimal("88.00")),
            (Money(1, "CNY"), Decimal("0.01")),
            (Money(-12345, "MOP"), Decimal("-123.45")),
            (Money(8800, "JPY"), Decimal("8800")),
        ],
    )
    def test_is_exact_in_major_units(self, money: Money, expected: Decimal) -> None:
        assert money.to_decimal() == expected
        assert str(money.to_decimal()) == str(expected)


class TestMoneyFromDecimalString:
    @pytest.mark.parametrize(
        ("text", "currency", "expected"),
        [
            ("88.00", "HKD", Money(8800, "HKD")),
            ("88", "HKD", Money(8800, "HKD")),
            ("88.1", "HKD", Money(8810, "HKD")),
            ("0.01", "CNY", Money(1, "CNY")),
            ("88.0000", "HKD", Money(8800, "HKD")),
            ("123456789012.34", "HKD", Money(12345678901234, "HKD")),
            ("8800", "JPY", Money(8800, "JPY")),
        ],
    )
    def test_parses_major_units_exactly(self, text: str, currency: str, expected: Money) -> None:
        assert money_from_decimal_string(text, currency) == expected

    @pytest.mark.parametrize(
        ("text", "currency"), [("88.001", "HKD"), ("0.005", "CNY"), ("88.5", "JPY"), ("NaN", "HKD")]
    )
    def test_refuses_a_fraction_of_a_minor_unit(self, text: str, currency: str) -> None:
        with pytest.raises(ValueError):
            money_from_decimal_string(text, currency)

    @pytest.mark.parametrize("text", ["abc", "", "Infinity", "1e2", " 88.00 ", "+88.00", "٨٨.٠٠", "88."])
    def test_refuses_text_that_is_not_a_finite_number_with_value_error(self, text: str) -> None:
        with pytest.raises(ValueError):
            money_from_decimal_string(text, "HKD")

    @given(st.integers(min_value=-(10**12), max_value=10**12), CURRENCIES)
    def test_round_trips_through_to_decimal(self, amount: int, currency: str) -> None:
        money = Money(amount, currency)
        assert money_from_decimal_string(str(money.to_decimal()), currency) == money


class TestFormat:
    @pytest.mark.parametrize(
        ("money", "language", "expected"),
        [
            (Money(8800, "HKD"), "zh-Hant", "HK$88.00"),
            (Money(8800, "HKD"), "zh-Hans", "HK$88.00"),
            (Money(8800, "HKD"), "en", "HK$88.00"),
            (Money(880050, "HKD"), "en", "HK$8,800.50"),
            (Money(-8800, "HKD"), "en", "-HK$88.00"),
            # Renminbi is "¥" where it is the home currency, "CN¥" in Hong Kong conventions.
            (Money(8800, "CNY"), "zh-Hans", "¥88.00"),
            (Money(8800, "CNY"), "zh-Hant", "CN¥88.00"),
            (Money(8800, "CNY"), "en", "CN¥88.00"),
            (Money(8800, "MOP"), "zh-Hant", "MOP88.00"),
        ],
    )
    def test_follows_the_language(self, money: Money, language: str, expected: str) -> None:
        assert money.format(language) == expected

    def test_defaults_to_traditional_chinese(self) -> None:
        assert Money(8800, "CNY").format() == Money(8800, "CNY").format("zh-Hant")

    def test_an_unknown_language_formats_as_traditional_chinese(self) -> None:
        assert Money(8800, "CNY").format("fr") == "CN¥88.00"
