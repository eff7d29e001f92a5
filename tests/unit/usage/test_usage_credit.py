"""Credit control on the real database: reserve, commit, release, replays and the timeout sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from crossbay.db import transaction
from crossbay.esim.models import Esim
from crossbay.usage import credit
from crossbay.usage.errors import (
    CreditRequestOutOfOrder,
    CreditSessionClosed,
    CreditSessionExists,
    UnknownIccid,
)
from crossbay.usage.models import CreditSession
from tests.unit.usage.usage_factories import MB, buy, esim_with_iccid, package, reload

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
POLICY = credit.CreditPolicy(
    slice_bytes=15 * MB, slice_seconds=300, validity_seconds=600, timeout_seconds=900
)
_ids = iter(range(10**9))


def open_(
    session: Session, esim: Esim, *, region: str = "hk", now: datetime = T0, sid: str | None = None
) -> dict[str, Any]:
    with transaction(session):
        return credit.open_session(
            session,
            session_id=sid or f"gy;{next(_ids)}",
            iccid=esim.iccid or "",
            service="data",
            region=region,
            requested=None,
            policy=POLICY,
            now=now,
        )


def update(session: Session, sid: str, number: int, used: int, now: datetime = T0) -> dict[str, Any]:
    with transaction(session):
        return credit.update_session(
            session, session_id=sid, request_number=number, used=used, requested=None, policy=POLICY, now=now
        )


def terminate(session: Session, sid: str, number: int, used: int) -> dict[str, Any]:
    with transaction(session):
        return credit.terminate_session(session, session_id=sid, request_number=number, used=used, now=T0)


class TestCreditControl:
    def test_reserve_commit_release(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, data_mb=40, now=T0), now=T0)
        first = open_(session, esim)
        assert (first["result_code"], first["granted_units"], first["final_unit"]) == (2001, 15 * MB, None)
        assert reload(session, bundle).data_reserved_bytes == 15 * MB
        second = update(session, first["session_id"], 1, 10 * MB)
        assert second["granted_units"] == 15 * MB
        held = reload(session, bundle)
        assert (held.data_remaining_bytes, held.data_reserved_bytes) == (30 * MB, 15 * MB)
        done = terminate(session, first["session_id"], 2, 5 * MB)
        assert done["status"] == "closed"
        after = reload(session, bundle)
        assert (after.data_remaining_bytes, after.data_reserved_bytes) == (25 * MB, 0)

    def test_the_last_slice_carries_a_final_unit_indication_then_the_limit_is_reached(
        self, session: Session
    ) -> None:
        esim = esim_with_iccid(session, now=T0)
        buy(session, esim, package(session, data_mb=20, now=T0), now=T0)
        first = open_(session, esim)
        last = open_(session, esim)
        assert last["granted_units"] == 5 * MB
        assert last["final_unit"] == {"action": "terminate", "throttle_kbps": None}
        refused = open_(session, esim)
        assert (refused["result_code"], refused["result"]) == (4012, "DIAMETER_CREDIT_LIMIT_REACHED")
        assert refused["status"] == "closed" and first["final_unit"] is None

    def test_fair_use_grants_throttled_units_free_of_charge(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(
            session, esim, package(session, data_mb=10, fair_use="384 kbps after quota", now=T0), now=T0
        )
        first = open_(session, esim)
        assert first["final_unit"] == {"action": "throttle", "throttle_kbps": 384}
        slow = update(session, first["session_id"], 1, 10 * MB)
        assert (slow["result_code"], slow["granted_units"]) == (2001, 15 * MB)
        update(session, first["session_id"], 2, 15 * MB)
        assert reload(session, bundle).data_remaining_bytes == 0

    def test_out_of_region_is_refused(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        buy(session, esim, package(session, regions=("hk",), now=T0), now=T0)
        assert open_(session, esim, region="cn")["result_code"] == 4012

    def test_retransmissions_are_answered_again_and_stale_ones_refused(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, now=T0), now=T0)
        first = open_(session, esim, sid="gy;replay")
        assert open_(session, esim, sid="gy;replay") == first
        answer = update(session, "gy;replay", 1, MB)
        assert update(session, "gy;replay", 1, MB) == answer
        assert reload(session, bundle).data_remaining_bytes == 99 * MB
        with pytest.raises(CreditSessionExists):
            open_(session, esim, sid="gy;replay")
        update(session, "gy;replay", 2, MB)
        with pytest.raises(CreditRequestOutOfOrder):
            update(session, "gy;replay", 1, MB)
        terminate(session, "gy;replay", 3, 0)
        with pytest.raises(CreditSessionClosed):
            update(session, "gy;replay", 4, MB)

    def test_unknown_iccid(self, session: Session) -> None:
        stranger = Esim(iccid="8985200999999999998")
        with pytest.raises(UnknownIccid):
            open_(session, stranger)

    def test_abandoned_sessions_give_their_grant_back(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, now=T0), now=T0)
        sid = open_(session, esim)["session_id"]
        with transaction(session):
            assert credit.close_abandoned_sessions(session, now=T0 + timedelta(seconds=899)) == 0
        with transaction(session):
            assert credit.close_abandoned_sessions(session, now=T0 + timedelta(seconds=901)) >= 1
            closed = session.get(CreditSession, sid)
            assert closed is not None and (closed.status, closed.close_reason) == ("closed", "timed_out")
        assert reload(session, bundle).data_reserved_bytes == 0

    def test_first_grant_marks_the_esim_in_use(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        buy(session, esim, package(session, now=T0), now=T0)
        open_(session, esim)
        with transaction(session):
            fresh = session.get(Esim, esim.id, populate_existing=True)
            assert fresh is not None and fresh.first_used_at == T0
