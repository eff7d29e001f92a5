"""The stacking rule and each coupon rule, as pure functions (crossbay.promotions.rules)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossbay.money import Money
from crossbay.promotions.codes import ALPHABET, generate_code, normalize_code
from crossbay.promotions.errors import CouponNotApplicable
from crossbay.promotions.rules import (
    CouponTerms,
    Scope,
    ThresholdOffer,
    Tier,
    apply_discounts,
    best_tier,
    next_tier,
)


def hkd(amount: int) -> Money:
    return Money(amount, "HKD")


TIERS = ThresholdOffer("promo_t", (Tier(hkd(10_000), hkd(1_000)), Tier(hkd(20_000), hkd(2_500))))


def coupon(
    discount_type: str = "fixed",
    amounts: dict[str, int] | None = None,
    *,
    percent: int = 0,
    min_spend: dict[str, int] | None = None,
    scope: Scope = Scope(),
) -> CouponTerms:
    return CouponTerms(
        promotion_id="promo_c",
        code_id="cpn_1",
        code="WELCOME10",
        names={"en": "Welcome", "zh-Hant": "歡迎"},
        discount_type="percent" if discount_type == "percent" else "fixed",
        amounts=amounts if amounts is not None else {"HKD": 1_000, "CNY": 900},
        percent=percent,
        min_spend=min_spend or {},
        scope=scope,
    )


def price(subtotal: Money, *, thresholds: tuple[ThresholdOffer, ...] = (), terms: CouponTerms | None = None):  # type: ignore[no-untyped-def]
    return apply_discounts(subtotal, package_id="pkg_1", kind="data", thresholds=thresholds, coupon=terms)


class TestThresholds:
    @pytest.mark.parametrize(
        ("subtotal", "saved"),
        [(9_999, 0), (10_000, 1_000), (18_800, 1_000), (20_000, 2_500), (99_900, 2_500)],
    )
    def test_the_best_tier_reached_applies(self, subtotal: int, saved: int) -> None:
        assert price(hkd(subtotal), thresholds=(TIERS,)).discount == hkd(saved)

    def test_the_best_of_several_offers_wins_never_both(self) -> None:
        other = ThresholdOffer("promo_u", (Tier(hkd(15_000), hkd(2_000)),))
        pricing = price(hkd(18_800), thresholds=(TIERS, other))
        assert [d.promotion_id for d in pricing.discounts] == ["promo_u"]
        assert pricing.total == hkd(16_800)

    def test_tiers_in_another_currency_do_not_apply(self) -> None:
        assert price(Money(30_000, "CNY"), thresholds=(TIERS,)).discounts == ()

    def test_an_offer_scoped_to_other_kinds_does_not_apply(self) -> None:
        voice_only = ThresholdOffer("promo_v", TIERS.tiers, Scope(kinds=frozenset({"voice"})))
        assert price(hkd(20_000), thresholds=(voice_only,)).discounts == ()

    def test_the_hint_names_the_next_tier_that_saves_more(self) -> None:
        assert next_tier([TIERS], hkd(8_800), "pkg_1", "data") == TIERS.tiers[0]
        assert next_tier([TIERS], hkd(18_800), "pkg_1", "data") == TIERS.tiers[1]
        assert next_tier([TIERS], hkd(20_000), "pkg_1", "data") is None
        assert best_tier([TIERS], hkd(8_800), "pkg_1", "data") is None

    def test_the_line_says_the_tier_in_each_language(self) -> None:
        line = price(hkd(10_000), thresholds=(TIERS,)).discounts[0].descriptions
        assert line["en"] == "Spend HK$100.00, save HK$10.00"
        assert "滿" in line["zh-Hant"] and "满" in line["zh-Hans"]


class TestCoupons:
    def test_a_fixed_coupon_takes_its_amount_in_the_orders_currency(self) -> None:
        assert price(hkd(8_800), terms=coupon()).discount == hkd(1_000)
        assert price(Money(8_100, "CNY"), terms=coupon()).discount == Money(900, "CNY")

    def test_a_coupon_without_an_amount_in_the_currency_does_not_apply(self) -> None:
        with pytest.raises(CouponNotApplicable):
            price(Money(9_100, "MOP"), terms=coupon())

    def test_a_percent_coupon_is_capped(self) -> None:
        terms = coupon("percent", {"HKD": 1_500}, percent=10)
        assert price(hkd(8_800), terms=terms).discount == hkd(880)
        assert price(hkd(25_800), terms=terms).discount == hkd(1_500)

    def test_a_percent_coupon_rounds_down_to_the_cent(self) -> None:
        assert price(hkd(999), terms=coupon("percent", {"HKD": 10_000}, percent=15)).discount == hkd(149)

    def test_minimum_spend_counts_the_price_before_discounts_and_is_named_when_missed(self) -> None:
        terms = coupon(min_spend={"HKD": 10_000})
        assert price(hkd(10_000), thresholds=(TIERS,), terms=terms).discount == hkd(2_000)
        with pytest.raises(CouponNotApplicable) as refused:
            price(hkd(9_999), terms=terms)
        assert refused.value.minimum_spend == hkd(10_000)
        assert "HK$100.00" in str(refused.value.detail)

    def test_a_coupon_for_some_packages_refuses_others(self) -> None:
        with pytest.raises(CouponNotApplicable):
            price(hkd(8_800), terms=coupon(scope=Scope(package_ids=frozenset({"pkg_2"}))))
        assert price(hkd(8_800), terms=coupon(scope=Scope(package_ids=frozenset({"pkg_1"})))).discount

    def test_a_coupon_for_some_kinds_refuses_others(self) -> None:
        with pytest.raises(CouponNotApplicable):
            price(hkd(8_800), terms=coupon(scope=Scope(kinds=frozenset({"voice", "bundle"}))))

    def test_the_coupon_comes_after_the_threshold_and_takes_a_share_of_what_is_left(self) -> None:
        pricing = price(
            hkd(20_000), thresholds=(TIERS,), terms=coupon("percent", {"HKD": 10_000}, percent=10)
        )
        assert [d.kind for d in pricing.discounts] == ["threshold", "coupon"]
        assert [d.amount for d in pricing.discounts] == [hkd(2_500), hkd(1_750)]
        assert pricing.total == hkd(15_750)

    def test_a_coupon_bigger_than_the_price_makes_it_free_not_negative(self) -> None:
        pricing = price(hkd(1_800), terms=coupon(amounts={"HKD": 5_000}))
        assert (pricing.discount, pricing.total) == (hkd(1_800), hkd(0))


class TestCodes:
    def test_generated_codes_avoid_look_alike_characters(self) -> None:
        assert not set("01IO") & set(ALPHABET)
        for _ in range(200):
            code = generate_code("HK")
            assert code.startswith("HK") and set(code[2:]) <= set(ALPHABET) and len(code) == 12

    @pytest.mark.parametrize("typed", ["welcome10", " WELCOME-10 ", "Welcome 10", "welcome_10"])
    def test_codes_are_read_whatever_the_case_and_spacing(self, typed: str) -> None:
        assert normalize_code(typed) == "WELCOME10"

    @pytest.mark.parametrize("typed", ["", "  ", "a", "中文碼", "X" * 33, "WELCOME10;DROP"])
    def test_nonsense_is_no_code(self, typed: str) -> None:
        assert normalize_code(typed) is None


amounts = st.integers(min_value=0, max_value=2_000_000)
currencies = st.sampled_from(["HKD", "CNY", "MOP"])


@st.composite
def configurations(draw: st.DrawFn) -> tuple[Money, tuple[ThresholdOffer, ...], CouponTerms | None]:
    currency = draw(currencies)
    subtotal = Money(draw(amounts), currency)
    offers = tuple(
        ThresholdOffer(
            f"promo_{n}",
            tuple(
                Tier(Money(spend, currency), Money(draw(st.integers(1, max(1, spend))), currency))
                for spend in draw(st.lists(st.integers(1, 2_000_000), max_size=3))
            ),
        )
        for n in range(draw(st.integers(0, 2)))
    )
    terms = None
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["fixed", "percent"]))
        terms = coupon(
            kind,
            {currency: draw(amounts)},
            percent=draw(st.integers(1, 100)),
            min_spend={currency: draw(st.integers(0, subtotal.amount))},
        )
    return subtotal, offers, terms


@given(configurations())
def test_any_configuration_discounts_at_most_the_subtotal_and_lines_sum_to_the_total(
    configuration: tuple[Money, tuple[ThresholdOffer, ...], CouponTerms | None],
) -> None:
    subtotal, offers, terms = configuration
    pricing = price(subtotal, thresholds=offers, terms=terms)
    assert 0 <= pricing.discount.amount <= subtotal.amount
    assert pricing.total == subtotal - pricing.discount and pricing.total.amount >= 0
    assert all(d.amount.amount >= 0 and d.amount.currency == subtotal.currency for d in pricing.discounts)
    assert sum(1 for d in pricing.discounts if d.kind == "coupon") <= (1 if terms else 0)
    assert sum(1 for d in pricing.discounts if d.kind == "threshold") <= 1
