"""200 concurrent credit sessions on one eSIM never over-grant (issue 6, "Done when"; PostgreSQL).

Each thread has its own database session and calls the credit-control use cases
directly, all released at once by a barrier: 200 CCR-I, then 200 CCR-U, then 200
CCR-T against a 100 MB bundle granted in 15 MB slices.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from crossbay.db import make_session_factory, transaction
from crossbay.usage import credit
from crossbay.usage.models import Bundle, CreditSession
from tests.unit.usage.usage_factories import MB, buy, esim_with_iccid, package

THREADS = 200
POLICY = credit.CreditPolicy(
    slice_bytes=15 * MB, slice_seconds=300, validity_seconds=600, timeout_seconds=900
)
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def test_two_hundred_concurrent_sessions_never_over_grant(committed: sa.Engine) -> None:
    if committed.dialect.name != "postgresql":
        pytest.skip("row-lock concurrency is PostgreSQL's; SQLite runs one writer at a time anyway")
    engine = sa.create_engine(committed.url, pool_size=40, max_overflow=0, hide_parameters=True)
    sessions = make_session_factory(engine)
    try:
        with sessions() as setup:
            esim = esim_with_iccid(setup, now=NOW)
            bundle = buy(setup, esim, package(setup, data_mb=100, now=NOW), now=NOW)
        iccid = esim.iccid or ""

        def all_at_once(step: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
            barrier = threading.Barrier(THREADS)

            def run(index: int) -> dict[str, Any]:
                barrier.wait(timeout=60)
                return step(index)

            with ThreadPoolExecutor(THREADS) as pool:
                return list(pool.map(run, range(THREADS)))

        def open_one(index: int) -> dict[str, Any]:
            with sessions() as session, transaction(session):
                return credit.open_session(
                    session,
                    session_id=f"gy;{index}",
                    iccid=iccid,
                    service="data",
                    region="hk",
                    requested=None,
                    policy=POLICY,
                    now=NOW,
                )

        opened = all_at_once(open_one)
        granted = {a["session_id"]: a["granted_units"] for a in opened}
        assert sum(granted.values()) == 100 * MB, "every byte granted once, never more"
        assert sorted(v for v in granted.values() if v) == [10 * MB] + [15 * MB] * 6
        check(sessions, bundle.id, total=100 * MB)

        def update_one(index: int) -> dict[str, Any]:
            sid = f"gy;{index}"
            with sessions() as session, transaction(session):
                current = session.get(CreditSession, sid)
                assert current is not None
                if current.status != "open":
                    return {}
                return credit.update_session(
                    session,
                    session_id=sid,
                    request_number=1,
                    used=granted[sid] // 2,
                    requested=None,
                    policy=POLICY,
                    now=NOW,
                )

        all_at_once(update_one)
        check(sessions, bundle.id, total=100 * MB)

        def terminate_one(index: int) -> dict[str, Any]:
            sid = f"gy;{index}"
            with sessions() as session, transaction(session):
                current = session.get(CreditSession, sid)
                assert current is not None
                if current.status != "open":
                    return {}
                return credit.terminate_session(session, session_id=sid, request_number=2, used=MB, now=NOW)

        all_at_once(terminate_one)
        left = check(sessions, bundle.id, total=100 * MB)
        assert left.data_reserved_bytes == 0
    finally:
        engine.dispose()


def check(sessions: Any, bundle_id: str, *, total: int) -> Bundle:
    """Grants outstanding = the bundle's reservation <= what remains; charged + remaining = total."""
    with sessions() as session, transaction(session):
        bundle = session.get(Bundle, bundle_id)
        credits = list(session.scalars(select(CreditSession).where(CreditSession.esim_id == bundle.esim_id)))
        outstanding = sum(c.granted for c in credits if c.status == "open" and not c.throttled)
        charged = sum(c.charged_total for c in credits)
    assert outstanding == bundle.data_reserved_bytes <= (bundle.data_remaining_bytes or 0)
    assert charged + (bundle.data_remaining_bytes or 0) == total
    return bundle
