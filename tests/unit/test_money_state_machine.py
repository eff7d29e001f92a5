"""Money that cannot be lost, under any interleaving (issue 4, "Done when": the hypothesis stateful test).

A ``RuleBasedStateMachine`` drives the real services on the real database
(SQLite and PostgreSQL): wallet top-ups and their provider notices, orders paid
by card or from the wallet with the payment PIN, duplicated and late (reordered)
notices, cancellations, expiries, fulfilment, give-ups, staff refunds and the
refund worker. After every step the invariants at the bottom must hold. A small
model predicts every refusal, every status and every ledger posting, and is
compared with the database after every step too.

Every example shares the ``session`` fixture's outer transaction, so each one
makes its own customers and its invariants look only at what they own.

Orders are new-eSIM orders; top-up orders and late top-up payments have their
own regression tests at the end (each found by this machine, then fixed).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.catalog.models import Package
from crossbay.clock import FrozenClock
from crossbay.db import new_id, transaction
from crossbay.errors import CrossbayError
from crossbay.esim import service as esims
from crossbay.esim.models import Esim
from crossbay.identity import pins
from crossbay.identity import service as identity_service
from crossbay.identity.models import Customer
from crossbay.jobs.models import Job
from crossbay.kyc.documents import hkid_check_digit
from crossbay.kyc.errors import IdentityQuotaExceeded
from crossbay.ledger import service as ledger
from crossbay.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.errors import OrderNotCancellable, OrderNotPayable
from crossbay.orders.models import Order, OrderEvent
from crossbay.payments import service as payments
from crossbay.payments import wallet
from crossbay.payments.errors import AmountMismatch
from crossbay.payments.models import Payment, WalletTopup
from crossbay.payments.service import PaymentNotice
from crossbay.settings import Settings
from crossbay.usage import service as usage
from tests.conftest import test_settings as settings_for
from tests.unit.factories import make_customer, make_esim, make_packages, make_verified_identity

HKD = "HKD"
START = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # every example starts here: mid-month, midday in HK
PIN, WRONG_PIN = "739204", "739205"
BIRTH_DATE = date(1990, 1, 1)
PRICES = (8_800, 12_800)
OPENING_TOPUP = 30_000
CUSTOMERS = 2
# Argon2id at its defaults costs ~0.1 s a hash; the PIN rules do not depend on the cost, the run time does.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

CLEARING, UNEARNED, REVENUE = "clearing:card", "unearned:orders", "revenue:sales"
UNEARNED_TOPUPS = "unearned:topups"
SHARED_ACCOUNTS = (CLEARING, UNEARNED, REVENUE, UNEARNED_TOPUPS)
CAPTURED, REFUNDED = "payment.captured", "payment.refunded"
RECOGNIZED, REVENUE_REVERSED = "order.fulfilled", "order.refund_revenue"
NOTICE_KINDS = {
    "succeeded": "payment_intent.succeeded",
    "failed": "payment_intent.payment_failed",
    "canceled": "payment_intent.canceled",
}
FIRST_NEWS = (payments.CREATED, payments.PENDING, payments.FAILED, payments.CANCELED)
CAPTURED_STATUSES = (payments.SUCCEEDED, payments.REFUNDED)

WHO = st.integers(0, CUSTOMERS - 1)
PACKAGE = st.integers(0, len(PRICES) - 1)
# Valid amounts first: hypothesis leans towards the start of a list.
TOPUP_AMOUNTS = st.sampled_from([10_000, 30_000, 100_000, 5_000, 4_999, 100_001])
OUTCOMES = st.sampled_from(["succeeded", "succeeded", "failed", "canceled"])
LATE_OUTCOMES = st.sampled_from(["failed", "canceled", "succeeded"])
TAMPERED = st.sampled_from([False] * 7 + [True])
# Mostly act on something the step means something for; sometimes on anything, to see refusals hold.
MEANINGFUL = st.sampled_from([True, True, True, False])

RUN = settings(
    max_examples=25,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_hkid_serial = itertools.count(1)
_iccid_serial = itertools.count(1)


def unique_hkid() -> str:
    """A valid HKID nobody else in this run holds: each customer has an identity quota of their own."""
    body = f"Z{next(_hkid_serial):06d}"
    return body + hkid_check_digit(body)


def provider_reference(payment_id: str) -> str:
    """What the card provider knows a payment by once checkout has opened its cashier."""
    return f"pi_{payment_id}"


# --- the model ---------------------------------------------------------------------------------------


@dataclass
class CustomerModel:
    id: str
    wallet: int = 0
    pin_failures: int = 0
    pin_locked_until: datetime | None = None


@dataclass
class PaymentModel:
    id: str
    customer: str
    amount: int
    provider: str
    order_id: str | None = None
    topup_id: str | None = None
    status: str = payments.CREATED
    refund_job: bool = False


@dataclass
class OrderModel:
    id: str
    customer: str
    payment_id: str
    method: str
    total: int
    expires_at: datetime
    status: str = states.PENDING_PAYMENT
    has_esim: bool = False
    esim_live: bool = False


@dataclass
class TopupModel:
    id: str
    customer: str
    payment_id: str
    amount: int
    expires_at: datetime
    status: str = wallet.PENDING_PAYMENT


@dataclass(frozen=True)
class World:
    """What the fixtures give the machine: one per test, shared by all its examples."""

    session: Session
    clock: FrozenClock
    settings: Settings
    package_ids: list[str]


@dataclass(frozen=True)
class Snapshot:
    """What the database holds for this example, read in one transaction after a step."""

    order_status: dict[str, str]
    timelines: dict[str, list[str]]
    payment_status: dict[str, str]
    payment_order: dict[str, str | None]
    topup_status: dict[str, str]
    refund_jobs: set[str]
    unbalanced: list[tuple[str, str, int]]  # (transaction, currency, sum) of postings that do not net to zero
    postings: dict[tuple[str, str], dict[str, int]]  # (kind, reference) -> account -> amount
    wallet_balances: dict[str, int]  # customer -> ledger.wallet_balance
    account_balances: dict[str, int]  # code -> ledger.account_balance (shared ones: since the example began)
    account_sums: dict[str, int]  # code -> its entries (shared ones: this example's), added up here


# --- the machine ---------------------------------------------------------------------------------------


class MoneyMachine(RuleBasedStateMachine):
    notices = Bundle("notices")  # notices delivered once, to be delivered again

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.session = world.session
        self.clock = world.clock
        self.settings = world.settings
        self.clock.set(START)
        self.customers = [self._new_customer() for _ in range(CUSTOMERS)]
        self.by_id = {c.id: c for c in self.customers}
        # Insertion-ordered, never sorted: ids are random, and a replayed example must pick the same rows.
        self.payments: dict[str, PaymentModel] = {}
        self.orders: dict[str, OrderModel] = {}
        self.topups: dict[str, TopupModel] = {}
        self.applied_events: set[str] = set()
        self.postings: dict[tuple[str, str], dict[str, int]] = {}
        self.seen_timelines: dict[str, list[str]] = {}  # order -> statuses it went through, as last seen
        self._snapshot: Snapshot | None = None
        with transaction(self.session):
            # Shared by every example: only their movement during this one is checked.
            self.opening = {
                code: ledger.account_balance(self.session, code, HKD).amount for code in SHARED_ACCOUNTS
            }
        for who in range(CUSTOMERS):
            self.topup(who, OPENING_TOPUP, paid=True)  # so that wallet payments have something to spend

    def teardown(self) -> None:
        # The rows stay until the test's outer rollback; the identity map need not carry them along.
        self.session.expunge_all()

    # --- helpers -------------------------------------------------------------------------------------

    def _new_customer(self) -> CustomerModel:
        now = self.clock.now()
        customer = make_customer(self.session, now=now)
        make_verified_identity(
            self.session, customer.id, number=unique_hkid(), date_of_birth=BIRTH_DATE, now=now
        )
        with transaction(self.session):
            row = self.session.get(Customer, customer.id)
            assert row is not None
            pins.set_payment_pin(row, pin=PIN, birth_dates=[BIRTH_DATE])
        return CustomerModel(customer.id)

    def _pick(self, data: st.DataObject, pool: Iterable[str], wanted: Callable[[str], bool]) -> str:
        everything = list(pool)
        meaningful = [key for key in everything if wanted(key)]
        if meaningful and data.draw(MEANINGFUL, label="meaningful"):
            return data.draw(st.sampled_from(meaningful), label="id")
        return data.draw(st.sampled_from(everything), label="id")

    def _outcome(self, action: Callable[[], Any], expected: type[CrossbayError] | None) -> bool:
        """Run one use case in its transaction: True if it went through, False if refused as predicted.

        A refusal is a normal outcome, but only a domain error and only the one the model predicts:
        IllegalTransition (a bug) and anything else unexpected propagate and fail the test.
        """
        self._snapshot = None
        try:
            with transaction(self.session):
                action()
        except CrossbayError as error:
            assert expected is not None and isinstance(error, expected), (
                f"refused with {type(error).__name__}, the model expected {expected and expected.__name__}"
            )
            return False
        assert expected is None, f"went through, the model expected {expected.__name__}"
        return True

    def _orders_in(self, *statuses: str, method: str | None = None) -> list[str]:
        return [o.id for o in self.orders.values() if o.status in statuses and method in (None, o.method)]

    def _post(self, kind: str, reference: str, lines: dict[str, int]) -> None:
        assert sum(lines.values()) == 0
        self.postings.setdefault((kind, reference), lines)

    def _quota_used(self, customer: str) -> int:
        """What kyc counts against the identity: open orders still without an eSIM, plus live eSIMs."""
        return sum(
            (o.status in states.OPEN and not o.has_esim) or o.esim_live
            for o in self.orders.values()
            if o.customer == customer
        )

    def _capture(self, payment: PaymentModel) -> None:
        """A first success: the money leaves its source and is owed to the order or lands in the wallet."""
        payment.status = payments.SUCCEEDED
        source = f"wallet:{payment.customer}" if payment.provider == wallet.WALLET else CLEARING
        # Money for a top-up that had expired is held apart (never spendable) until it is refunded.
        late_topup = payment.topup_id is not None and self.topups[payment.topup_id].status == wallet.EXPIRED
        owed = (
            UNEARNED_TOPUPS if late_topup else f"wallet:{payment.customer}" if payment.topup_id else UNEARNED
        )
        self._post(CAPTURED, payment.id, {source: payment.amount, owed: -payment.amount})
        if payment.topup_id is not None and not late_topup:
            self.by_id[payment.customer].wallet += payment.amount
        if payment.provider == wallet.WALLET:
            self.by_id[payment.customer].wallet -= payment.amount

    # --- wallet top-ups -------------------------------------------------------------------------------

    @rule(who=WHO, amount=TOPUP_AMOUNTS, paid=st.booleans())
    def topup(self, who: int, amount: int, paid: bool) -> None:
        """A top-up, left at the cashier or paid at once (the common path: later steps need money)."""
        payment_id = self._start_topup(who, amount)
        if payment_id is not None and paid:
            self._notify(payment_id, "succeeded", tampered=False)

    def _start_topup(self, who: int, amount: int) -> str | None:
        customer = self.customers[who]
        this_month = sum(
            t.amount
            for t in self.topups.values()
            if t.customer == customer.id and t.status in (wallet.PENDING_PAYMENT, wallet.COMPLETED)
        )
        expected: type[CrossbayError] | None = None
        if not self.settings.wallet_topup_min <= amount <= self.settings.wallet_topup_max:
            expected = wallet.AmountOutOfRange
        elif this_month + amount > self.settings.wallet_topup_monthly_max:
            expected = wallet.MonthlyLimitExceeded
        started: list[tuple[str, str]] = []

        def start() -> None:
            topup, payment = wallet.start_topup(
                self.session,
                customer_id=customer.id,
                amount=Money(amount, HKD),
                method="card",
                settings=self.settings,
                now=self.clock.now(),
            )
            started.append((topup.id, payment.id))

        if not self._outcome(start, expected):
            return None
        topup_id, payment_id = started[0]
        self.payments[payment_id] = PaymentModel(payment_id, customer.id, amount, "card", topup_id=topup_id)
        self.topups[topup_id] = TopupModel(
            topup_id,
            customer.id,
            payment_id,
            amount,
            expires_at=self.clock.now() + timedelta(seconds=self.settings.order_ttl_seconds),
        )
        self._open_cashier(payment_id)
        return payment_id

    def _open_cashier(self, payment_id: str) -> None:
        """What checkout records once the provider has opened its cashier (the network call is elsewhere)."""
        self._outcome(
            lambda: payments.attach_provider_session(
                self.session,
                payment_id=payment_id,
                reference=provider_reference(payment_id),
                redirect_url="https://cashier.example.test",
                now=self.clock.now(),
            ),
            None,
        )
        self.payments[payment_id].status = payments.PENDING

    @precondition(lambda self: self.topups)
    @rule(data=st.data())
    def expire_topup(self, data: st.DataObject) -> None:
        """The top-up expiry job, which may run early (a retry) or late (after payment)."""
        topup = self.topups[
            self._pick(data, self.topups, lambda t: self.topups[t].status == wallet.PENDING_PAYMENT)
        ]
        self._outcome(
            lambda: wallet.expire_topup(self.session, topup_id=topup.id, now=self.clock.now()), None
        )
        if topup.status == wallet.PENDING_PAYMENT and topup.expires_at <= self.clock.now():
            topup.status = wallet.EXPIRED

    # --- placing and paying orders --------------------------------------------------------------------

    @rule(who=WHO, package=PACKAGE, method=st.sampled_from(["card", wallet.WALLET]), paid=st.booleans())
    def place_order(self, who: int, package: int, method: str, paid: bool) -> None:
        """An order, left unpaid or paid at once (at the provider's cashier, or from the wallet)."""
        order_id = self._place(who, package, method)
        if order_id is None or not paid:
            return
        if method == wallet.WALLET:
            self._pay_with_wallet(order_id, pin=PIN)
        else:
            self._notify(self.orders[order_id].payment_id, "succeeded", tampered=False)

    def _place(self, who: int, package: int, method: str) -> str | None:
        customer = self.customers[who]
        quota_left = self._quota_used(customer.id) < self.settings.identity_esim_quota
        placed: list[str] = []

        def place() -> None:
            order = orders.place_order(
                self.session,
                customer_id=customer.id,
                package_id=self.world.package_ids[package],
                esim_id=None,
                payment_method=method,
                settings=self.settings,
                now=self.clock.now(),
            )
            placed.append(order.id)
            placed.append(payments.latest_payments(self.session, [order.id])[order.id].id)

        if not self._outcome(place, None if quota_left else IdentityQuotaExceeded):
            return None
        order_id, payment_id = placed
        total = PRICES[package]
        self.payments[payment_id] = PaymentModel(payment_id, customer.id, total, method, order_id=order_id)
        self.orders[order_id] = OrderModel(
            order_id,
            customer.id,
            payment_id,
            method,
            total,
            expires_at=self.clock.now() + timedelta(seconds=self.settings.order_ttl_seconds),
        )
        if method == "card":
            self._open_cashier(payment_id)
        return order_id

    def _wallet_orders(self) -> list[str]:
        return [o.id for o in self.orders.values() if o.method == wallet.WALLET]

    @precondition(lambda self: self._wallet_orders())
    @rule(data=st.data())
    def pay_with_wallet(self, data: st.DataObject) -> None:
        order = self._pick(
            data, self._wallet_orders(), lambda o: self.orders[o].status == states.PENDING_PAYMENT
        )
        self._pay_with_wallet(order, pin=PIN)

    @precondition(lambda self: self._wallet_orders())
    @rule(data=st.data(), tries=st.integers(1, pins.PIN_MAX_FAILURES))
    def wrong_pins(self, data: st.DataObject, tries: int) -> None:
        """Someone guesses: five wrong PINs lock wallet payments for 30 minutes."""
        order = self._pick(
            data, self._wallet_orders(), lambda o: self.orders[o].status == states.PENDING_PAYMENT
        )
        for _ in range(tries):
            if self._pay_with_wallet(order, pin=WRONG_PIN) is not pins.InvalidPin:
                break  # the order is not payable, or the PIN is locked now

    def _pay_with_wallet(self, order_id: str, *, pin: str) -> type[CrossbayError] | None:
        """Pay an order from the wallet; returns the refusal the model predicted, if any."""
        order = self.orders[order_id]
        customer = self.by_id[order.customer]
        now = self.clock.now()
        expected: type[CrossbayError] | None = None
        if order.status != states.PENDING_PAYMENT:
            expected = OrderNotPayable
        elif customer.pin_locked_until is not None and customer.pin_locked_until > now:
            expected = pins.PinLocked
        elif pin != PIN:
            expected = pins.InvalidPin
        elif customer.wallet < order.total:
            expected = wallet.InsufficientBalance

        def pay() -> None:
            row = self.session.get(Customer, customer.id)
            assert row is not None
            orders.pay_with_wallet(
                self.session, customer=row, order_id=order_id, pin=pin, settings=self.settings, now=now
            )

        if self._outcome(pay, expected):
            customer.pin_failures, customer.pin_locked_until = 0, None
            self._capture(self.payments[order.payment_id])
            order.status = states.PAID
        elif expected is pins.InvalidPin:  # counted although refused: the refusal commits the count
            customer.pin_failures += 1
            if customer.pin_failures >= pins.PIN_MAX_FAILURES:
                customer.pin_failures, customer.pin_locked_until = 0, now + pins.PIN_LOCK
        return expected

    # --- cancellation, time and expiry ----------------------------------------------------------------

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self._cancel(self._pick(data, self.orders, lambda o: self.orders[o].status == states.PENDING_PAYMENT))

    def _cancel(self, order_id: str) -> None:
        order = self.orders[order_id]
        pending = order.status == states.PENDING_PAYMENT
        self._outcome(
            lambda: orders.cancel_order(
                self.session, customer_id=order.customer, order_id=order.id, now=self.clock.now()
            ),
            None if pending else OrderNotCancellable,
        )
        if pending:
            order.status = states.CANCELLED

    @rule(minutes=st.sampled_from([31, 10, 1]))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), on_time=st.booleans())
    def expiry_job_runs(self, data: st.DataObject, on_time: bool) -> None:
        """The expiry job: on time (the order's 30 minutes have passed), or early (a retry) or late."""
        order = self._pick(data, self.orders, lambda o: self.orders[o].status == states.PENDING_PAYMENT)
        if on_time:
            self.clock.set(max(self.clock.now(), self.orders[order].expires_at))
        self._expire(order)

    def _expire(self, order_id: str) -> None:
        order = self.orders[order_id]
        self._outcome(
            lambda: orders.expire_order(self.session, order_id=order_id, now=self.clock.now()), None
        )
        if order.status == states.PENDING_PAYMENT and order.expires_at <= self.clock.now():
            order.status = states.EXPIRED

    # --- provider notices -----------------------------------------------------------------------------

    def _card_payments(self) -> list[str]:
        return [p.id for p in self.payments.values() if p.provider == "card"]

    @precondition(lambda self: self._card_payments())
    @rule(target=notices, data=st.data(), outcome=OUTCOMES, tampered=TAMPERED)
    def provider_notice(self, data: st.DataObject, outcome: str, tampered: bool) -> PaymentNotice:
        """The card provider tells how a payment for an order or a top-up went."""
        payment = self._pick(data, self._card_payments(), lambda p: self.payments[p].status in FIRST_NEWS)
        return self._notify(payment, outcome, tampered)

    def _captured_card_payments(self) -> list[str]:
        return [
            p.id for p in self.payments.values() if p.provider == "card" and p.status in CAPTURED_STATUSES
        ]

    @precondition(lambda self: self._captured_card_payments())
    @rule(target=notices, data=st.data(), outcome=LATE_OUTCOMES)
    def late_notice(self, data: st.DataObject, outcome: str) -> PaymentNotice:
        """Reordered: an event the provider sent before the success (or a second success) arrives after it."""
        payment = data.draw(st.sampled_from(self._captured_card_payments()), label="payment")
        return self._notify(payment, outcome, tampered=False)

    def _unpaid_card_orders(self) -> list[str]:
        alive_or_dead = self._orders_in(
            states.PENDING_PAYMENT, states.CANCELLED, states.EXPIRED, method="card"
        )
        payable = (payments.CREATED, payments.PENDING, payments.FAILED)  # a cancelled intent cannot succeed
        return [o for o in alive_or_dead if self.payments[self.orders[o].payment_id].status in payable]

    @precondition(lambda self: self._unpaid_card_orders())
    @rule(
        target=notices,
        data=st.data(),
        death=st.sampled_from(["cancelled", "expired"]),
        refund_job_runs=st.booleans(),
    )
    def paid_too_late(self, data: st.DataObject, death: str, refund_job_runs: bool) -> PaymentNotice:
        """The payer pays at the cashier just after the order was cancelled or expired: refunded, not kept."""
        order = self.orders[data.draw(st.sampled_from(self._unpaid_card_orders()), label="order")]
        if order.status == states.PENDING_PAYMENT and death == "cancelled":
            self._cancel(order.id)
        elif order.status == states.PENDING_PAYMENT:
            self.clock.set(max(self.clock.now(), order.expires_at))
            self._expire(order.id)
        notice = self._notify(order.payment_id, "succeeded", tampered=False)
        if refund_job_runs and self.payments[order.payment_id].refund_job:
            self._run_refund_job(order.payment_id)
        return notice

    @rule(notice=notices)
    def notice_delivered_again(self, notice: PaymentNotice) -> None:
        """Providers retry: the same event id again, perhaps after later events were applied."""
        self._deliver(notice)

    def _notify(self, payment_id: str, outcome: str, tampered: bool) -> PaymentNotice:
        payment = self.payments[payment_id]
        notice = PaymentNotice(
            provider="card",
            event_id=new_id("evt"),
            kind=NOTICE_KINDS[outcome],
            reference=provider_reference(payment_id),
            amount=Money(payment.amount + tampered, HKD),
            outcome=outcome,
        )
        self._deliver(notice)
        return notice

    def _deliver(self, notice: PaymentNotice) -> None:
        payment = next(p for p in self.payments.values() if provider_reference(p.id) == notice.reference)
        mismatch = notice.amount != Money(payment.amount, HKD)
        self._outcome(
            lambda: orders.apply_payment_notice(
                self.session, notice, settings=self.settings, now=self.clock.now()
            ),
            AmountMismatch if mismatch else None,
        )
        if mismatch or notice.event_id in self.applied_events:
            return  # refused, or a repeat: nothing changes
        self.applied_events.add(notice.event_id)
        before = payment.status
        if notice.outcome == "succeeded" and before in FIRST_NEWS:
            # Even after a cancel: the payer's money crossed our close, so it is captured and refunded.
            self._capture(payment)
            if payment.topup_id is not None:
                if self.topups[payment.topup_id].status == wallet.EXPIRED:
                    payment.refund_job = True  # paid too late: refunded, the month's limit holds
                else:
                    self.topups[payment.topup_id].status = wallet.COMPLETED
                return
            order = self.orders[payment.order_id or ""]
            if order.status == states.PENDING_PAYMENT:
                order.status = states.PAID
            else:
                payment.refund_job = True  # money for an order that can no longer be paid goes back
        elif notice.outcome == "failed" and before in (payments.CREATED, payments.PENDING):
            payment.status = payments.FAILED
        elif notice.outcome == "canceled" and before in (payments.CREATED, payments.PENDING, payments.FAILED):
            payment.status = payments.CANCELED

    # --- fulfilment, give-ups and refunds -------------------------------------------------------------

    def _pick_order(self, data: st.DataObject, *statuses: str) -> OrderModel:
        return self.orders[self._pick(data, self.orders, lambda o: self.orders[o].status in statuses)]

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), delivered=st.booleans())
    def fulfilment_job_runs(self, data: st.DataObject, delivered: bool) -> None:
        """The fulfil job: its first transaction, then (unless the SM-DP+ did not answer) its last one."""
        order = self._pick_order(data, states.PAID, states.FULFILLING)

        def start() -> None:
            row = orders.get_order(self.session, order.id, lock=True)
            if row.status == states.PAID:
                orders.transition(row, states.FULFILLING, now=self.clock.now())
            if row.status == states.FULFILLING:
                esim = esims.start_profile(
                    self.session, customer_id=row.customer_id, order_id=row.id, now=self.clock.now()
                )
                row.esim_id = esim.id

        def deliver() -> None:  # the SM-DP+ reserved and released the profile
            now = self.clock.now()
            row = orders.get_order(self.session, order.id, lock=True)
            if row.status != states.FULFILLING or row.esim_id is None:
                return
            iccid = f"8985201{next(_iccid_serial):012d}"
            esims.record_iccid(self.session, esim_id=row.esim_id, iccid=iccid, now=now)
            esims.record_release(
                self.session,
                esim_id=row.esim_id,
                matching_id=new_id("match"),
                smdp_address="smdp.example.test",
                now=now,
            )
            package = self.session.get(Package, row.package_id)
            assert package is not None
            usage.add_bundle(self.session, esim_id=row.esim_id, order_id=row.id, package=package, now=now)
            total = Money(row.total, row.currency)
            payments.recognize_revenue(self.session, order_id=row.id, amount=total, now=now)
            orders.transition(row, states.FULFILLED, now=now, step="quota_added")

        self._outcome(start, None)
        if order.status == states.PAID:
            order.status = states.FULFILLING
            order.has_esim = order.esim_live = True
        if not delivered:
            return
        self._outcome(deliver, None)
        if order.status == states.FULFILLING:
            order.status = states.FULFILLED
            self._post(RECOGNIZED, order.id, {UNEARNED: order.total, REVENUE: -order.total})

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def fulfilment_gives_up(self, data: st.DataObject) -> None:
        order = self._pick_order(data, states.PAID, states.FULFILLING)
        self._outcome(
            lambda: orders.fail_order(
                self.session, order_id=order.id, settings=self.settings, now=self.clock.now()
            ),
            None,
        )
        if order.status in (states.PAID, states.FULFILLING):
            order.status = states.FAILED
            order.esim_live = False
            payment = self.payments[order.payment_id]
            payment.refund_job = payment.refund_job or payment.status == payments.SUCCEEDED

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def staff_refund(self, data: st.DataObject) -> None:
        """``crossbay orders refund``: a delivered or failed order's money goes back."""
        order = self._pick_order(data, states.FULFILLED, states.FAILED)
        payment = self.payments[order.payment_id]
        refundable = (
            order.status in (states.FULFILLED, states.FAILED) and payment.status == payments.SUCCEEDED
        )
        self._outcome(
            lambda: orders.refund_order(
                self.session, order_id=order.id, settings=self.settings, now=self.clock.now(), reason="test"
            ),
            None if refundable else orders.NotRefundable,
        )
        if refundable:
            if order.status == states.FULFILLED:
                self._post(REVENUE_REVERSED, order.id, {REVENUE: order.total, UNEARNED: -order.total})
            payment.refund_job = True

    @precondition(lambda self: any(p.refund_job for p in self.payments.values()))
    @rule(data=st.data())
    def refund_job_runs(self, data: st.DataObject) -> None:
        """The refund worker, after the provider refunded (the wallet needs no provider); it may run twice."""
        self._run_refund_job(
            self._pick(
                data,
                [p.id for p in self.payments.values() if p.refund_job],
                lambda p: self.payments[p].status == payments.SUCCEEDED,
            )
        )

    def _run_refund_job(self, payment_id: str) -> None:
        payment = self.payments[payment_id]
        self._outcome(
            lambda: orders.mark_refunded(self.session, payment_id=payment.id, now=self.clock.now()), None
        )
        if payment.status != payments.SUCCEEDED:
            return
        payment.status = payments.REFUNDED
        capture = self.postings[(CAPTURED, payment.id)]
        self._post(REFUNDED, payment.id, {account: -amount for account, amount in capture.items()})
        if payment.provider == wallet.WALLET:
            self.by_id[payment.customer].wallet += payment.amount
        if payment.order_id is None:
            return  # a late top-up's money goes back; there is no order to move
        order = self.orders[payment.order_id]
        if order.status in (states.FAILED, states.FULFILLED):
            order.status = states.REFUNDED

    # --- what the database holds ----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            with transaction(self.session):
                self._snapshot = self._read()
        return self._snapshot

    def _read(self) -> Snapshot:
        session = self.session
        customer_ids = [c.id for c in self.customers]
        # Columns, not ORM objects (those may be stale), and rows found by customer, not by the
        # model: a payment or an order the model does not know of is checked too.
        payment_rows = session.execute(
            select(Payment.id, Payment.order_id, Payment.status).where(Payment.customer_id.in_(customer_ids))
        ).all()
        order_status: dict[str, str] = dict(
            session.execute(select(Order.id, Order.status).where(Order.customer_id.in_(customer_ids))).all()
        )
        timelines: dict[str, list[str]] = defaultdict(list)
        for order_id, status in session.execute(
            select(OrderEvent.order_id, OrderEvent.status)
            .where(OrderEvent.order_id.in_(list(order_status)))
            .order_by(OrderEvent.order_id, OrderEvent.seq)
        ):
            timelines[order_id].append(status)
        topup_status: dict[str, str] = dict(
            session.execute(
                select(WalletTopup.id, WalletTopup.status).where(WalletTopup.customer_id.in_(customer_ids))
            ).all()
        )
        refund_keys = session.scalars(
            select(Job.dedupe_key).where(Job.dedupe_key.in_([f"refund:{row.id}" for row in payment_rows]))
        )
        references = [row.id for row in payment_rows] + list(order_status)
        ours = select(LedgerTransaction.id).where(LedgerTransaction.reference.in_(references))
        unbalanced = [
            (tx_id, currency, int(total))
            for tx_id, currency, total in session.execute(
                select(LedgerEntry.transaction_id, LedgerEntry.currency, func.sum(LedgerEntry.amount))
                .where(LedgerEntry.transaction_id.in_(ours))
                .group_by(LedgerEntry.transaction_id, LedgerEntry.currency)
            )
            if total
        ]
        postings: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for kind, reference, code, amount in session.execute(
            select(
                LedgerTransaction.kind, LedgerTransaction.reference, LedgerAccount.code, LedgerEntry.amount
            )
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerTransaction.reference.in_(references))
        ):
            postings[(kind, reference)][code] += amount
        wallets = [f"wallet:{c}" for c in customer_ids]
        account_sums: dict[str, int] = defaultdict(int)
        for code, amount in session.execute(
            select(LedgerAccount.code, LedgerEntry.amount)
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerAccount.code.in_(wallets))
        ):
            account_sums[code] += amount  # one by one, independently of the ledger's own SUM
        for lines in postings.values():
            for code in SHARED_ACCOUNTS:
                account_sums[code] += lines.get(code, 0)  # what this example moved on the shared ones
        wallet_balances = {c: ledger.wallet_balance(session, c, HKD).amount for c in customer_ids}
        return Snapshot(
            order_status=order_status,
            timelines=dict(timelines),
            payment_status={row.id: row.status for row in payment_rows},
            payment_order={row.id: row.order_id for row in payment_rows},
            topup_status=topup_status,
            refund_jobs={key.removeprefix("refund:") for key in refund_keys if key},
            unbalanced=unbalanced,
            postings={key: dict(lines) for key, lines in postings.items()},
            wallet_balances=wallet_balances,
            account_balances={
                # A wallet's account balance is what wallet_balance negates (the customer's view).
                **{f"wallet:{c}": -balance for c, balance in wallet_balances.items()},
                **{
                    code: ledger.account_balance(session, code, HKD).amount - self.opening[code]
                    for code in SHARED_ACCOUNTS
                },
            },
            account_sums=dict(account_sums),
        )

    # --- invariants, checked after every step (hypothesis runs them in name order) ----------------------

    @invariant()
    def every_posting_sums_to_zero_per_currency(self) -> None:
        assert self.snapshot().unbalanced == [], "ledger transactions that do not net to zero"

    @invariant()
    def no_wallet_is_negative(self) -> None:
        negative = {c: b for c, b in self.snapshot().wallet_balances.items() if b < 0}
        assert not negative, f"wallets below zero: {negative}"

    @invariant()
    def no_order_is_paid_twice(self) -> None:
        snap = self.snapshot()
        captures: dict[str, int] = defaultdict(int)
        for payment_id, order_id in snap.payment_order.items():
            if order_id is not None and (CAPTURED, payment_id) in snap.postings:
                captures[order_id] += 1
        twice = {order: n for order, n in captures.items() if n > 1}
        assert not twice, f"orders captured more than once: {twice}"

    @invariant()
    def refunds_never_exceed_payments(self) -> None:
        snap = self.snapshot()
        for payment_id in snap.payment_status:
            paid = _moved(snap.postings.get((CAPTURED, payment_id)))
            refunded = _moved(snap.postings.get((REFUNDED, payment_id)))
            assert refunded <= paid, f"payment {payment_id}: refunded {refunded}, paid {paid}"

    @invariant()
    def account_balances_equal_their_postings(self) -> None:
        snap = self.snapshot()
        for code, balance in snap.account_balances.items():
            assert balance == snap.account_sums.get(code, 0), f"{code}: balance {balance} is not its postings"

    @invariant()
    def order_statuses_move_only_along_allowed_transitions(self) -> None:
        snap = self.snapshot()
        for order_id, status in snap.order_status.items():
            # A step may move an order more than once (the fulfil job does); its timeline holds every move.
            timeline = [s for s, _ in itertools.groupby(snap.timelines[order_id])]
            seen = self.seen_timelines.get(order_id, [states.PENDING_PAYMENT])
            assert timeline[: len(seen)] == seen, f"{order_id}: history rewritten, {seen} -> {timeline}"
            assert timeline[-1] == status, f"{order_id} is {status}, its timeline ends {timeline[-1]}"
            for before, after in itertools.pairwise(timeline[len(seen) - 1 :]):
                assert after in states.TRANSITIONS[before], f"{order_id}: {before} -> {after}"
            self.seen_timelines[order_id] = timeline

    @invariant()
    def the_model_agrees(self) -> None:
        """Statuses, refund jobs, every posting and every wallet balance are what the model predicts."""
        snap = self.snapshot()
        assert snap.order_status == {o.id: o.status for o in self.orders.values()}
        assert snap.payment_status == {p.id: p.status for p in self.payments.values()}
        assert snap.topup_status == {t.id: t.status for t in self.topups.values()}
        assert snap.refund_jobs == {p.id for p in self.payments.values() if p.refund_job}
        assert snap.postings == self.postings
        assert snap.wallet_balances == {c.id: c.wallet for c in self.customers}


def _moved(lines: dict[str, int] | None) -> int:
    """How much a posting moved: the sum of its debits."""
    return sum(amount for amount in (lines or {}).values() if amount > 0)


# --- the tests -----------------------------------------------------------------------------------------


def test_money_is_never_lost_doubled_or_overdrawn(
    session: Session, clock: FrozenClock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity_service, "_hasher", FAST_HASHER)
    clock.set(START)
    world = World(
        session=session,
        clock=clock,
        settings=settings_for(database_url),
        package_ids=[p.id for p in make_packages(session, prices=PRICES, now=clock.now())],
    )
    run_state_machine_as_test(lambda: MoneyMachine(world), settings=RUN)


# --- bugs found on the way, kept failing until fixed ------------------------------------------------------


def test_a_failed_topup_order_leaves_the_esim_it_tops_up_alone(
    session: Session, clock: FrozenClock, database_url: str
) -> None:
    settings = settings_for(database_url)
    now = clock.now()
    customer = make_customer(session, now=now)
    esim = make_esim(session, customer_id=customer.id, now=now)  # released, not yet installed: ready
    package = make_packages(session, prices=PRICES[:1], now=now)[0]
    with transaction(session):
        order = orders.place_order(
            session,
            customer_id=customer.id,
            package_id=package.id,
            esim_id=esim.id,
            payment_method="card",
            settings=settings,
            now=now,
        )
        payment_id = payments.latest_payments(session, [order.id])[order.id].id
        payments.attach_provider_session(
            session,
            payment_id=payment_id,
            reference=provider_reference(payment_id),
            redirect_url=None,
            now=now,
        )
    notice = PaymentNotice(
        provider="card",
        event_id=new_id("evt"),
        kind=NOTICE_KINDS["succeeded"],
        reference=provider_reference(payment_id),
        amount=Money(PRICES[0], HKD),
        outcome="succeeded",
    )
    with transaction(session):
        orders.apply_payment_notice(session, notice, settings=settings, now=now)
    with transaction(session):
        orders.fail_order(
            session, order_id=order.id, settings=settings, now=now
        )  # the top-up could not be added

    with transaction(session):
        cancel_jobs = session.scalars(
            select(Job).where(
                Job.kind == orders.CANCEL_PROFILE_JOB, Job.dedupe_key == f"cancel-profile:{esim.id}"
            )
        ).all()
        status = session.scalars(select(Esim.status).where(Esim.id == esim.id)).one()
    assert (status, cancel_jobs) == (esims.READY, [])


def test_late_payments_of_expired_topups_keep_the_month_within_the_limit(
    session: Session, clock: FrozenClock, database_url: str
) -> None:
    settings = settings_for(database_url)
    customer = make_customer(session, now=clock.now())
    most = Money(settings.wallet_topup_max, HKD)

    def start_topup() -> tuple[str, str]:
        with transaction(session):
            topup, payment = wallet.start_topup(
                session,
                customer_id=customer.id,
                amount=most,
                method="card",
                settings=settings,
                now=clock.now(),
            )
            payments.attach_provider_session(
                session,
                payment_id=payment.id,
                reference=provider_reference(payment.id),
                redirect_url="https://cashier.example.test",
                now=clock.now(),
            )
            return topup.id, payment.id

    per_month = settings.wallet_topup_monthly_max // most.amount
    unpaid = [start_topup() for _ in range(per_month)]  # the month's limit, reserved
    clock.advance(timedelta(seconds=settings.order_ttl_seconds))
    with transaction(session):
        for topup_id, _ in unpaid:
            wallet.expire_topup(session, topup_id=topup_id, now=clock.now())
    paid = [start_topup() for _ in range(per_month)]  # allowed again: expired top-ups do not count
    for _, payment_id in unpaid + paid:  # ...but the first cashiers were still open, and were paid too
        notice = PaymentNotice(
            provider="card",
            event_id=new_id("evt"),
            kind=NOTICE_KINDS["succeeded"],
            reference=provider_reference(payment_id),
            amount=most,
            outcome="succeeded",
        )
        with transaction(session):
            orders.apply_payment_notice(session, notice, settings=settings, now=clock.now())

    with transaction(session):
        completed = session.scalar(
            select(func.sum(WalletTopup.amount)).where(
                WalletTopup.customer_id == customer.id, WalletTopup.status == wallet.COMPLETED
            )
        )
    limit = settings.wallet_topup_monthly_max
    assert completed <= limit, f"HK${completed / 100:,.0f} of top-ups completed in one month"
