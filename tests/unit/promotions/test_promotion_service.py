"""Coupons and threshold discounts through the order use cases, on both databases.

Every coupon rule and every coupon error; redemption counts and their release when an order is
cancelled, expires or is refunded; how discounts are booked; codes generated in bulk.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock
from crossbay.db import transaction
from crossbay.errors import ValidationFailed
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.models import Order
from crossbay.payments import service as payments
from crossbay.payments.service import PaymentNotice
from crossbay.promotions import campaigns, holdings
from crossbay.promotions import service as promotions
from crossbay.promotions.codes import ALPHABET
from crossbay.promotions.errors import CouponError, CouponNotApplicable
from crossbay.promotions.models import CouponRedemption, Promotion
from crossbay.promotions.rules import Tier
from crossbay.settings import Settings
from tests.conftest import test_settings as settings_for
from tests.unit.factories import make_customer, make_package, make_verified_identity

PRICE = 18_800
NAMES = {"zh-Hant": "歡迎優惠", "zh-Hans": "欢迎优惠", "en": "Welcome offer"}


@pytest.fixture
def app_settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
def package_id(session: Session, clock: FrozenClock) -> str:
    return make_package(session, price=PRICE, now=clock.now()).id


def new_customer(session: Session, clock: FrozenClock) -> str:
    customer = make_customer(session, now=clock.now())
    make_verified_identity(session, customer.id, number=_hkid(), now=clock.now())
    return customer.id


_serial = iter(range(100_000, 999_999))


def _hkid() -> str:
    """A fresh valid HKID per customer, so the ten-eSIM quota of one document never gets in the way."""
    digits = f"{next(_serial):06d}"
    values = [36, ord("A") - 55] + [int(d) for d in digits]
    remainder = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True)) % 11
    check = "0" if remainder == 0 else "A" if remainder == 1 else str(11 - remainder)
    return f"A{digits}{check}"


@pytest.fixture
def customer_id(session: Session, clock: FrozenClock) -> str:
    return new_customer(session, clock)


def make_coupon(session: Session, clock: FrozenClock, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "names": NAMES,
        "discount_type": "fixed",
        "amounts": {"HKD": 1_000, "CNY": 900},
        "starts_at": clock.now() - timedelta(days=1),
        "ends_at": clock.now() + timedelta(days=30),
        "code": "WELCOME10",
    }
    values.update(overrides)
    with transaction(session):
        return campaigns.create_coupon(session, now=clock.now(), **values).id


def make_tiers(session: Session, clock: FrozenClock, *tiers: tuple[int, int], **overrides: Any) -> str:
    with transaction(session):
        return campaigns.create_threshold(
            session,
            names={"zh-Hant": "滿減", "en": "Spend and save"},
            tiers=[Tier(Money(spend, "HKD"), Money(save, "HKD")) for spend, save in tiers],
            starts_at=clock.now() - timedelta(days=1),
            ends_at=None,
            now=clock.now(),
            **overrides,
        ).id


def quote(
    session: Session, clock: FrozenClock, customer_id: str, package_id: str, code: str | None, **kw: Any
) -> orders.Quote:
    with transaction(session):
        return orders.quote(
            session,
            customer_id=customer_id,
            package_id=package_id,
            esim_id=None,
            coupon_code=code,
            now=clock.now(),
            **kw,
        )


def place(
    session: Session,
    clock: FrozenClock,
    app_settings: Settings,
    customer_id: str,
    package_id: str,
    code: str | None,
    **kw: Any,
) -> Order:
    with transaction(session):
        return orders.place_order(
            session,
            customer_id=customer_id,
            package_id=package_id,
            esim_id=None,
            payment_method="card",
            settings=app_settings,
            now=clock.now(),
            coupon_code=code,
            **kw,
        )


def refused(call: Any) -> CouponError:
    with pytest.raises(CouponError) as error:
        call()
    return error.value


def redeemed(session: Session, promotion_id: str) -> int:
    with transaction(session):
        promotion = session.get(Promotion, promotion_id, populate_existing=True)
        assert promotion is not None
        return promotion.redeemed


def pay(session: Session, clock: FrozenClock, app_settings: Settings, order: Order) -> None:
    """The card provider's success notice for the order's payment, as the webhook applies it."""
    with transaction(session):
        payment = payments.latest_payments(session, [order.id])[order.id]
        payments.attach_provider_session(
            session, payment_id=payment.id, reference=f"pi_{order.id}", redirect_url=None, now=clock.now()
        )
        notice = PaymentNotice(
            provider="card",
            event_id=f"evt_{order.id}",
            kind="payment_intent.succeeded",
            reference=f"pi_{order.id}",
            amount=Money(payment.amount, payment.currency),
            outcome="succeeded",
        )
    with transaction(session):
        orders.apply_payment_notice(session, notice, settings=app_settings, now=clock.now())


def deliver(session: Session, clock: FrozenClock, order_id: str) -> Order:
    """What fulfilment's last step books: revenue, then the discount beside it."""
    with transaction(session):
        order = orders.get_order(session, order_id, lock=True)
        orders.transition(order, states.FULFILLING, now=clock.now())
        payments.recognize_revenue(
            session, order_id=order.id, amount=Money(order.total, order.currency), now=clock.now()
        )
        promotions.book_discount(session, order=order, now=clock.now())
        orders.transition(order, states.FULFILLED, now=clock.now())
        return order


class TestCouponErrors:
    def test_an_unknown_code_is_invalid(
        self, session: Session, clock: FrozenClock, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock)
        assert (
            refused(lambda: quote(session, clock, customer_id, package_id, "NOSUCH")).code == "coupon_invalid"
        )

    def test_another_customers_personal_code_reads_as_invalid(
        self, session: Session, clock: FrozenClock, customer_id: str, package_id: str
    ) -> None:
        promotion_id = make_coupon(session, clock, code=None)
        other = new_customer(session, clock)
        with transaction(session):
            code = campaigns.issue_coupon(
                session, promotion_id=promotion_id, customer_id=other, now=clock.now()
            ).code
        assert refused(lambda: quote(session, clock, customer_id, package_id, code)).code == "coupon_invalid"
        assert quote(session, clock, other, package_id, code).discount == Money(1_000, "HKD")

    def test_a_switched_off_promotion_is_invalid(
        self, session: Session, clock: FrozenClock, customer_id: str, package_id: str
    ) -> None:
        promotion_id = make_coupon(session, clock)
        with transaction(session):
            campaigns.set_active(session, promotion_id=promotion_id, active=False)
        assert (
            refused(lambda: quote(session, clock, customer_id, package_id, "WELCOME10")).code
            == "coupon_invalid"
        )

    def test_after_its_window_a_coupon_is_expired(
        self, session: Session, clock: FrozenClock, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock, ends_at=clock.now() + timedelta(hours=1))
        clock.advance(timedelta(hours=1))
        assert (
            refused(lambda: quote(session, clock, customer_id, package_id, "WELCOME10")).code
            == "coupon_expired"
        )

    def test_before_its_window_a_coupon_does_not_apply_yet(
        self, session: Session, clock: FrozenClock, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock, starts_at=clock.now() + timedelta(days=1))
        error = refused(lambda: quote(session, clock, customer_id, package_id, "WELCOME10"))
        assert error.code == "coupon_not_applicable"

    def test_a_missed_minimum_spend_is_not_applicable_and_names_the_minimum(
        self, session: Session, clock: FrozenClock, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock, min_spend={"HKD": 20_000})
        error = refused(lambda: quote(session, clock, customer_id, package_id, "WELCOME10"))
        assert isinstance(error, CouponNotApplicable) and error.code == "coupon_not_applicable"
        assert error.minimum_spend == Money(20_000, "HKD") and "HK$200.00" in str(error.detail)

    def test_a_coupon_with_no_amount_in_the_orders_currency_is_not_applicable(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        package = make_package(session, price=PRICE, now=clock.now())
        with transaction(session):
            session.merge(package).other_prices = {"MOP": 19_400, "CNY": 17_300}
        make_coupon(session, clock)
        package_id = package.id
        error = refused(lambda: quote(session, clock, customer_id, package_id, "WELCOME10", currency="MOP"))
        assert error.code == "coupon_not_applicable"
        assert quote(session, clock, customer_id, package_id, "WELCOME10", currency="CNY").discount == Money(
            900, "CNY"
        )

    def test_a_coupon_for_other_packages_or_kinds_is_not_applicable(
        self, session: Session, clock: FrozenClock, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock, code="VOICEONLY", package_kinds=["voice"])
        make_coupon(session, clock, code="OTHERPACK", package_ids=["pkg_other"])
        for code in ("VOICEONLY", "OTHERPACK"):
            error = refused(lambda c=code: quote(session, clock, customer_id, package_id, c))
            assert error.code == "coupon_not_applicable"

    def test_a_first_order_coupon_refuses_a_customer_who_has_ordered(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock, first_order_only=True)
        assert quote(session, clock, customer_id, package_id, "WELCOME10").discount.amount == 1_000
        first = place(session, clock, app_settings, customer_id, package_id, None)
        assert (
            refused(lambda: quote(session, clock, customer_id, package_id, "WELCOME10")).code
            == "coupon_not_applicable"
        )
        with transaction(session):
            orders.cancel_order(session, customer_id=customer_id, order_id=first.id, now=clock.now())
        # A cancelled order was never an order the customer had: the welcome is still theirs.
        assert quote(session, clock, customer_id, package_id, "WELCOME10").discount.amount == 1_000

    def test_the_total_limit_leaves_the_next_customer_used_up(
        self, session: Session, clock: FrozenClock, app_settings: Settings, package_id: str
    ) -> None:
        make_coupon(session, clock, total_limit=2)
        for _ in range(2):
            place(session, clock, app_settings, new_customer(session, clock), package_id, "WELCOME10")
        late = new_customer(session, clock)
        assert (
            refused(lambda: place(session, clock, app_settings, late, package_id, "WELCOME10")).code
            == "coupon_used_up"
        )

    def test_the_per_customer_limit_leaves_that_customer_used_up(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock, per_customer_limit=1)
        place(session, clock, app_settings, customer_id, package_id, "welcome10")
        assert (
            refused(lambda: quote(session, clock, customer_id, package_id, "WELCOME10")).code
            == "coupon_used_up"
        )
        assert quote(session, clock, new_customer(session, clock), package_id, "WELCOME10").discount.amount

    def test_a_bulk_code_is_good_for_one_order(
        self, session: Session, clock: FrozenClock, app_settings: Settings, package_id: str
    ) -> None:
        promotion_id = make_coupon(session, clock, code=None)
        with transaction(session):
            code = campaigns.generate_codes(session, promotion_id=promotion_id, count=1, now=clock.now())[
                0
            ].code
        place(session, clock, app_settings, new_customer(session, clock), package_id, code.lower())
        other = new_customer(session, clock)
        assert (
            refused(lambda: place(session, clock, app_settings, other, package_id, code)).code
            == "coupon_used_up"
        )


class TestOrdersWithPromotions:
    def test_threshold_then_coupon_are_order_lines_and_the_payment_is_the_total(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        make_tiers(session, clock, (10_000, 1_000), (20_000, 2_500))
        promotion_id = make_coupon(
            session, clock, discount_type="percent", percent=10, amounts={"HKD": 5_000}
        )
        order = place(session, clock, app_settings, customer_id, package_id, " welcome-10 ")
        assert [line.kind for line in order.lines] == ["package", "discount", "discount"]
        assert [line.amount for line in order.lines] == [PRICE, -1_000, -1_780]
        assert (order.subtotal, order.discount, order.total) == (PRICE, 2_780, PRICE - 2_780)
        assert sum(line.amount for line in order.lines) == order.total
        assert order.lines[2].descriptions["en"] == "Coupon WELCOME10: Welcome offer"
        with transaction(session):
            assert payments.latest_payments(session, [order.id])[order.id].amount == order.total
            redemption = session.scalars(select(CouponRedemption)).one()
        assert (redemption.order_id, redemption.amount, redemption.status) == (order.id, 1_780, "active")
        assert redeemed(session, promotion_id) == 1

    def test_cancelling_gives_the_use_back(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        promotion_id = make_coupon(session, clock, total_limit=1)
        order = place(session, clock, app_settings, customer_id, package_id, "WELCOME10")
        other = new_customer(session, clock)
        assert refused(lambda: quote(session, clock, other, package_id, "WELCOME10")).code == "coupon_used_up"
        with transaction(session):
            orders.cancel_order(session, customer_id=customer_id, order_id=order.id, now=clock.now())
        assert redeemed(session, promotion_id) == 0
        assert place(session, clock, app_settings, other, package_id, "WELCOME10").discount == 1_000
        with transaction(session):  # a second cancel of the same order gives nothing back twice
            promotions.release_for_order(session, order_id=order.id, now=clock.now())
        assert redeemed(session, promotion_id) == 1

    def test_an_expired_order_gives_the_use_back(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        promotion_id = make_coupon(session, clock, total_limit=1)
        order = place(session, clock, app_settings, customer_id, package_id, "WELCOME10")
        clock.advance(timedelta(seconds=app_settings.order_ttl_seconds))
        with transaction(session):
            assert orders.expire_order(session, order_id=order.id, now=clock.now()).status == states.EXPIRED
        assert redeemed(session, promotion_id) == 0

    def test_a_refunded_order_gives_the_use_back(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        promotion_id = make_coupon(session, clock, total_limit=1)
        order = place(session, clock, app_settings, customer_id, package_id, "WELCOME10")
        pay(session, clock, app_settings, order)
        assert redeemed(session, promotion_id) == 1  # paid: the use stays taken
        with transaction(session):
            orders.fail_order(session, order_id=order.id, settings=app_settings, now=clock.now())
            payment_id = payments.latest_payments(session, [order.id])[order.id].id
        with transaction(session):
            orders.mark_refunded(session, payment_id=payment_id, now=clock.now())
        assert redeemed(session, promotion_id) == 0

    def test_my_coupons_show_the_status_of_each(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        make_coupon(session, clock, per_customer_limit=1)
        issued_promotion = make_coupon(session, clock, code=None, ends_at=clock.now() + timedelta(hours=2))
        with transaction(session):
            assert promotions.claim(session, customer_id=customer_id, code="welcome10", now=clock.now())[1]
            assert not promotions.claim(session, customer_id=customer_id, code="WELCOME10", now=clock.now())[
                1
            ]
            campaigns.issue_coupon(
                session, promotion_id=issued_promotion, customer_id=customer_id, now=clock.now()
            )

        def statuses() -> dict[str, tuple[str, str]]:
            with transaction(session):
                held = holdings.customer_coupons(session, customer_id=customer_id, now=clock.now())
            return {h.promotion.id: (h.status, h.source) for h in held}

        welcome = next(iter(set(statuses()) - {issued_promotion}))
        assert statuses() == {welcome: ("available", "claimed"), issued_promotion: ("available", "issued")}
        order = place(session, clock, app_settings, customer_id, package_id, "WELCOME10")
        assert statuses()[welcome] == ("used", "claimed")
        with transaction(session):
            orders.cancel_order(session, customer_id=customer_id, order_id=order.id, now=clock.now())
        clock.advance(timedelta(hours=2))
        assert statuses() == {welcome: ("available", "claimed"), issued_promotion: ("expired", "issued")}


class TestBooking:
    def test_revenue_is_gross_with_the_discount_beside_it_and_a_refund_undoes_both(
        self, session: Session, clock: FrozenClock, app_settings: Settings, customer_id: str, package_id: str
    ) -> None:
        make_tiers(session, clock, (10_000, 1_000))
        make_coupon(session, clock)
        order = place(session, clock, app_settings, customer_id, package_id, "WELCOME10")
        pay(session, clock, app_settings, order)
        deliver(session, clock, order.id)
        with transaction(session):
            assert ledger.account_balance(session, "revenue:sales", "HKD") == Money(-PRICE, "HKD")
            assert ledger.account_balance(session, promotions.DISCOUNT_ACCOUNT, "HKD") == Money(2_000, "HKD")
            assert ledger.account_balance(session, "unearned:orders", "HKD").amount == 0
            assert ledger.check_ledger(session).ok
        with transaction(session):
            fulfilled = orders.get_order(session, order.id, lock=True)
            payments.reverse_revenue(
                session, order_id=order.id, amount=Money(order.total, "HKD"), now=clock.now()
            )
            promotions.reverse_discount(session, order=fulfilled, now=clock.now())
            promotions.reverse_discount(session, order=fulfilled, now=clock.now())  # posts once only
        with transaction(session):
            assert ledger.account_balance(session, "revenue:sales", "HKD").amount == 0
            assert ledger.account_balance(session, promotions.DISCOUNT_ACCOUNT, "HKD").amount == 0
            assert ledger.check_ledger(session).ok


class TestCampaigns:
    def test_bulk_codes_are_unique_from_the_unambiguous_alphabet_and_export_as_csv(
        self, session: Session, clock: FrozenClock
    ) -> None:
        promotion_id = make_coupon(session, clock, code=None)
        with transaction(session):
            made = campaigns.generate_codes(
                session, promotion_id=promotion_id, count=500, prefix="cb", now=clock.now()
            )
        codes = {c.code for c in made}
        assert len(codes) == 500 and all(c.startswith("CB") and set(c[2:]) <= set(ALPHABET) for c in codes)
        with transaction(session):
            rows = list(
                csv.DictReader(io.StringIO(campaigns.export_codes(session, promotion_id=promotion_id)))
            )
        assert {r["code"] for r in rows} == codes and {r["max_uses"] for r in rows} == {"1"}

    @pytest.mark.parametrize(
        "bad",
        [
            {"discount_type": "percent", "percent": 0},
            {"discount_type": "percent", "percent": 101},
            {"amounts": {}},
            {"amounts": {"USD": 100}},
            {"amounts": {"HKD": -1}},
            {"total_limit": 0},
            {"code": "NO!"},
        ],
    )
    def test_refuses_a_coupon_that_makes_no_sense(
        self, session: Session, clock: FrozenClock, bad: dict[str, Any]
    ) -> None:
        with pytest.raises(ValidationFailed):
            make_coupon(session, clock, **bad)

    def test_refuses_a_code_already_taken_whatever_its_case(
        self, session: Session, clock: FrozenClock
    ) -> None:
        make_coupon(session, clock)
        with pytest.raises(ValidationFailed):
            make_coupon(session, clock, code="welcome10")

    def test_lists_every_promotion_with_its_codes(self, session: Session, clock: FrozenClock) -> None:
        coupon_id = make_coupon(session, clock)
        tiers_id = make_tiers(session, clock, (10_000, 1_000))
        with transaction(session):
            listed = {s.promotion.id: (s.codes, s.public_code) for s in campaigns.list_promotions(session)}
            shown = [p.id for p in promotions.offers_on_show(session, now=clock.now())]
        assert listed[coupon_id] == (1, "WELCOME10") and listed[tiers_id] == (0, None)
        assert shown == [tiers_id]  # a coupon is listed only when staff put it on show


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    price=st.integers(min_value=100, max_value=100_000),
    tiers=st.lists(st.tuples(st.integers(100, 100_000), st.integers(1, 100)), max_size=3),
    kind=st.sampled_from(["fixed", "percent", None]),
    value=st.integers(min_value=1, max_value=150_000),
    percent=st.integers(min_value=1, max_value=100),
)
def test_any_promotions_keep_the_order_whole_and_the_ledger_balanced(
    session: Session,
    clock: FrozenClock,
    app_settings: Settings,
    price: int,
    tiers: list[tuple[int, int]],
    kind: str | None,
    value: int,
    percent: int,
) -> None:
    package = make_package(session, price=price, now=clock.now())
    if tiers:  # scoped to this example's package: offers of earlier examples must not stack in
        make_tiers(
            session,
            clock,
            *[(spend, max(1, spend * share // 100)) for spend, share in tiers],
            package_ids=[package.id],
        )
    code = None
    if kind is not None:
        with transaction(session):
            promotion = campaigns.create_coupon(
                session,
                names=NAMES,
                discount_type="percent" if kind == "percent" else "fixed",
                amounts={"HKD": value},
                percent=percent,
                starts_at=clock.now(),
                ends_at=None,
                package_ids=[package.id],
                now=clock.now(),
            )
            code = campaigns.generate_codes(session, promotion_id=promotion.id, count=1, now=clock.now())[
                0
            ].code
    order = place(session, clock, app_settings, new_customer(session, clock), package.id, code)
    assert order.subtotal == price and 0 <= order.discount <= order.subtotal
    assert order.total == order.subtotal - order.discount >= 0
    assert sum(line.amount for line in order.lines) == order.total
    pay(session, clock, app_settings, order)
    deliver(session, clock, order.id)
    with transaction(session):
        check = ledger.check_ledger(session)
        booked = sum(
            entry.amount
            for tx in ledger.postings_for(session, order.id)
            for entry in tx.entries
            if entry.amount < 0 and tx.kind in ("order.fulfilled", "order.discount")
        )
    assert check.ok, check
    assert -booked == order.subtotal  # gross revenue: what was paid plus what promotions took off
