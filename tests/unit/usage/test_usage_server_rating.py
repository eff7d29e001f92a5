"""Big batches on PostgreSQL rate the one-active-bundle case in SQL (``usage.server_rating``).

That must be invisible: for the same bundles and records, the SQL path and the
Python path leave the same records (result, charges), bundles, day counters and
events, and answer the same. Each example builds eSIMs in the states that matter
(one bundle near an alert level, two bundles, none, an unknown ICCID), applies
one batch, then applies a second batch (with repeats of the first) both ways
from the same starting point, and compares.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from crossbay.db import is_postgresql, transaction
from crossbay.usage import server_rating
from crossbay.usage.records import RecordIn, apply_records, tally_records
from tests.unit.usage.usage_factories import MB, buy, esim_with_iccid, package

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
ON_SERVER, IN_PYTHON = 1, None
# Across examples: what one example applied stays in the test's transaction.
_serial = iter(range(10**9))

a_record = st.tuples(
    st.integers(0, 4),  # which eSIM: one bundle, one small bundle, two bundles, none, unknown ICCID
    st.integers(-120, 60 * 24 * 35).map(lambda m: T0 + timedelta(minutes=m)),  # before, in, after validity
    st.sampled_from(["hk", "mo", "cn-gd", "jp"]),
    st.sampled_from([0, 1, 100_000, MB, 3 * MB]),
    st.sampled_from([0, 0, 0, 30]),
)


def _snapshot(session: Session, esim_ids: list[str]) -> dict[str, Any]:
    params = {"ids": esim_ids}
    where = "esim_id IN :ids"

    def rows(query: str) -> list[tuple[Any, ...]]:
        statement = text(query).bindparams(bindparam("ids", expanding=True))
        return [tuple(row) for row in session.execute(statement, params)]

    return {
        "records": rows(
            "SELECT record_id, esim_id, result, charged_data_bytes, charged_voice_seconds,"
            f" CAST(charges AS text) FROM usage_records WHERE {where} OR esim_id IS NULL ORDER BY record_id"
        ),
        "bundles": rows(
            "SELECT id, status, data_remaining_bytes, voice_remaining_seconds, next_alert_percent,"
            f" starts_at, expires_at FROM bundles WHERE {where} ORDER BY id"
        ),
        "daily": rows(
            f"SELECT esim_id, day, data_bytes, voice_seconds FROM usage_daily WHERE {where} ORDER BY 1, 2"
        ),
        "events": rows(
            f"SELECT kind, bundle_id, used_percent FROM usage_events WHERE {where} ORDER BY 1, 2, 3"
        ),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.lists(a_record, max_size=15),
    second=st.lists(a_record, min_size=1, max_size=40),
    repeats=st.integers(0, 5),
)
def test_sql_and_python_rating_leave_the_same_state(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    first: list[tuple[int, datetime, str, int, int]],
    second: list[tuple[int, datetime, str, int, int]],
    repeats: int,
) -> None:
    if not is_postgresql(session):
        pytest.skip("the SQL path is PostgreSQL's")
    everywhere = package(session, regions=("hk", "mo", "cn"), data_mb=20, now=T0)
    small = package(session, regions=("gba",), data_mb=4, voice_minutes=2, validity_days=2, now=T0)
    esims = [esim_with_iccid(session, now=T0) for _ in range(4)]
    buy(session, esims[0], everywhere, now=T0)
    buy(session, esims[1], small, now=T0)
    buy(session, esims[2], everywhere, now=T0)
    buy(session, esims[2], small, now=T0 + timedelta(hours=1))
    iccids = [e.iccid or "" for e in esims] + ["89852000000000000000"]

    def batch(drawn: list[tuple[int, datetime, str, int, int]]) -> list[RecordIn]:
        return [
            RecordIn(f"rec-{next(_serial)}", iccids[who], at, at, region, "CMHK", data, voice)
            for who, at, region, data, voice in drawn
        ]

    earlier = batch(first)
    with transaction(session):
        apply_records(session, earlier, now=T0)
    later = earlier[:repeats] + batch(second)
    later += later[:2]  # repeated inside the batch too
    esim_ids = [e.id for e in esims]

    outcomes = []
    for threshold in (ON_SERVER, IN_PYTHON):
        monkeypatch.setattr(server_rating, "SERVER_FROM", threshold)
        attempt = session.begin()  # a savepoint of the test's transaction: rolled back below
        answers = apply_records(session, later, now=T0 + timedelta(days=40))
        outcomes.append((answers, _snapshot(session, esim_ids)))
        attempt.rollback()
    assert outcomes[0] == outcomes[1]

    monkeypatch.setattr(server_rating, "SERVER_FROM", ON_SERVER)
    attempt = session.begin()  # a savepoint of the test's transaction: rolled back below
    tally = tally_records(session, later, now=T0 + timedelta(days=40))
    attempt.rollback()
    assert tally == Counter(r.result for r in outcomes[1][0])
