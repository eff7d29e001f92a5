"""Promotions: coupon campaigns and spend-threshold offers, their codes, and each use of a code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.db import Base


class Promotion(Base):
    """A coupon campaign (``kind="coupon"``) or an automatic threshold offer (``kind="threshold"``).

    Amounts are per currency in minor units ({"HKD": 1000, "CNY": 900}): a coupon with no amount
    in the order's currency does not apply to it; nothing is ever converted.
    """

    __tablename__ = "promotions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # coupon, threshold
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    descriptions: Mapped[dict[str, str]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    # Listed at GET /api/v1/promotions while valid; a private campaign is only reachable by its codes.
    on_show: Mapped[bool] = mapped_column(default=True)
    # Coupons: "fixed" takes amounts[currency] off; "percent" takes percent% off, at most amounts[currency].
    discount_type: Mapped[str | None] = mapped_column(String(16))
    percent: Mapped[int | None]
    amounts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    min_spend: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Threshold offers: [{"currency": "HKD", "spend": 10000, "save": 1000}, ...].
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Empty lists: every package, every kind.
    package_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    package_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_order_only: Mapped[bool] = mapped_column(default=False)
    per_customer_limit: Mapped[int | None]
    total_limit: Mapped[int | None]
    # Live redemptions of all its codes, changed only under this row's lock (FOR UPDATE).
    redeemed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class CouponCode(Base):
    """One code of a campaign: a shared public code, a bulk-generated one, or one issued to a customer."""

    __tablename__ = "coupon_codes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotions.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # upper case: codes are case-insensitive
    # Issued to one customer: nobody else may use it.
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    max_uses: Mapped[int | None]
    redeemed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class CouponRedemption(Base):
    """A code used on an order; ``released`` when that order is cancelled, expires or is refunded."""

    __tablename__ = "coupon_redemptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotions.id"))
    code_id: Mapped[str] = mapped_column(ForeignKey("coupon_codes.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # active, released
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_coupon_redemptions_promotion_id_customer_id", "promotion_id", "customer_id"),)


class CustomerCoupon(Base):
    """A coupon the customer holds: claimed by typing its code, or issued to them."""

    __tablename__ = "customer_coupons"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    code_id: Mapped[str] = mapped_column(ForeignKey("coupon_codes.id"))
    source: Mapped[str] = mapped_column(String(16))  # claimed, issued
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("customer_id", "code_id"),)
