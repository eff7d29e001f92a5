"""Newest-first paging (``crossbay.paging``): every item once, in order, across pages; bad cursors refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crossbay.db import new_id, transaction
from crossbay.errors import ValidationFailed
from crossbay.notify.models import Notification
from crossbay.paging import decode_cursor, encode_cursor, newest_first, split_page
from tests.unit.factories import make_customer

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


# Each example empties the table first: the session fixture's state is its own to reset.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 3), min_size=0, max_size=12), st.integers(1, 4))
def test_pages_hold_every_item_once_newest_first(session: Session, minutes: list[int], limit: int) -> None:
    # Few distinct times: most items share theirs with another, so the id must break the ties.
    customer = make_customer(session, now=T0)
    with transaction(session):
        session.execute(delete(Notification))
        for minute in minutes:
            at = T0 + timedelta(minutes=minute)
            session.add(Notification(id=new_id("ntf"), customer_id=customer.id, kind="k", values={}, at=at))
    with transaction(session):
        everything = list(
            session.scalars(select(Notification).where(Notification.customer_id == customer.id))
        )
        expected = sorted(everything, key=lambda n: (n.at, n.id), reverse=True)
        seen: list[Notification] = []
        cursor: str | None = None
        while True:
            query = select(Notification).where(Notification.customer_id == customer.id)
            before = decode_cursor(cursor)
            found = list(
                session.scalars(
                    newest_first(query, Notification.at, Notification.id, before=before, limit=limit + 1)
                )
            )
            page, cursor = split_page(found, limit, lambda n: (n.at, n.id))
            seen.extend(page)
            if cursor is None:
                break
    assert [n.id for n in seen] == [n.id for n in expected]


@pytest.mark.parametrize("cursor", ["not base64!", "bm8gYmFy", "MjAyNi0xMy0wMXxpZA=="])
def test_a_cursor_that_does_not_decode_is_refused(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor)


def test_a_cursor_round_trips_in_utc() -> None:
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "ord_1")) == (at, "ord_1")
