"""Reminders on the real database, with a frozen clock moved by hand: each fires once, in the
customer's language, on their channels, and no SMS in quiet hours except exhaustion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.db import new_id, transaction
from crossbay.esim.models import Esim
from crossbay.identity.models import Customer
from crossbay.jobs.models import Job
from crossbay.ledger import service as ledger
from crossbay.ledger.service import Line
from crossbay.money import Money
from crossbay.notify import reminders, service
from crossbay.notify.delivery import EMAIL_JOB, SMS_JOB, sms_time
from crossbay.notify.models import Notification
from crossbay.settings import Settings
from crossbay.usage.models import Bundle
from crossbay.usage.records import RecordIn, apply_records
from tests.unit.usage.usage_factories import MB, buy, esim_with_iccid, package

# 12:00 Hong Kong time.
NOON = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
SETTINGS = Settings(sandbox=True)
_serial = iter(range(10**9))


def customer_of(
    session: Session, esim: Esim, *, language: str = "zh-Hant", email: str | None = None
) -> Customer:
    with transaction(session):
        customer = session.get(Customer, esim.customer_id)
        assert customer is not None
        customer.language = language
        customer.email = email
    return customer


def use(session: Session, esim: Esim, mb: int, *, at: datetime) -> None:
    record = RecordIn(
        f"r-{next(_serial)}", esim.iccid or "", at, at + timedelta(minutes=1), "hk", "CMHK", mb * MB, 0
    )
    with transaction(session):
        apply_records(session, [record], now=at)


def sweep(session: Session, *, now: datetime) -> None:
    """What the worker's reminder sweep does, on the test's session."""
    with transaction(session):
        pending = reminders.pending_events(session, limit=1000)
    for event_id in pending:
        with transaction(session):
            reminders.process_event(session, event_id, settings=SETTINGS, now=now)
    with transaction(session):
        reminders.remind_expiring(session, now=now)
    with transaction(session):
        reminders.remind_low_balance(session, now=now)


def jobs_for(session: Session, kind: str, to: str) -> list[Job]:
    with transaction(session):
        found = session.scalars(select(Job).where(Job.kind == kind).order_by(Job.created_at, Job.id)).all()
    return [job for job in found if job.payload["to"] == to]


def inbox(session: Session, customer: Customer) -> list[Notification]:
    with transaction(session):
        return service.list_notifications(session, customer_id=customer.id, limit=100, before=None)


def set_reminders(session: Session, customer: Customer, **changes: Any) -> None:
    values: dict[str, Any] = {
        "low_data_percent": 20,
        "expiry_days_before": 1,
        "low_balance": Money(5_000, "HKD"),
        "channels": ["sms", "email", "in_app"],
        **changes,
    }
    with transaction(session):
        reminders.update_preferences(session, customer=customer, now=NOON, **values)


class TestLowData:
    def test_each_threshold_fires_once_in_the_customers_language_on_every_channel(
        self, session: Session
    ) -> None:
        esim = esim_with_iccid(session, now=NOON)
        customer = customer_of(session, esim, language="zh-Hans", email="traveller@example.com")
        buy(session, esim, package(session, data_mb=100, now=NOON), now=NOON)
        at = NOON + timedelta(minutes=1)
        use(session, esim, 50, at=at)
        sweep(session, now=at)
        assert inbox(session, customer) == [] and jobs_for(session, SMS_JOB, customer.phone) == []

        use(session, esim, 30, at=at)  # 80% used: 20% left
        sweep(session, now=at)
        sweep(session, now=at + timedelta(minutes=1))  # a repeated sweep sends nothing more
        [sms] = jobs_for(session, SMS_JOB, customer.phone)
        assert "20%" in sms.payload["body"] and "剩余" in sms.payload["body"], sms.payload["body"]
        assert sms.run_at == at  # noon: no quiet hours
        [email] = jobs_for(session, EMAIL_JOB, "traveller@example.com")
        assert email.payload["subject"] == "您的套餐即将用完"
        [note] = inbox(session, customer)
        assert note.kind == "low_data" and note.values["percent"] == 20

        later = at + timedelta(minutes=2)
        use(session, esim, 5, at=later)  # 85%: nothing new
        sweep(session, now=later)
        assert len(inbox(session, customer)) == 1
        later += timedelta(minutes=1)
        use(session, esim, 5, at=later)  # 90%
        sweep(session, now=later)
        later += timedelta(minutes=1)
        use(session, esim, 10, at=later)  # 100%: used up
        sweep(session, now=later)
        sweep(session, now=later + timedelta(minutes=5))
        kinds = [n.kind for n in reversed(inbox(session, customer))]
        assert kinds == ["low_data", "low_data", "data_exhausted"]
        bodies = [job.payload["body"] for job in jobs_for(session, SMS_JOB, customer.phone)]
        assert len(bodies) == 3 and "10%" in bodies[1] and "已用完" in bodies[2]
        assert len(jobs_for(session, EMAIL_JOB, "traveller@example.com")) == 3

    def test_one_big_jump_past_two_levels_reminds_once(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=NOON)
        customer = customer_of(session, esim, language="en")
        buy(session, esim, package(session, data_mb=100, now=NOON), now=NOON)
        use(session, esim, 95, at=NOON)
        sweep(session, now=NOON)
        use(session, esim, 1, at=NOON + timedelta(minutes=1))
        sweep(session, now=NOON + timedelta(minutes=1))
        [note] = inbox(session, customer)
        assert note.values["percent"] == 5
        [sms] = jobs_for(session, SMS_JOB, customer.phone)
        assert sms.payload["body"].startswith("crossbay | Your pack is running low\n")

    def test_the_customers_threshold_and_channels_are_respected(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=NOON)
        customer = customer_of(session, esim, language="en", email="a@example.com")
        older = buy(session, esim, package(session, data_mb=100, now=NOON), now=NOON)
        set_reminders(session, customer, low_data_percent=30, channels=["in_app"])
        newer = buy(session, esim, package(session, data_mb=100, now=NOON), now=NOON + timedelta(seconds=1))
        with transaction(session):
            levels = {b.id: b.next_alert_percent for b in session.scalars(select(Bundle))}
        assert levels[older.id] == 70 and levels[newer.id] == 70  # re-armed, and the hook for new packs

        at = NOON + timedelta(minutes=1)
        use(session, esim, 70, at=at)  # the older pack expires first: it pays, 70% used
        sweep(session, now=at)
        use(session, esim, 10, at=at)  # 80%: not one of this customer's levels
        sweep(session, now=at)
        [note] = inbox(session, customer)
        assert note.values["percent"] == 30
        assert jobs_for(session, SMS_JOB, customer.phone) == []
        assert jobs_for(session, EMAIL_JOB, "a@example.com") == []

    def test_no_email_without_an_address(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=NOON)
        customer = customer_of(session, esim)
        buy(session, esim, package(session, data_mb=100, now=NOON), now=NOON)
        use(session, esim, 100, at=NOON)
        sweep(session, now=NOON)
        with transaction(session):
            assert session.scalars(select(Job).where(Job.kind == EMAIL_JOB)).all() == []
        assert [n.kind for n in inbox(session, customer)] == ["data_exhausted"]


class TestQuietHours:
    @pytest.mark.parametrize(
        ("hk_time", "urgent", "sent_at_hk"),
        [
            ("12:00", False, "12:00"),
            ("08:00", False, "08:00"),
            ("22:59", False, "22:59"),
            ("23:00", False, "+08:00"),
            ("23:30", False, "+08:00"),
            ("00:10", False, "08:00"),
            ("07:59", False, "08:00"),
            ("23:30", True, "23:30"),
            ("03:00", True, "03:00"),
        ],
    )
    def test_sms_waits_for_eight_unless_urgent(self, hk_time: str, urgent: bool, sent_at_hk: str) -> None:
        hour, minute = map(int, hk_time.split(":"))
        # 27 Nov 2026 in Hong Kong (UTC+8).
        now = datetime(2026, 11, 27, hour, minute, tzinfo=UTC) - timedelta(hours=8)
        next_day = sent_at_hk.startswith("+")
        hour, minute = map(int, sent_at_hk.lstrip("+").split(":"))
        expected = datetime(2026, 11, 27 + next_day, hour, minute, tzinfo=UTC) - timedelta(hours=8)
        assert sms_time(now, urgent=urgent) == expected

    def test_a_low_data_sms_at_night_is_deferred_but_exhaustion_is_not(self, session: Session) -> None:
        night = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 23:30 in Hong Kong
        esim = esim_with_iccid(session, now=night)
        customer = customer_of(session, esim, language="zh-Hant")
        buy(session, esim, package(session, data_mb=100, now=night), now=night)
        use(session, esim, 80, at=night)
        sweep(session, now=night)
        assert [n.kind for n in inbox(session, customer)] == ["low_data"]  # in-app at once: it is silent
        [low] = jobs_for(session, SMS_JOB, customer.phone)
        assert low.run_at == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 the next morning
        later = night + timedelta(minutes=1)
        use(session, esim, 20, at=later)
        sweep(session, now=later)
        low, out = jobs_for(session, SMS_JOB, customer.phone)
        assert out.run_at == later and "已用完" in out.payload["body"]


class TestExpiry:
    def test_reminds_once_the_chosen_number_of_days_before(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=NOON)
        customer = customer_of(session, esim, language="en")
        # Bought 26 Nov, three days: ends 28 Nov 23:59:59 Hong Kong time.
        buy(session, esim, package(session, data_mb=100, validity_days=3, now=NOON), now=NOON)
        sweep(session, now=NOON)
        sweep(session, now=datetime(2026, 11, 26, 15, 59, tzinfo=UTC))  # 23:59 on the 26th
        assert inbox(session, customer) == []
        just_after_midnight = datetime(2026, 11, 26, 16, 5, tzinfo=UTC)  # 00:05 on the 27th
        sweep(session, now=just_after_midnight)
        sweep(session, now=just_after_midnight + timedelta(hours=10))
        [note] = inbox(session, customer)
        assert note.kind == "expiry_soon" and note.values["date"] == "2026-11-28"
        [sms] = jobs_for(session, SMS_JOB, customer.phone)
        assert "28 November 2026" in sms.payload["body"]
        assert sms.run_at == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # quiet hours: at 08:00

    def test_zero_days_reminds_on_the_last_day_and_short_packs_get_none(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=NOON)
        customer = customer_of(session, esim)
        set_reminders(session, customer, expiry_days_before=0)
        buy(session, esim, package(session, data_mb=100, validity_days=2, now=NOON), now=NOON)
        buy(session, esim, package(session, data_mb=100, validity_days=1, now=NOON), now=NOON)
        sweep(session, now=NOON)
        assert inbox(session, customer) == []  # the one-day pack ends today but was bought today
        sweep(session, now=NOON + timedelta(days=1))
        [note] = inbox(session, customer)
        assert note.values["date"] == "2026-11-27"


def fund(session: Session, customer: Customer, amount: int, *, now: datetime) -> None:
    with transaction(session):
        ledger.post(
            session,
            kind="test.wallet",
            reference=new_id("ref"),
            lines=[
                Line("clearing:card", Money(amount, "HKD")),
                Line(f"wallet:{customer.id}", Money(-amount, "HKD")),
            ],
            now=now,
        )


class TestLowBalance:
    def test_each_drop_below_the_amount_reminds_once(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=NOON)
        customer = customer_of(session, esim, language="en")
        set_reminders(session, customer, low_balance=Money(10_000, "HKD"), channels=["in_app"])
        fund(session, customer, 3_000, now=NOON)
        sweep(session, now=NOON)
        assert inbox(session, customer) == []  # never held the amount: nothing dropped
        fund(session, customer, 20_000, now=NOON + timedelta(minutes=1))
        sweep(session, now=NOON + timedelta(minutes=1))
        fund(session, customer, -15_000, now=NOON + timedelta(minutes=2))  # spent: HK$80 left
        sweep(session, now=NOON + timedelta(minutes=2))
        fund(session, customer, -1_000, now=NOON + timedelta(minutes=3))  # lower still: no second reminder
        sweep(session, now=NOON + timedelta(minutes=3))
        [note] = inbox(session, customer)
        assert note.kind == "low_balance"
        assert note.values["balance"] == {"amount": 8_000, "currency": "HKD"}
        fund(session, customer, 5_000, now=NOON + timedelta(minutes=4))  # topped up to HK$120: re-armed
        sweep(session, now=NOON + timedelta(minutes=4))
        fund(session, customer, -5_000, now=NOON + timedelta(minutes=5))
        sweep(session, now=NOON + timedelta(minutes=5))
        assert [n.kind for n in inbox(session, customer)] == ["low_balance", "low_balance"]
