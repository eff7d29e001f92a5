"""100 concurrent checkouts with a 10-use coupon give exactly 10 discounted orders; a cancel frees a use.

Each checkout is its own thread with its own session and transaction on a real, committed database
(SQLite and PostgreSQL), as separate API requests would be.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crossbay.clock import FrozenClock
from crossbay.db import make_session_factory, transaction
from crossbay.ledger.service import check_ledger
from crossbay.orders import service as orders
from crossbay.orders.models import Order
from crossbay.promotions import campaigns
from crossbay.promotions.errors import CouponUsedUp
from crossbay.promotions.models import CouponRedemption, Promotion
from crossbay.settings import Settings
from tests.conftest import test_settings as settings_for
from tests.support.journey import hkid_with_check
from tests.unit.factories import make_customer, make_package, make_verified_identity
from tests.unit.promotions.test_promotion_service import place

CHECKOUTS, USES = 100, 10


def test_a_ten_use_coupon_discounts_exactly_ten_of_a_hundred_concurrent_checkouts(
    committed: sa.Engine, database_url: str
) -> None:
    clock = FrozenClock()
    app_settings = settings_for(database_url)
    sessions = make_session_factory(committed)
    with sessions() as session:
        package_id = make_package(session, price=18_800, now=clock.now()).id
        customers = []
        for n in range(CHECKOUTS + 1):
            customer = make_customer(session, now=clock.now())
            number = hkid_with_check("A", f"{n:06d}").replace("(", "").replace(")", "")
            make_verified_identity(session, customer.id, number=number, now=clock.now())
            customers.append(customer.id)
        with transaction(session):
            promotion_id = campaigns.create_coupon(
                session,
                names={"en": "Ten only"},
                discount_type="fixed",
                amounts={"HKD": 2_000},
                starts_at=clock.now() - timedelta(hours=1),
                ends_at=None,
                total_limit=USES,
                code="TENONLY",
                now=clock.now(),
            ).id
    start = threading.Barrier(CHECKOUTS)

    def checkout(customer_id: str) -> str:
        start.wait()
        with sessions() as session:
            try:
                return place(session, clock, app_settings, customer_id, package_id, "tenonly").id
            except CouponUsedUp:
                return "used_up"

    with ThreadPoolExecutor(CHECKOUTS) as pool:
        outcomes = list(pool.map(checkout, customers[:CHECKOUTS]))
    placed = [o for o in outcomes if o != "used_up"]
    assert (len(placed), outcomes.count("used_up")) == (USES, CHECKOUTS - USES)

    def counts(session: Session) -> tuple[int, int, int]:
        with transaction(session):
            promotion = session.get(Promotion, promotion_id, populate_existing=True)
            assert promotion is not None
            discounted = session.scalar(
                select(func.count()).where(Order.discount == 2_000, Order.status == "pending_payment")
            )
            active = session.scalar(
                select(func.count()).where(
                    CouponRedemption.promotion_id == promotion_id, CouponRedemption.status == "active"
                )
            )
            return promotion.redeemed, int(discounted or 0), int(active or 0)

    with sessions() as session:
        assert counts(session) == (USES, USES, USES)
        with transaction(session):
            owner = session.get(Order, placed[0])
            assert owner is not None
            orders.cancel_order(session, customer_id=owner.customer_id, order_id=owner.id, now=clock.now())
        assert counts(session) == (USES - 1, USES - 1, USES - 1)
        # The use the cancel gave back goes to the next checkout, and that is the last one.
        assert checkout_alone(sessions, app_settings, customers[CHECKOUTS], package_id, clock) == 2_000
        assert counts(session) == (USES, USES, USES)
        with transaction(session):
            assert check_ledger(session).ok


def checkout_alone(
    sessions: sessionmaker[Session],
    app_settings: Settings,
    customer_id: str,
    package_id: str,
    clock: FrozenClock,
) -> int:
    with sessions() as session:
        return place(session, clock, app_settings, customer_id, package_id, "TENONLY").discount
