"""The pricing rules of promotions, as pure functions over plain values (no database).

Stacking rule — one, everywhere: the best spend-threshold tier the order reaches applies by
itself, then at most one coupon on what is left. A coupon's minimum spend is checked against
the price before any discount; a percent coupon takes its share of the amount left after the
threshold discount, up to its cap. No discount is ever more than what is left to pay, so the
total is never below zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from crossbay.money import Money
from crossbay.promotions.errors import CouponNotApplicable

DiscountType = Literal["fixed", "percent"]


@dataclass(frozen=True)
class Scope:
    """Which packages an offer covers; empty sets mean every package."""

    package_ids: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    def covers(self, package_id: str, kind: str) -> bool:
        return (not self.package_ids or package_id in self.package_ids) and (
            not self.kinds or kind in self.kinds
        )


@dataclass(frozen=True)
class Tier:
    spend: Money
    save: Money


@dataclass(frozen=True)
class ThresholdOffer:
    promotion_id: str
    tiers: tuple[Tier, ...]
    scope: Scope = Scope()


@dataclass(frozen=True)
class CouponTerms:
    promotion_id: str
    code_id: str
    code: str
    names: dict[str, str]
    discount_type: DiscountType
    # fixed: the amount off; percent: the cap. Per currency, minor units.
    amounts: dict[str, int]
    percent: int = 0
    min_spend: dict[str, int] = field(default_factory=dict)
    scope: Scope = Scope()


@dataclass(frozen=True)
class Discount:
    kind: Literal["threshold", "coupon"]
    promotion_id: str
    amount: Money  # positive: what it takes off
    descriptions: dict[str, str]
    code_id: str | None = None


@dataclass(frozen=True)
class Pricing:
    subtotal: Money
    discounts: tuple[Discount, ...]

    @property
    def discount(self) -> Money:
        return sum((d.amount for d in self.discounts), Money.zero(self.subtotal.currency))

    @property
    def total(self) -> Money:
        return self.subtotal - self.discount

    @property
    def coupon(self) -> Discount | None:
        return next((d for d in self.discounts if d.kind == "coupon"), None)


def best_tier(offers: Sequence[ThresholdOffer], subtotal: Money, package_id: str, kind: str) -> Tier | None:
    """The tier that saves most among those the subtotal reaches, in its own currency."""
    reached = [
        tier
        for offer in offers
        if offer.scope.covers(package_id, kind)
        for tier in offer.tiers
        if tier.spend.currency == subtotal.currency and tier.spend.amount <= subtotal.amount
    ]
    return max(reached, key=lambda t: (t.save.amount, -t.spend.amount), default=None)


def next_tier(offers: Sequence[ThresholdOffer], subtotal: Money, package_id: str, kind: str) -> Tier | None:
    """The nearest tier above the subtotal that would save more than what applies now (for the hint)."""
    now = best_tier(offers, subtotal, package_id, kind)
    saved = now.save.amount if now else 0
    above = [
        tier
        for offer in offers
        if offer.scope.covers(package_id, kind)
        for tier in offer.tiers
        if tier.spend.currency == subtotal.currency
        and tier.spend.amount > subtotal.amount
        and tier.save.amount > saved
    ]
    return min(above, key=lambda t: (t.spend.amount, -t.save.amount), default=None)


def check_coupon_applies(terms: CouponTerms, subtotal: Money, package_id: str, kind: str) -> None:
    """Raise CouponNotApplicable unless the coupon can take something off this package in this currency."""
    currency = subtotal.currency
    if currency not in terms.amounts:
        raise CouponNotApplicable(f"this coupon cannot be used for payments in {currency}")
    if not terms.scope.covers(package_id, kind):
        raise CouponNotApplicable("this coupon does not apply to this package")
    minimum = Money(terms.min_spend.get(currency, 0), currency)
    if subtotal.amount < minimum.amount:
        raise CouponNotApplicable(
            f"this coupon needs a minimum spend of {minimum.format('en')}", minimum_spend=minimum
        )


def coupon_amount(terms: CouponTerms, remaining: Money) -> Money:
    """What the coupon takes off ``remaining`` (already past the threshold discount); never more than it."""
    value = terms.amounts[remaining.currency]
    if terms.discount_type == "percent":
        # Rounded down to the minor unit: the customer is never promised a fraction of a cent.
        value = min(remaining.amount * terms.percent // 100, value)
    return Money(max(0, min(value, remaining.amount)), remaining.currency)


def apply_discounts(
    subtotal: Money,
    *,
    package_id: str,
    kind: str,
    thresholds: Sequence[ThresholdOffer],
    coupon: CouponTerms | None,
) -> Pricing:
    """The stacking rule (see the module docstring) applied to one package's price."""
    discounts: list[Discount] = []
    remaining = subtotal
    tier = best_tier(thresholds, subtotal, package_id, kind)
    if tier is not None:
        saved = Money(min(tier.save.amount, remaining.amount), subtotal.currency)
        discounts.append(Discount("threshold", _offer_of(thresholds, tier), saved, threshold_wording(tier)))
        remaining = remaining - saved
    if coupon is not None:
        check_coupon_applies(coupon, subtotal, package_id, kind)
        taken = coupon_amount(coupon, remaining)
        discounts.append(
            Discount("coupon", coupon.promotion_id, taken, coupon_wording(coupon), code_id=coupon.code_id)
        )
    return Pricing(subtotal, tuple(discounts))


def _offer_of(offers: Sequence[ThresholdOffer], tier: Tier) -> str:
    return next(offer.promotion_id for offer in offers if tier in offer.tiers)


def threshold_wording(tier: Tier) -> dict[str, str]:
    """The order line's text in each language, with the amounts as each language writes them."""
    spend = {lang: tier.spend.format(lang) for lang in ("zh-Hant", "zh-Hans", "en")}
    save = {lang: tier.save.format(lang) for lang in ("zh-Hant", "zh-Hans", "en")}
    return {
        "zh-Hant": f"滿減優惠：滿 {spend['zh-Hant']} 減 {save['zh-Hant']}",
        "zh-Hans": f"满减优惠：满 {spend['zh-Hans']} 减 {save['zh-Hans']}",
        "en": f"Spend {spend['en']}, save {save['en']}",
    }


def coupon_wording(terms: CouponTerms) -> dict[str, str]:
    def name(lang: str) -> str:
        return terms.names.get(lang) or terms.names.get("en") or next(iter(terms.names.values()), "")

    return {
        "zh-Hant": f"優惠券 {terms.code}：{name('zh-Hant')}",
        "zh-Hans": f"优惠券 {terms.code}：{name('zh-Hans')}",
        "en": f"Coupon {terms.code}: {name('en')}",
    }


STACKING_RULE = {
    "zh-Hant": "每張訂單自動享有可達到的最佳滿減優惠，另可再使用最多一張優惠券（在滿減後的金額上計算）；"
    "優惠券的最低消費按折扣前價格計算，總額不會低於零。",
    "zh-Hans": "每张订单自动享有可达到的最佳满减优惠，另可再使用最多一张优惠券（在满减后的金额上计算）；"
    "优惠券的最低消费按折扣前价格计算，总额不会低于零。",
    "en": "Every order gets the best spend-threshold discount it reaches, plus at most one coupon, "
    "applied to what is left after the threshold discount. A coupon's minimum spend counts the price "
    "before discounts. The total never goes below zero.",
}
