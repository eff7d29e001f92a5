"""Promotions at checkout: price a package, redeem a coupon exactly once per use, give uses back.

Counts are exact under concurrency: every redemption and release of a campaign's codes happens
under that campaign's row lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite transactions take
the write lock at ``BEGIN IMMEDIATE``), and the limits are checked again under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from crossbay.catalog.models import Package
from crossbay.db import new_id
from crossbay.ledger import service as ledger
from crossbay.ledger.service import Line
from crossbay.money import Money
from crossbay.orders.models import Order
from crossbay.promotions.campaigns import CLAIMED, COUPON, THRESHOLD, tiers_of
from crossbay.promotions.codes import normalize_code
from crossbay.promotions.errors import CouponExpired, CouponInvalid, CouponNotApplicable, CouponUsedUp
from crossbay.promotions.models import CouponCode, CouponRedemption, CustomerCoupon, Promotion
from crossbay.promotions.rules import (
    CouponTerms,
    Pricing,
    Scope,
    ThresholdOffer,
    Tier,
    apply_discounts,
    next_tier,
)

ACTIVE, RELEASED = "active", "released"
DISCOUNT_ACCOUNT = "discounts:promotions"
# Orders that make a customer no longer new: placed and not called off (cancelled or expired).
_COUNTED_ORDER_STATUSES = ("pending_payment", "paid", "fulfilling", "fulfilled")


def _live(now: datetime) -> ColumnElement[bool]:
    return and_(
        Promotion.active.is_(True),
        Promotion.starts_at <= now,
        or_(Promotion.ends_at.is_(None), Promotion.ends_at > now),
    )


def offers_on_show(session: Session, *, now: datetime) -> list[Promotion]:
    """What GET /promotions lists: live promotions marked for show, threshold offers first."""
    query = select(Promotion).where(Promotion.on_show.is_(True), _live(now))
    found = list(session.scalars(query.order_by(Promotion.created_at, Promotion.id)))
    return sorted(found, key=lambda p: p.kind != THRESHOLD)


def _scope(promotion: Promotion) -> Scope:
    return Scope(frozenset(promotion.package_ids), frozenset(promotion.package_kinds))


def threshold_offers(session: Session, *, now: datetime) -> list[ThresholdOffer]:
    query = select(Promotion).where(Promotion.kind == THRESHOLD, _live(now))
    return [ThresholdOffer(p.id, tiers_of(p), _scope(p)) for p in session.scalars(query)]


def _terms(promotion: Promotion, code: CouponCode) -> CouponTerms:
    return CouponTerms(
        promotion_id=promotion.id,
        code_id=code.id,
        code=code.code,
        names=promotion.names,
        discount_type="percent" if promotion.discount_type == "percent" else "fixed",
        amounts=promotion.amounts,
        percent=promotion.percent or 0,
        min_spend=promotion.min_spend,
        scope=_scope(promotion),
    )


def _find_code(session: Session, text: str, *, customer_id: str) -> CouponCode:
    normalized = normalize_code(text)
    code = session.scalar(select(CouponCode).where(CouponCode.code == normalized)) if normalized else None
    # Someone else's personal code reads exactly like an unknown one: it reveals nothing.
    if code is None or code.customer_id not in (None, customer_id):
        raise CouponInvalid("no such coupon")
    return code


def _check_window(promotion: Promotion, now: datetime) -> None:
    if promotion.kind != COUPON or not promotion.active:
        raise CouponInvalid("no such coupon")
    if promotion.ends_at is not None and promotion.ends_at <= now:
        raise CouponExpired(f"this coupon expired at {promotion.ends_at.isoformat()}")
    if promotion.starts_at > now:
        raise CouponNotApplicable(f"this coupon can be used from {promotion.starts_at.isoformat()}")


def _customer_uses(
    session: Session, promotion_id: str, customer_id: str, *, code_id: str | None = None
) -> int:
    query = select(func.count()).where(
        CouponRedemption.promotion_id == promotion_id,
        CouponRedemption.customer_id == customer_id,
        CouponRedemption.status == ACTIVE,
    )
    if code_id is not None:
        query = query.where(CouponRedemption.code_id == code_id)
    return int(session.scalar(query) or 0)


def _check_uses(session: Session, promotion: Promotion, code: CouponCode, customer_id: str) -> None:
    if promotion.total_limit is not None and promotion.redeemed >= promotion.total_limit:
        raise CouponUsedUp("every use of this coupon has been taken")
    if code.max_uses is not None and code.redeemed >= code.max_uses:
        raise CouponUsedUp("this code has been used")
    limit = promotion.per_customer_limit
    if limit is not None and _customer_uses(session, promotion.id, customer_id) >= limit:
        raise CouponUsedUp("you have used this coupon as often as it allows")


def _check_first_order(
    session: Session, promotion: Promotion, customer_id: str, *, order_id: str | None
) -> None:
    if not promotion.first_order_only:
        return
    # Read only: whether the customer has ordered before is a fact of the orders table.
    query = select(func.count()).where(
        Order.customer_id == customer_id, Order.status.in_(_COUNTED_ORDER_STATUSES)
    )
    if order_id is not None:
        query = query.where(Order.id != order_id)
    if session.scalar(query):
        raise CouponNotApplicable("this coupon is for a first order only")


def price(
    session: Session,
    *,
    customer_id: str,
    package: Package,
    subtotal: Money,
    coupon_code: str | None,
    now: datetime,
) -> Pricing:
    """The best threshold tier, then the coupon (if any): raises the coupon's error when it cannot apply."""
    coupon = None
    if coupon_code is not None and coupon_code.strip():
        code = _find_code(session, coupon_code, customer_id=customer_id)
        promotion = session.get(Promotion, code.promotion_id)
        assert promotion is not None
        _check_window(promotion, now)
        _check_uses(session, promotion, code, customer_id)
        _check_first_order(session, promotion, customer_id, order_id=None)
        coupon = _terms(promotion, code)
    return apply_discounts(
        subtotal,
        package_id=package.id,
        kind=package.kind,
        thresholds=threshold_offers(session, now=now),
        coupon=coupon,
    )


def threshold_hint(session: Session, *, package: Package, subtotal: Money, now: datetime) -> Tier | None:
    """The next tier above this price, for "spend HK$12 more to save HK$10"."""
    return next_tier(threshold_offers(session, now=now), subtotal, package.id, package.kind)


def redeem(
    session: Session, *, pricing: Pricing, order_id: str, customer_id: str, now: datetime
) -> CouponRedemption | None:
    """Take one use of the order's coupon, checking every limit again under the campaign's lock.

    Raises CouponUsedUp (and so refuses the order) when the last use went to someone else first.
    """
    applied = pricing.coupon
    if applied is None or applied.code_id is None:
        return None
    promotion = session.get(Promotion, applied.promotion_id, with_for_update=True, populate_existing=True)
    code = session.get(CouponCode, applied.code_id, populate_existing=True)
    assert promotion is not None and code is not None
    _check_window(promotion, now)
    _check_uses(session, promotion, code, customer_id)
    _check_first_order(session, promotion, customer_id, order_id=order_id)
    promotion.redeemed += 1
    code.redeemed += 1
    redemption = CouponRedemption(
        id=new_id("rdm"),
        promotion_id=promotion.id,
        code_id=code.id,
        customer_id=customer_id,
        order_id=order_id,
        amount=applied.amount.amount,
        currency=applied.amount.currency,
        status=ACTIVE,
        created_at=now,
        released_at=None,
    )
    session.add(redemption)
    _hold(session, customer_id=customer_id, code_id=code.id, source=CLAIMED, now=now)
    return redemption


def release_for_order(session: Session, *, order_id: str, now: datetime) -> None:
    """The order was cancelled, expired or refunded: its coupon use goes back, once."""
    redemption = session.scalar(
        select(CouponRedemption).where(
            CouponRedemption.order_id == order_id, CouponRedemption.status == ACTIVE
        )
    )
    if redemption is None:
        return
    promotion = session.get(Promotion, redemption.promotion_id, with_for_update=True, populate_existing=True)
    code = session.get(CouponCode, redemption.code_id, populate_existing=True)
    session.refresh(redemption)
    if promotion is None or code is None or redemption.status != ACTIVE:
        return
    promotion.redeemed -= 1
    code.redeemed -= 1
    redemption.status = RELEASED
    redemption.released_at = now


def _hold(
    session: Session, *, customer_id: str, code_id: str, source: str, now: datetime
) -> tuple[CustomerCoupon, bool]:
    """The customer's hold on a code, and whether it is new."""
    held = session.scalar(
        select(CustomerCoupon).where(
            CustomerCoupon.customer_id == customer_id, CustomerCoupon.code_id == code_id
        )
    )
    if held is None:
        held = CustomerCoupon(
            id=new_id("ccp"), customer_id=customer_id, code_id=code_id, source=source, created_at=now
        )
        session.add(held)
        return held, True
    return held, False


def claim(session: Session, *, customer_id: str, code: str, now: datetime) -> tuple[CustomerCoupon, bool]:
    """Keep a coupon by its code, to see it under "my coupons" and use it later; True if newly kept."""
    found = _find_code(session, code, customer_id=customer_id)
    promotion = session.get(Promotion, found.promotion_id, with_for_update=True)
    assert promotion is not None
    if promotion.kind != COUPON or not promotion.active:
        raise CouponInvalid("no such coupon")
    if promotion.ends_at is not None and promotion.ends_at <= now:
        raise CouponExpired(f"this coupon expired at {promotion.ends_at.isoformat()}")
    return _hold(session, customer_id=customer_id, code_id=found.id, source=CLAIMED, now=now)


def book_discount(session: Session, *, order: Order, now: datetime) -> None:
    """Delivered: revenue is shown gross, the discount in a contra-revenue account beside it."""
    if order.discount <= 0:
        return
    amount = Money(order.discount, order.currency)
    ledger.post(
        session,
        kind="order.discount",
        reference=order.id,
        now=now,
        lines=[Line(DISCOUNT_ACCOUNT, amount), Line("revenue:sales", -amount)],
    )


def reverse_discount(session: Session, *, order: Order, now: datetime) -> None:
    """A delivered order is refunded: its discount booking is undone with its revenue."""
    booked = [tx for tx in ledger.postings_for(session, order.id) if tx.kind == "order.discount"]
    if not booked:
        return
    amount = Money(order.discount, order.currency)
    ledger.post(
        session,
        kind="order.discount_reversed",
        reference=order.id,
        now=now,
        lines=[Line("revenue:sales", amount), Line(DISCOUNT_ACCOUNT, -amount)],
    )


def redemptions_of(session: Session, order_ids: Sequence[str]) -> dict[str, CouponRedemption]:
    if not order_ids:
        return {}
    rows = session.scalars(select(CouponRedemption).where(CouponRedemption.order_id.in_(order_ids)))
    return {r.order_id: r for r in rows}
