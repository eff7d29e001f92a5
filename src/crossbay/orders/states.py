"""The order state machine: every allowed transition, in one table."""

from __future__ import annotations

from crossbay.orders.errors import IllegalTransition

PENDING_PAYMENT = "pending_payment"
PAID = "paid"
FULFILLING = "fulfilling"
FULFILLED = "fulfilled"
FAILED = "failed"
REFUNDED = "refunded"
CANCELLED = "cancelled"
EXPIRED = "expired"

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING_PAYMENT: frozenset({PAID, CANCELLED, EXPIRED}),
    PAID: frozenset({FULFILLING, FAILED}),
    FULFILLING: frozenset({FULFILLED, FAILED}),
    FAILED: frozenset({REFUNDED}),
    # Staff refund a delivered order; the quota it added is withdrawn.
    FULFILLED: frozenset({REFUNDED}),
    REFUNDED: frozenset(),
    CANCELLED: frozenset(),
    EXPIRED: frozenset(),
}

# Orders that still hold a claim on the identity's eSIM quota.
OPEN = frozenset({PENDING_PAYMENT, PAID, FULFILLING})


def check_transition(current: str, new: str) -> None:
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current} -> {new}")
