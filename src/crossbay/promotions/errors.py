"""Coupon errors (API.md "Promotions"): every one is 422 with a stable code."""

from __future__ import annotations

from crossbay.errors import CrossbayError, NotFound
from crossbay.money import Money


class CouponError(CrossbayError):
    status = 422


class CouponInvalid(CouponError):
    code = "coupon_invalid"


class CouponExpired(CouponError):
    code = "coupon_expired"


class CouponUsedUp(CouponError):
    code = "coupon_used_up"


class CouponNotApplicable(CouponError):
    """Carries the minimum spend when that is why, so a page can say it in the customer's words."""

    code = "coupon_not_applicable"

    def __init__(self, detail: str, *, minimum_spend: Money | None = None) -> None:
        super().__init__(detail)
        self.minimum_spend = minimum_spend


class PromotionNotFound(NotFound):
    pass
