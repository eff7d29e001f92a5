from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from crossbay.api.schemas import MoneyRead
from crossbay.i18n import localized
from crossbay.money import Money
from crossbay.promotions.campaigns import tiers_of
from crossbay.promotions.holdings import CouponStatus, Holding
from crossbay.promotions.models import Promotion


class TierRead(BaseModel):
    spend: MoneyRead
    save: MoneyRead


class PromotionRead(BaseModel):
    id: str
    kind: Literal["coupon", "threshold"]
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    code: str | None = Field(description="The coupon's shared code, when it has one to show")
    discount_type: Literal["fixed", "percent"] | None
    percent: int | None
    amounts: list[MoneyRead] = Field(
        description="Fixed coupons: the amount off; percent: the cap; per currency"
    )
    minimum_spend: list[MoneyRead]
    tiers: list[TierRead] = Field(description="Threshold offers: spend this, save that, per currency")
    first_order_only: bool
    package_ids: list[str]
    package_kinds: list[str]


class PromotionList(BaseModel):
    items: list[PromotionRead]
    stacking_rule: str = Field(description="How discounts combine at checkout, in the request's language")


class CouponRead(PromotionRead):
    status: CouponStatus
    source: Literal["claimed", "issued"]
    expires_at: datetime | None
    uses_left: int | None


class CouponList(BaseModel):
    items: list[CouponRead]


class CouponClaim(BaseModel):
    code: str = Field(min_length=1, max_length=64)


def _moneys(amounts: dict[str, int], language: str) -> list[MoneyRead]:
    order = ("HKD", "CNY", "MOP")
    ranked = sorted(amounts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    return [MoneyRead.of(Money(int(amount), currency), language) for currency, amount in ranked]


def promotion_fields(promotion: Promotion, code: str | None, language: str) -> dict[str, object]:
    return {
        "id": promotion.id,
        "kind": promotion.kind,
        "title": localized(promotion.names, language),
        "description": localized(promotion.descriptions, language) if promotion.descriptions else "",
        "starts_at": promotion.starts_at,
        "ends_at": promotion.ends_at,
        "code": code,
        "discount_type": promotion.discount_type,
        "percent": promotion.percent,
        "amounts": _moneys(promotion.amounts, language),
        "minimum_spend": _moneys(promotion.min_spend, language),
        "tiers": [
            TierRead(spend=MoneyRead.of(t.spend, language), save=MoneyRead.of(t.save, language))
            for t in tiers_of(promotion)
        ],
        "first_order_only": promotion.first_order_only,
        "package_ids": list(promotion.package_ids),
        "package_kinds": list(promotion.package_kinds),
    }


def promotion_read(promotion: Promotion, code: str | None, language: str) -> PromotionRead:
    return PromotionRead.model_validate(promotion_fields(promotion, code, language))


def coupon_read(holding: Holding, language: str) -> CouponRead:
    fields = promotion_fields(holding.promotion, holding.code.code, language)
    return CouponRead.model_validate(
        {
            **fields,
            "status": holding.status,
            "source": holding.source,
            "expires_at": holding.promotion.ends_at,
            "uses_left": holding.uses_left,
        }
    )
