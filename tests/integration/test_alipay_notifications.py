"""Bad Alipay notifications, each refused or ignored by the real provider with nothing changed in our books.

A genuine notification is taken from the sandbox after a real payment over HTTP; each case
spoils it (or re-signs a wrong one with Alipay's key, as a notification for another merchant's
trade would be) and goes down our webhook's path: ``read_notification`` then ``record_notice``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from crossbay.db import Base, make_engine, make_session_factory, transaction
from crossbay.errors import CrossbayError
from crossbay.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from crossbay.payments import service as payments
from crossbay.payments.alipay_wire import notification_signing_string, parse_alipay_time, rsa2_sign
from crossbay.payments.models import Payment, ProviderEvent
from tests.support.alipay_harness import ALIPAY_KEY, HKD88, MERCHANT_KEY, Harness, serve_alipay_sandbox


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with serve_alipay_sandbox(tmp_path_factory.mktemp("alipay") / "sandbox.db") as harness:
        yield harness


@dataclass
class Books:
    """Our payments and ledger tables, for record_notice (orders and customers are not part of this test)."""

    engine: Engine
    sessions: sessionmaker[Session]


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Books]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('books')}/books.db")

    @event.listens_for(engine, "connect")
    def _without_orders(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # the payment's order and customer are not here

    tables = [Payment, ProviderEvent, LedgerAccount, LedgerTransaction, LedgerEntry]
    Base.metadata.create_all(engine, tables=[t.__table__ for t in tables])  # type: ignore[attr-defined]
    yield Books(engine, make_session_factory(engine))
    engine.dispose()


@dataclass
class Genuine:
    payment_id: str
    params: dict[str, str]  # a delivered notification, exactly as Alipay signed it
    body: bytes
    sent_at: datetime


@pytest.fixture(scope="module")
def genuine(harness: Harness, books: Books) -> Genuine:
    now = datetime.now(UTC)
    with books.sessions() as session, transaction(session):
        payment = payments.create_payment(
            session, customer_id="cus_alipay", order_id="ord_alipay", provider="alipay", amount=HKD88, now=now
        )
    checkout = harness.checkout(payment_id=payment.id)
    with books.sessions() as session, transaction(session):
        payments.attach_provider_session(
            session,
            payment_id=payment.id,
            reference=checkout.reference,
            redirect_url=checkout.redirect_url,
            now=now,
        )
    harness.paid(payment_id=payment.id)
    delivery = harness.receiver.for_trade(payment.id)[0]
    return Genuine(
        payment.id, delivery.params, delivery.body, parse_alipay_time(delivery.params["notify_time"])
    )


def _form(params: dict[str, str]) -> bytes:
    return urlencode(params).encode()


def _alipay_signed(params: dict[str, str]) -> dict[str, str]:
    """Genuinely signed by Alipay: what a real notification could carry, for a trade not ours."""
    return {**params, "sign": rsa2_sign(notification_signing_string(params), ALIPAY_KEY)}


def _without(params: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in names}


def _changed(**changes: str) -> Callable[[Genuine], bytes]:
    return lambda g: _form(_alipay_signed({**g.params, **changes}))


@dataclass(frozen=True)
class Bad:
    name: str
    body: Callable[[Genuine], bytes]
    expected: str  # the refusal's code, or "ignored"
    later: timedelta = timedelta(0)


BAD_NOTIFICATIONS = [
    Bad(
        "signed with the merchant's key",
        lambda g: _form({**g.params, "sign": rsa2_sign(notification_signing_string(g.params), MERCHANT_KEY)}),
        "invalid_signature",
    ),
    Bad("no signature", lambda g: _form(_without(g.params, "sign")), "invalid_signature"),
    Bad("old RSA sign_type", lambda g: _form({**g.params, "sign_type": "RSA"}), "invalid_signature"),
    Bad("tampered total_amount", lambda g: _form({**g.params, "total_amount": "0.01"}), "invalid_signature"),
    Bad(
        "tampered trade_status",
        lambda g: _form({**g.params, "trade_status": "TRADE_FINISHED"}),
        "invalid_signature",
    ),
    Bad("another app_id", _changed(app_id="2021000000009999"), "invalid_notification"),
    Bad("another seller_id", _changed(seller_id="2088000000009999"), "invalid_notification"),
    Bad("unknown trade_status", _changed(trade_status="TRADE_PENDING"), "invalid_notification"),
    Bad("another notify_type", _changed(notify_type="batch_trans_notify"), "invalid_notification"),
    Bad("garbled total_amount", _changed(total_amount="88.0.0"), "malformed_request"),
    Bad("a fraction of a cent", _changed(total_amount="88.001"), "malformed_request"),
    Bad(
        "no out_trade_no",
        lambda g: _form(_alipay_signed(_without(g.params, "out_trade_no"))),
        "malformed_request",
    ),
    Bad("garbled notify_time", _changed(notify_time="yesterday"), "malformed_request"),
    Bad("a field twice", lambda g: g.body + b"&trade_status=TRADE_SUCCESS", "malformed_request"),
    Bad("not UTF-8", lambda g: g.body + b"&x=%FF%FE", "malformed_request"),
    Bad("GBK charset", _changed(charset="gbk"), "malformed_request"),
    Bad("replay of an old good one", lambda g: g.body, "stale_timestamp", later=timedelta(hours=26)),
    Bad("from the far future", lambda g: g.body, "stale_timestamp", later=-timedelta(hours=26)),
    Bad("wrong currency", _changed(trans_currency="CNY"), "amount_mismatch"),
    Bad("another amount", _changed(total_amount="8.80"), "amount_mismatch"),
    Bad("unknown order", _changed(out_trade_no="pay_not_ours"), "unknown_payment"),
    Bad(
        "refund before any payment",
        _changed(trade_status="TRADE_CLOSED", refund_fee="88.00", gmt_refund="2026-11-26 12:00:00.123"),
        "ignored",
    ),
    Bad("still waiting for the payer", _changed(trade_status="WAIT_BUYER_PAY"), "ignored"),
]


def _apply(harness: Harness, books: Books, body: bytes, now: datetime) -> str:
    """Our webhook's path, less HTTP: read the notification, then record it in one transaction."""
    try:
        notice = harness.provider.read_notification(
            {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}, body, now=now
        )
        if notice is None:
            return "ignored"
        with books.sessions() as session, transaction(session):
            result = payments.record_notice(session, notice, now=now)
    except CrossbayError as error:
        return error.code
    return "duplicate" if result.duplicate else "applied"


def _state(books: Books, payment_id: str) -> tuple[str, int, int]:
    with books.sessions() as session, transaction(session):
        payment = session.get(Payment, payment_id)
        assert payment is not None
        events = session.scalar(select(func.count()).select_from(ProviderEvent)) or 0
        postings = session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0
        return payment.status, events, postings


@pytest.mark.parametrize("bad", BAD_NOTIFICATIONS, ids=[bad.name for bad in BAD_NOTIFICATIONS])
def test_a_bad_notification_changes_nothing(
    harness: Harness, books: Books, genuine: Genuine, bad: Bad
) -> None:
    before = _state(books, genuine.payment_id)

    outcome = _apply(harness, books, bad.body(genuine), genuine.sent_at + bad.later)

    assert outcome == bad.expected
    assert _state(books, genuine.payment_id) == before == ("pending", 0, 0)


def test_the_genuine_notification_applies_once_and_trade_finished_changes_nothing(
    harness: Harness, books: Books, genuine: Genuine
) -> None:
    deliveries = harness.receiver.for_trade(genuine.payment_id)
    assert len({d.params["notify_id"] for d in deliveries}) == 1

    outcomes = [
        _apply(harness, books, d.body, parse_alipay_time(d.params["notify_time"])) for d in deliveries
    ]
    finished = _changed(trade_status="TRADE_FINISHED", notify_id=uuid.uuid4().hex)(genuine)

    assert outcomes == ["applied"] + ["duplicate"] * (len(deliveries) - 1)
    assert _apply(harness, books, finished, datetime.now(UTC)) == "applied"
    status, events, postings = _state(books, genuine.payment_id)
    assert (status, events, postings) == ("succeeded", 2, 1)
