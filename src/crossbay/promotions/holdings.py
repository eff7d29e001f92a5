"""A customer's coupons ("my coupons"): each with what it is worth to them now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from crossbay.promotions.models import CouponCode, CouponRedemption, CustomerCoupon, Promotion
from crossbay.promotions.service import ACTIVE

CouponStatus = Literal["available", "upcoming", "used", "used_up", "expired"]


@dataclass(frozen=True)
class Holding:
    code: CouponCode
    promotion: Promotion
    source: str
    status: CouponStatus
    # For this customer (their limit, or the code's own); a campaign's shared pool is not theirs to count.
    uses_left: int | None


def status_of(
    promotion: Promotion, code: CouponCode, *, mine_on_promotion: int, mine_on_code: int, now: datetime
) -> tuple[CouponStatus, int | None]:
    """The first reason a coupon cannot be used names its status: expired, used (by me), used up (by all)."""
    if not promotion.active or (promotion.ends_at is not None and promotion.ends_at <= now):
        return "expired", 0
    limit = promotion.per_customer_limit
    code_spent = code.max_uses is not None and code.redeemed >= code.max_uses
    if (limit is not None and mine_on_promotion >= limit) or (code_spent and mine_on_code > 0):
        return "used", 0
    total_spent = promotion.total_limit is not None and promotion.redeemed >= promotion.total_limit
    if code_spent or total_spent:
        return "used_up", 0
    lefts = [
        left
        for left in (
            None if limit is None else limit - mine_on_promotion,
            None if code.max_uses is None else code.max_uses - code.redeemed,
        )
        if left is not None
    ]
    left = min(lefts) if lefts else None
    return ("upcoming" if promotion.starts_at > now else "available"), left


def customer_coupons(session: Session, *, customer_id: str, now: datetime) -> list[Holding]:
    """Newest first; in three queries whatever the number of coupons."""
    rows = session.execute(
        select(CustomerCoupon, CouponCode, Promotion)
        .join(CouponCode, CouponCode.id == CustomerCoupon.code_id)
        .join(Promotion, Promotion.id == CouponCode.promotion_id)
        .where(CustomerCoupon.customer_id == customer_id)
        .order_by(CustomerCoupon.created_at.desc(), CustomerCoupon.id)
    ).all()

    def my_uses(column: InstrumentedAttribute[str]) -> dict[str, int]:
        query = (
            select(column, func.count())
            .where(CouponRedemption.customer_id == customer_id, CouponRedemption.status == ACTIVE)
            .group_by(column)
        )
        return {key: int(count) for key, count in session.execute(query)}

    per_promotion = my_uses(CouponRedemption.promotion_id)
    per_code = my_uses(CouponRedemption.code_id)
    held = []
    for holding, code, promotion in rows:
        status, left = status_of(
            promotion,
            code,
            mine_on_promotion=per_promotion.get(promotion.id, 0),
            mine_on_code=per_code.get(code.id, 0),
            now=now,
        )
        held.append(Holding(code, promotion, holding.source, status, left))
    return held
