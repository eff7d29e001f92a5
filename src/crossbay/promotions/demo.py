"""The demo's promotions: the spend-threshold tiers, a first-order welcome coupon and a data-pack coupon."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.money import Money
from crossbay.promotions import campaigns
from crossbay.promotions.models import CouponCode, Promotion
from crossbay.promotions.rules import Tier

WELCOME, TRAVEL = "WELCOME10", "TRAVEL15"


def _tiers(currency: str, *pairs: tuple[int, int]) -> list[Tier]:
    return [Tier(Money(spend, currency), Money(save, currency)) for spend, save in pairs]


def seed_promotions(session: Session, *, now: datetime) -> int:
    """Add the demo promotions once (a second run adds nothing); returns how many were added."""
    added = 0
    if session.scalar(select(Promotion.id).where(Promotion.kind == campaigns.THRESHOLD).limit(1)) is None:
        campaigns.create_threshold(
            session,
            names={"zh-Hant": "滿減優惠", "zh-Hans": "满减优惠", "en": "Spend more, save more"},
            descriptions={
                "zh-Hant": "單張訂單滿 HK$100 減 HK$10，滿 HK$200 減 HK$25，結帳時自動計算。",
                "zh-Hans": "单张订单满 HK$100 减 HK$10，满 HK$200 减 HK$25，结账时自动计算。",
                "en": "Spend HK$100 on one order and save HK$10; spend HK$200 and save HK$25. Automatic.",
            },
            tiers=[
                *_tiers("HKD", (10_000, 1_000), (20_000, 2_500)),
                *_tiers("CNY", (9_000, 900), (18_000, 2_300)),
                *_tiers("MOP", (10_300, 1_000), (20_600, 2_600)),
            ],
            starts_at=now,
            ends_at=None,
            now=now,
        )
        added += 1
    existing = set(session.scalars(select(CouponCode.code).where(CouponCode.code.in_((WELCOME, TRAVEL)))))
    if WELCOME not in existing:
        campaigns.create_coupon(
            session,
            names={"zh-Hant": "新客戶見面禮", "zh-Hans": "新客户见面礼", "en": "Welcome gift"},
            descriptions={
                "zh-Hant": "首次訂購減 HK$10（人民幣付款減 ¥9）。",
                "zh-Hans": "首次订购减 HK$10（人民币付款减 ¥9）。",
                "en": "HK$10 off your first order (¥9 when paying in CNY).",
            },
            discount_type="fixed",
            amounts={"HKD": 1_000, "CNY": 900, "MOP": 1_000},
            starts_at=now,
            ends_at=None,
            first_order_only=True,
            per_customer_limit=1,
            code=WELCOME,
            on_show=True,
            now=now,
        )
        added += 1
    if TRAVEL not in existing:
        campaigns.create_coupon(
            session,
            names={"zh-Hant": "數據套餐八五折", "zh-Hans": "数据套餐八五折", "en": "15% off data packs"},
            descriptions={
                "zh-Hant": "數據套餐八五折，最多減 HK$30，消費滿 HK$80 可用，限首 500 張訂單。",
                "zh-Hans": "数据套餐八五折，最多减 HK$30，消费满 HK$80 可用，限首 500 张订单。",
                "en": "15% off data packs, up to HK$30, on orders of HK$80 or more; the first 500 orders.",
            },
            discount_type="percent",
            percent=15,
            amounts={"HKD": 3_000, "CNY": 2_700},
            min_spend={"HKD": 8_000, "CNY": 7_300},
            starts_at=now,
            ends_at=now + timedelta(days=90),
            package_kinds=["data"],
            total_limit=500,
            code=TRAVEL,
            on_show=True,
            now=now,
        )
        added += 1
    return added
