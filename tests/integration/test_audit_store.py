"""The audit table itself: append-only in the database, and the back office's filtered listing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from crossbay.audit import service as audit
from crossbay.audit.models import AuditEvent
from crossbay.audit.origin import Origin
from crossbay.clock import FrozenClock
from crossbay.db import is_postgresql, transaction


def _record(
    session: Session, clock: FrozenClock, action: str, actor: audit.Actor, customer_id: str
) -> AuditEvent:
    with transaction(session):
        return audit.record(
            session,
            action=action,
            actor=actor,
            customer_id=customer_id,
            now=clock.now(),
            origin=Origin(ip="203.0.113.9", device="Safari · iOS"),
            changes=[audit.Change("payment_method", "card", "wallet")],
        )


class TestAppendOnly:
    def test_the_database_refuses_to_change_a_record(self, session: Session, clock: FrozenClock) -> None:
        event = _record(
            session, clock, audit.PREFERRED_PAYMENT_CHANGED, audit.Actor.customer("cus_a"), "cus_a"
        )
        with transaction(session):
            with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
                session.execute(
                    update(AuditEvent).where(AuditEvent.id == event.id).values(action="password.set")
                )
            with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
                session.execute(text("UPDATE audit_events SET ip = NULL"))
            assert (
                session.get(AuditEvent, event.id, populate_existing=True).action
                == audit.PREFERRED_PAYMENT_CHANGED
            )  # type: ignore[union-attr]

    def test_postgresql_refuses_to_delete_one(self, session: Session, clock: FrozenClock) -> None:
        if not is_postgresql(session):
            pytest.skip(
                "SQLite refuses updates only: it has no TRUNCATE for the test harness to empty it with"
            )
        event = _record(session, clock, audit.PIN_SET, audit.Actor.customer("cus_a"), "cus_a")
        with transaction(session), pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(delete(AuditEvent).where(AuditEvent.id == event.id))
        with transaction(session):
            assert session.get(AuditEvent, event.id, populate_existing=True) is not None

    def test_secret_values_never_enter_a_record(self, session: Session, clock: FrozenClock) -> None:
        with transaction(session):
            event = audit.record(
                session,
                action=audit.PIN_CHANGED,
                actor=audit.Actor.customer("cus_a"),
                customer_id="cus_a",
                now=clock.now(),
                changes=[
                    audit.Change("payment_pin", "123456", "654321"),
                    audit.Change("document_number", "A1", "B2"),
                ],
            )
        assert event.details == {"changes": [{"field": "payment_pin"}, {"field": "document_number"}]}
        with pytest.raises(ValueError, match="secret"), transaction(session):
            audit.record(
                session,
                action=audit.PIN_CHANGED,
                actor=audit.Actor.customer("cus_a"),
                customer_id="cus_a",
                now=clock.now(),
                context={"pin": "123456"},
            )


class TestStaffListing:
    def test_filters_by_actor_action_and_time(self, session: Session, clock: FrozenClock) -> None:
        start = clock.now()
        _record(session, clock, audit.PASSWORD_SET, audit.Actor.customer("cus_a"), "cus_a")
        clock.advance(timedelta(hours=1))
        _record(session, clock, audit.TICKET_REPLIED, audit.Actor.staff("alice"), "cus_a")
        clock.advance(timedelta(hours=1))
        _record(session, clock, audit.TICKET_ASSIGNED, audit.Actor.staff("bob"), "cus_b")
        clock.advance(timedelta(hours=1))
        _record(session, clock, audit.PIN_SET, audit.Actor.customer("cus_b"), "cus_b")

        def actions(**filters: object) -> list[str]:
            with transaction(session):
                return [e.action for e in audit.list_events(session, limit=50, **filters)]  # type: ignore[arg-type]

        assert actions() == ["payment_pin.set", "ticket.assigned", "ticket.replied", "password.set"]
        assert actions(actor_kind="staff") == ["ticket.assigned", "ticket.replied"]
        assert actions(actor_id="alice") == ["ticket.replied"]
        assert actions(action="ticket.") == ["ticket.assigned", "ticket.replied"]
        assert actions(action="password.set") == ["password.set"]
        assert actions(customer_id="cus_b") == ["payment_pin.set", "ticket.assigned"]
        assert actions(since=start + timedelta(minutes=30), until=start + timedelta(hours=2)) == [
            "ticket.replied"
        ]
        with transaction(session):
            newest_two = audit.list_events(session, limit=2)
            after = audit.list_events(session, limit=5, before=(newest_two[-1].at, newest_two[-1].id))
        assert [e.action for e in after] == ["ticket.replied", "password.set"]
