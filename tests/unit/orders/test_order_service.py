"""Orders: the state machine, placing an order, payment notices, expiry (API.md "Orders")."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crossbay.catalog.errors import PackageNotAvailable, PackageNotFound
from crossbay.clock import FrozenClock, hk_date
from crossbay.db import new_id, transaction
from crossbay.errors import NotFound
from crossbay.esim import service as esims
from crossbay.esim.models import Esim
from crossbay.jobs.models import Job
from crossbay.kyc.errors import IdentityQuotaExceeded, IdentityRequired
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.errors import (
    IllegalTransition,
    OrderNotCancellable,
    OrderNotFound,
    PaymentMethodUnavailable,
)
from crossbay.orders.models import Order
from crossbay.payments import service as payments
from crossbay.payments.errors import AmountMismatch, UnknownPayment
from crossbay.payments.models import Payment, ProviderEvent
from crossbay.payments.service import PaymentNotice
from crossbay.settings import Settings
from crossbay.usage.service import bundle_expiry
from tests.conftest import test_settings as settings_for
from tests.unit.factories import OTHER_HKID, make_customer, make_esim, make_package, make_verified_identity

STATES = list(states.TRANSITIONS)
ALLOWED = [(current, new) for current in STATES for new in sorted(states.TRANSITIONS[current])]
PRICE = Money(8800, "HKD")
FORBIDDEN = [(current, new) for current in STATES for new in STATES if new not in states.TRANSITIONS[current]]


class TestStateMachine:
    @pytest.mark.parametrize(("current", "new"), ALLOWED)
    def test_every_allowed_transition_passes_and_is_on_the_timeline(
        self, current: str, new: str, clock: FrozenClock
    ) -> None:
        order = Order(status=current)
        orders.transition(order, new, now=clock.now())
        assert order.status == new
        assert [(e.status, e.at) for e in order.events] == [(new, clock.now())]

    @pytest.mark.parametrize(("current", "new"), FORBIDDEN)
    def test_every_other_transition_raises(self, current: str, new: str, clock: FrozenClock) -> None:
        order = Order(status=current)
        with pytest.raises(IllegalTransition):
            orders.transition(order, new, now=clock.now())
        assert (order.status, order.events) == (current, [])

    def test_every_state_is_reachable_from_pending_payment(self) -> None:
        reached, frontier = {states.PENDING_PAYMENT}, [states.PENDING_PAYMENT]
        while frontier:
            for new in states.TRANSITIONS[frontier.pop()] - reached:
                reached.add(new)
                frontier.append(new)
        assert reached == set(STATES)

    def test_open_states_are_exactly_those_that_can_still_deliver(self) -> None:
        can_deliver = {s for s in STATES if s == states.FULFILLED or self._leads_to(s, states.FULFILLED)}
        assert can_deliver - {states.FULFILLED} == states.OPEN

    def _leads_to(self, start: str, goal: str) -> bool:
        seen, frontier = {start}, [start]
        while frontier:
            for new in states.TRANSITIONS[frontier.pop()]:
                if new == goal:
                    return True
                if new not in seen:
                    seen.add(new)
                    frontier.append(new)
        return False


# --- helpers -------------------------------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


# Ids, not ORM objects: a refused use case rolls back and expires every object the session holds.
@pytest.fixture
def package_id(session: Session, clock: FrozenClock) -> str:
    return make_package(session, price=PRICE.amount, now=clock.now()).id


@pytest.fixture
def customer_id(session: Session, clock: FrozenClock) -> str:
    customer = make_customer(session, now=clock.now())
    make_verified_identity(session, customer.id, now=clock.now())
    return customer.id


def place(
    session: Session,
    clock: FrozenClock,
    settings: Settings,
    customer_id: str,
    package_id: str,
    *,
    esim_id: str | None = None,
    method: str = "card",
) -> Order:
    with transaction(session):
        return orders.place_order(
            session,
            customer_id=customer_id,
            package_id=package_id,
            esim_id=esim_id,
            payment_method=method,
            settings=settings,
            now=clock.now(),
        )


def payment_of(session: Session, order: Order) -> Payment:
    with transaction(session):
        payment = payments.latest_payments(session, [order.id])[order.id]
        session.refresh(payment)
        return payment


def open_cashier(session: Session, clock: FrozenClock, order: Order) -> Payment:
    """What checkout does once the provider accepted the payment: it now has the provider's reference."""
    payment = payment_of(session, order)
    with transaction(session):
        return payments.attach_provider_session(
            session,
            payment_id=payment.id,
            reference=f"pi_{order.id}",
            redirect_url="https://pay.example.test",
            now=clock.now(),
        )


def notice(
    order_id: str,
    *,
    event_id: str = "evt_1",
    amount: Money = PRICE,
    outcome: str = "succeeded",
    reference: str | None = None,
) -> PaymentNotice:
    return PaymentNotice(
        provider="card",
        event_id=event_id,
        kind=f"payment_intent.{outcome}",
        reference=reference or f"pi_{order_id}",
        amount=amount,
        outcome=outcome,
    )


def apply(session: Session, clock: FrozenClock, settings: Settings, n: PaymentNotice) -> Payment:
    with transaction(session):
        return orders.apply_payment_notice(session, n, settings=settings, now=clock.now())


def reload(session: Session, order: Order) -> Order:
    with transaction(session):
        session.refresh(order)
        return order


def jobs_of_kind(session: Session, kind: str) -> list[Job]:
    with transaction(session):
        return list(session.scalars(select(Job).where(Job.kind == kind)))


def count(session: Session, model: type) -> int:
    with transaction(session):
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def move(session: Session, clock: FrozenClock, order: Order, *path: str) -> None:
    """Walk an order through the state machine, as payments and fulfilment would."""
    with transaction(session):
        for status in path:
            orders.transition(order, status, now=clock.now())


# --- placing an order ----------------------------------------------------------------------------------


class TestPlaceOrder:
    def test_a_new_esim_order_waits_for_payment_and_expires_in_thirty_minutes(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
    ) -> None:
        order = place(session, clock, settings, customer_id, package_id)
        assert (order.status, order.kind, order.esim_id, order.payment_method) == (
            states.PENDING_PAYMENT,
            orders.NEW_ESIM,
            None,
            "card",
        )
        assert (order.subtotal, order.discount, order.total, order.currency) == (8800, 0, 8800, "HKD")
        assert [(line.kind, line.amount) for line in order.lines] == [("package", 8800)]
        assert [e.status for e in order.events] == [states.PENDING_PAYMENT]
        assert order.expires_at == clock.now() + timedelta(minutes=30)
        payment = payment_of(session, order)
        assert (payment.provider, payment.status, payment.amount, payment.reference) == (
            "card",
            payments.CREATED,
            8800,
            None,
        )
        [expiry] = jobs_of_kind(session, orders.EXPIRE_JOB)
        assert (expiry.payload, expiry.run_at) == ({"order_id": order.id}, order.expires_at)

    @pytest.mark.parametrize("method", ["bitcoin", "cash", ""])
    def test_refuses_payment_methods_this_build_cannot_take(
        self,
        session: Session,
        clock: FrozenClock,
        settings: Settings,
        customer_id: str,
        package_id: str,
        method: str,
    ) -> None:
        with pytest.raises(PaymentMethodUnavailable):
            place(session, clock, settings, customer_id, package_id, method=method)
        assert count(session, Order) == 0

    def test_refuses_a_new_esim_without_a_verified_identity(
        self, session: Session, clock: FrozenClock, settings: Settings, package_id: str
    ) -> None:
        anonymous = make_customer(session, now=clock.now())
        with pytest.raises(IdentityRequired):
            place(session, clock, settings, anonymous.id, package_id)
        assert count(session, Order) == 0

    def test_refuses_a_top_up_only_package_for_a_new_esim(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str
    ) -> None:
        top_up_only = make_package(session, for_new_esim=False, now=clock.now())
        with pytest.raises(PackageNotAvailable):
            place(session, clock, settings, customer_id, top_up_only.id)

    def test_refuses_an_unknown_package(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str
    ) -> None:
        with pytest.raises(PackageNotFound):
            place(session, clock, settings, customer_id, "pkg_missing")

    def test_tops_up_the_customers_own_esim_without_an_identity_check(
        self, session: Session, clock: FrozenClock, settings: Settings, package_id: str
    ) -> None:
        owner = make_customer(session, now=clock.now())
        esim = make_esim(session, customer_id=owner.id, now=clock.now())
        order = place(session, clock, settings, owner.id, package_id, esim_id=esim.id)
        assert (order.kind, order.esim_id) == (orders.TOPUP, esim.id)

    def test_refuses_a_new_esim_only_package_as_a_top_up(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str
    ) -> None:
        starter = make_package(session, for_topup=False, now=clock.now())
        esim = make_esim(session, customer_id=customer_id, now=clock.now())
        with pytest.raises(PackageNotAvailable):
            place(session, clock, settings, customer_id, starter.id, esim_id=esim.id)

    def test_refuses_to_top_up_another_customers_esim_as_not_found(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
    ) -> None:
        stranger = make_customer(session, now=clock.now())
        theirs = make_esim(session, customer_id=stranger.id, now=clock.now())
        with pytest.raises(NotFound):
            place(session, clock, settings, customer_id, package_id, esim_id=theirs.id)
        with pytest.raises(NotFound):
            place(session, clock, settings, customer_id, package_id, esim_id="esim_missing")
        assert count(session, Order) == 0

    def test_refuses_to_top_up_a_terminated_esim(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
    ) -> None:
        esim = make_esim(session, customer_id=customer_id, now=clock.now())
        with transaction(session):
            session.execute(update(Esim).where(Esim.id == esim.id).values(status=esims.TERMINATED))
        with pytest.raises(esims.EsimNotActive):
            place(session, clock, settings, customer_id, package_id, esim_id=esim.id)


class TestIdentityQuota:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return settings_for(database_url, identity_esim_quota=2)

    @pytest.fixture
    def second_account(self, session: Session, clock: FrozenClock) -> str:
        """Another account of the same person: registered with the same document."""
        other = make_customer(session, now=clock.now())
        make_verified_identity(session, other.id, number="A123456(3)", now=clock.now())
        return other.id

    def test_the_eleventh_new_esim_for_one_document_across_two_accounts_is_refused(
        self,
        session: Session,
        clock: FrozenClock,
        database_url: str,
        customer_id: str,
        second_account: str,
        package_id: str,
    ) -> None:
        default = settings_for(database_url)
        assert default.identity_esim_quota == 10
        for i in range(10):
            place(session, clock, default, (customer_id, second_account)[i % 2], package_id)
        for account in (customer_id, second_account):
            with pytest.raises(IdentityQuotaExceeded):
                place(session, clock, default, account, package_id)
        assert count(session, Order) == 10

    def test_counts_open_orders_of_every_account_holding_the_document(
        self,
        session: Session,
        clock: FrozenClock,
        settings: Settings,
        customer_id: str,
        second_account: str,
        package_id: str,
    ) -> None:
        place(session, clock, settings, customer_id, package_id)
        place(session, clock, settings, second_account, package_id)
        with pytest.raises(IdentityQuotaExceeded):
            place(session, clock, settings, customer_id, package_id)

    def test_counts_live_esims_of_every_account_holding_the_document(
        self,
        session: Session,
        clock: FrozenClock,
        settings: Settings,
        customer_id: str,
        second_account: str,
        package_id: str,
    ) -> None:
        make_esim(session, customer_id=customer_id, now=clock.now())
        make_esim(session, customer_id=second_account, now=clock.now())
        with pytest.raises(IdentityQuotaExceeded):
            place(session, clock, settings, customer_id, package_id)

    def test_another_document_has_its_own_quota(
        self,
        session: Session,
        clock: FrozenClock,
        settings: Settings,
        customer_id: str,
        second_account: str,
        package_id: str,
    ) -> None:
        place(session, clock, settings, customer_id, package_id)
        place(session, clock, settings, second_account, package_id)
        stranger = make_customer(session, now=clock.now())
        make_verified_identity(session, stranger.id, number=OTHER_HKID, now=clock.now())
        place(session, clock, settings, stranger.id, package_id)

    def test_top_ups_do_not_count(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
    ) -> None:
        esim = make_esim(session, customer_id=customer_id, now=clock.now())
        for _ in range(3):
            place(session, clock, settings, customer_id, package_id, esim_id=esim.id)
        place(session, clock, settings, customer_id, package_id)

    def test_cancelled_orders_and_terminated_esims_free_their_place(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
    ) -> None:
        cancelled = place(session, clock, settings, customer_id, package_id)
        with transaction(session):
            orders.cancel_order(session, customer_id=customer_id, order_id=cancelled.id, now=clock.now())
        gone = make_esim(session, customer_id=customer_id, now=clock.now())
        with transaction(session):
            session.execute(update(Esim).where(Esim.id == gone.id).values(status=esims.TERMINATED))
        place(session, clock, settings, customer_id, package_id)
        place(session, clock, settings, customer_id, package_id)

    def test_a_fulfilled_order_counts_once_through_its_esim(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
    ) -> None:
        order = place(session, clock, settings, customer_id, package_id)
        move(session, clock, order, states.PAID, states.FULFILLING)
        make_esim(session, customer_id=customer_id, order_id=order.id, now=clock.now())
        move(session, clock, order, states.FULFILLED)
        place(session, clock, settings, customer_id, package_id)

    def test_an_order_being_fulfilled_counts_once(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
    ) -> None:
        order = place(session, clock, settings, customer_id, package_id)
        move(session, clock, order, states.PAID, states.FULFILLING)
        make_esim(session, customer_id=customer_id, order_id=order.id, released=False, now=clock.now())
        place(session, clock, settings, customer_id, package_id)

    def test_an_esim_of_a_failed_order_frees_its_place(
        self, session: Session, clock: FrozenClock, database_url: str, customer_id: str, package_id: str
    ) -> None:
        settings = settings_for(database_url, identity_esim_quota=1)
        order = place(session, clock, settings, customer_id, package_id)
        move(session, clock, order, states.PAID, states.FULFILLING)
        make_esim(session, customer_id=customer_id, order_id=order.id, released=False, now=clock.now())
        with transaction(session):
            orders.fail_order(session, order_id=order.id, settings=settings, now=clock.now())
        assert reload(session, order).status == states.FAILED
        place(session, clock, settings, customer_id, package_id)


# --- payment notices -----------------------------------------------------------------------------------


@pytest.fixture
def order(
    session: Session, clock: FrozenClock, settings: Settings, customer_id: str, package_id: str
) -> Order:
    order = place(session, clock, settings, customer_id, package_id)
    open_cashier(session, clock, order)
    return order


class TestApplyPaymentNotice:
    def test_a_success_pays_the_order_books_the_money_and_queues_fulfilment(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order
    ) -> None:
        payment = apply(session, clock, settings, notice(order.id))
        assert payment.status == payments.SUCCEEDED
        assert reload(session, order).status == states.PAID
        assert [e.status for e in order.events] == [states.PENDING_PAYMENT, states.PAID]
        [fulfil] = jobs_of_kind(session, orders.FULFIL_JOB)
        assert (fulfil.payload, fulfil.dedupe_key) == ({"order_id": order.id}, f"fulfil:{order.id}")
        with transaction(session):
            assert ledger.account_balance(session, "clearing:card", "HKD") == Money(8800, "HKD")
            assert ledger.account_balance(session, "unearned:orders", "HKD") == Money(-8800, "HKD")

    def test_a_repeated_notice_changes_nothing(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order
    ) -> None:
        apply(session, clock, settings, notice(order.id))
        clock.advance(timedelta(seconds=5))
        apply(session, clock, settings, notice(order.id))
        assert [e.status for e in reload(session, order).events] == [states.PENDING_PAYMENT, states.PAID]
        assert count(session, ProviderEvent) == 1
        assert len(jobs_of_kind(session, orders.FULFIL_JOB)) == 1
        payment = payment_of(session, order)
        with transaction(session):
            assert [tx.kind for tx in ledger.postings_for(session, payment.id)] == ["payment.captured"]
            assert ledger.account_balance(session, "clearing:card", "HKD") == Money(8800, "HKD")

    def test_a_second_success_under_another_event_id_takes_no_more_money(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order
    ) -> None:
        apply(session, clock, settings, notice(order.id, event_id="evt_1"))
        apply(session, clock, settings, notice(order.id, event_id="evt_2"))
        assert reload(session, order).status == states.PAID
        assert len(jobs_of_kind(session, orders.FULFIL_JOB)) == 1
        with transaction(session):
            assert ledger.account_balance(session, "clearing:card", "HKD") == Money(8800, "HKD")

    @pytest.mark.parametrize("amount", [Money(8700, "HKD"), Money(8801, "HKD"), Money(8800, "CNY")])
    def test_refuses_a_wrong_amount_and_records_nothing(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order, amount: Money
    ) -> None:
        with pytest.raises(AmountMismatch):
            apply(session, clock, settings, notice(order.id, amount=amount))
        assert reload(session, order).status == states.PENDING_PAYMENT
        assert payment_of(session, order).status == payments.PENDING
        assert count(session, ProviderEvent) == 0
        assert jobs_of_kind(session, orders.FULFIL_JOB) == []
        with transaction(session):
            assert ledger.trial_balance(session) == {}

    def test_refuses_an_unknown_reference_and_records_nothing(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order
    ) -> None:
        order_id = order.id
        with pytest.raises(UnknownPayment):
            apply(session, clock, settings, notice(order_id, reference="pi_unknown"))
        with pytest.raises(UnknownPayment):
            apply(
                session,
                clock,
                settings,
                PaymentNotice(
                    provider="alipay",
                    event_id="evt_1",
                    kind="trade.success",
                    reference=f"pi_{order_id}",
                    amount=Money(8800, "HKD"),
                    outcome="succeeded",
                ),
            )
        assert count(session, ProviderEvent) == 0
        assert reload(session, order).status == states.PENDING_PAYMENT

    def test_a_refused_notice_does_not_use_up_its_event_id(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order
    ) -> None:
        order_id = order.id
        with pytest.raises(AmountMismatch):
            apply(session, clock, settings, notice(order_id, event_id="evt_1", amount=Money(1, "HKD")))
        apply(session, clock, settings, notice(order_id, event_id="evt_1"))
        assert reload(session, order).status == states.PAID

    @pytest.mark.parametrize("end", [states.CANCELLED, states.EXPIRED])
    def test_money_for_an_order_that_can_no_longer_be_paid_is_refunded_not_fulfilled(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order, end: str
    ) -> None:
        move(session, clock, order, end)
        payment = apply(session, clock, settings, notice(order.id))
        assert reload(session, order).status == end
        assert jobs_of_kind(session, orders.FULFIL_JOB) == []
        [refund] = jobs_of_kind(session, orders.REFUND_JOB)
        assert refund.payload == {"payment_id": payment.id, "reason": "order failed"}
        with transaction(session):
            assert ledger.account_balance(session, "clearing:card", "HKD") == Money(8800, "HKD")

    def test_a_failed_payment_leaves_the_order_payable(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order
    ) -> None:
        failed = apply(session, clock, settings, notice(order.id, event_id="evt_1", outcome="failed"))
        assert failed.status == payments.FAILED
        assert reload(session, order).status == states.PENDING_PAYMENT
        apply(session, clock, settings, notice(order.id, event_id="evt_2"))
        assert reload(session, order).status == states.PAID


# --- cancelling and expiring ---------------------------------------------------------------------------


class TestCancelOrder:
    def test_cancels_an_unpaid_order(
        self, session: Session, clock: FrozenClock, customer_id: str, order: Order
    ) -> None:
        with transaction(session):
            orders.cancel_order(session, customer_id=customer_id, order_id=order.id, now=clock.now())
        assert reload(session, order).status == states.CANCELLED

    def test_refuses_a_paid_order(
        self, session: Session, clock: FrozenClock, settings: Settings, customer_id: str, order: Order
    ) -> None:
        apply(session, clock, settings, notice(order.id))
        with pytest.raises(OrderNotCancellable), transaction(session):
            orders.cancel_order(session, customer_id=customer_id, order_id=order.id, now=clock.now())

    def test_another_customers_order_is_not_found(
        self, session: Session, clock: FrozenClock, order: Order
    ) -> None:
        stranger = make_customer(session, now=clock.now())
        with pytest.raises(OrderNotFound), transaction(session):
            orders.cancel_order(session, customer_id=stranger.id, order_id=order.id, now=clock.now())
        assert reload(session, order).status == states.PENDING_PAYMENT


def expire(session: Session, clock: FrozenClock, order: Order) -> str:
    with transaction(session):
        return orders.expire_order(session, order_id=order.id, now=clock.now()).status


class TestExpireOrder:
    def test_leaves_an_unpaid_order_alone_before_its_time(
        self, session: Session, clock: FrozenClock, order: Order
    ) -> None:
        clock.set(order.expires_at - timedelta(seconds=1))
        assert expire(session, clock, order) == states.PENDING_PAYMENT

    def test_expires_an_unpaid_order_at_its_time(
        self, session: Session, clock: FrozenClock, order: Order
    ) -> None:
        clock.set(order.expires_at)
        assert expire(session, clock, order) == states.EXPIRED
        assert [e.status for e in reload(session, order).events] == [states.PENDING_PAYMENT, states.EXPIRED]

    def test_leaves_a_paid_order_alone(
        self, session: Session, clock: FrozenClock, settings: Settings, order: Order
    ) -> None:
        apply(session, clock, settings, notice(order.id))
        clock.set(order.expires_at + timedelta(hours=1))
        assert expire(session, clock, order) == states.PAID

    def test_leaves_a_cancelled_order_alone(self, session: Session, clock: FrozenClock, order: Order) -> None:
        move(session, clock, order, states.CANCELLED)
        clock.set(order.expires_at + timedelta(hours=1))
        assert expire(session, clock, order) == states.CANCELLED

    def test_an_unknown_order_is_not_found(self, session: Session, clock: FrozenClock) -> None:
        with pytest.raises(OrderNotFound), transaction(session):
            orders.expire_order(session, order_id=new_id("ord"), now=clock.now())


# --- bundle validity -----------------------------------------------------------------------------------

INSTANTS = st.datetimes(
    min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


class TestBundleExpiry:
    @pytest.mark.parametrize(
        ("starts_at", "days", "expected"),
        [
            # Noon in Hong Kong: a one-day bundle ends at 23:59:59 the same Hong Kong day.
            (datetime(2026, 11, 26, 4, 0, tzinfo=UTC), 1, datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)),
            # 01:00 on 27 November in Hong Kong, though still 26 November in UTC.
            (datetime(2026, 11, 26, 17, 0, tzinfo=UTC), 1, datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC)),
            (datetime(2026, 11, 26, 4, 0, tzinfo=UTC), 30, datetime(2026, 12, 25, 15, 59, 59, tzinfo=UTC)),
            (datetime(2028, 2, 28, 4, 0, tzinfo=UTC), 2, datetime(2028, 2, 29, 15, 59, 59, tzinfo=UTC)),
        ],
    )
    def test_ends_at_23_59_59_hong_kong_time_on_the_last_day(
        self, starts_at: datetime, days: int, expected: datetime
    ) -> None:
        assert bundle_expiry(starts_at, days) == expected

    @given(INSTANTS, st.integers(min_value=1, max_value=3650))
    def test_is_always_15_59_59_utc_on_the_right_hong_kong_day(self, starts_at: datetime, days: int) -> None:
        expires_at = bundle_expiry(starts_at, days)
        assert expires_at.astimezone(UTC).time() == time(15, 59, 59)
        assert (hk_date(expires_at) - hk_date(starts_at)).days == days - 1

    @given(INSTANTS.map(lambda at: at.replace(microsecond=0)), st.integers(min_value=1, max_value=3650))
    @example(datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC), 1)
    def test_is_never_earlier_than_the_start(self, starts_at: datetime, days: int) -> None:
        # Whole seconds here: the last second of a Hong Kong day is the one exception (see below).
        assert bundle_expiry(starts_at, days) >= starts_at

    def test_a_one_day_bundle_started_in_the_last_second_of_the_day_does_not_end_before_it_starts(
        self,
    ) -> None:
        starts_at = datetime(2026, 11, 26, 15, 59, 59, 500000, tzinfo=UTC)  # 23:59:59.5 in Hong Kong
        assert bundle_expiry(starts_at, 1) >= starts_at
