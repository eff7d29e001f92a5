"""Issue 6, "Done when": rating invariants under any sequence, on SQLite and PostgreSQL.

For any sequence of purchases, usage records (duplicated, out of order, in any
region), credit sessions (open, update, terminate, abandoned) and expiries on
one eSIM, after every step:

- used + remaining = total for every bundle, where "used" is what the stored
  records and credit sessions say they charged to it;
- nothing is rated twice: a repeated record id is answered ``duplicate`` and moves nothing;
- the grants outstanding on a bundle are exactly its reservation, and never exceed what remains;
- a bundle is never charged for usage outside its regions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.catalog.models import Package
from crossbay.db import transaction
from crossbay.usage import credit
from crossbay.usage import service as usage
from crossbay.usage.models import Bundle, CreditSession, UsageRecord
from crossbay.usage.records import RecordIn, apply_records
from crossbay.usage.regions import usage_area
from tests.unit.usage.usage_factories import buy, esim_with_iccid, package

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
MB = 1024 * 1024
POLICY = credit.CreditPolicy(slice_bytes=3 * MB, slice_seconds=60, validity_seconds=600, timeout_seconds=900)
REGIONS = st.sampled_from(["hk", "mo", "cn-gd", "cn", "jp"])
PACKAGES = (
    dict(regions=("hk",), data_mb=10),
    dict(regions=("gba",), data_mb=8, starts="first_use", validity_days=1),
    dict(regions=("hk", "mo", "cn"), data_mb=5, voice_minutes=3, validity_days=2),
    dict(regions=("cn",), data_mb=4, fair_use="384 kbps after the quota"),
)

buy_op = st.tuples(st.just("buy"), st.integers(0, len(PACKAGES) - 1))
record_op = st.tuples(
    st.just("record"),
    st.integers(0, 12 * MB),
    st.integers(0, 200),
    REGIONS,
    st.integers(-48, 6),  # hours before (or a little after) now: records arrive late and out of order
    st.booleans(),  # repeat an earlier record id instead of a new one
)
open_op = st.tuples(st.just("open"), REGIONS, st.sampled_from(["data", "voice"]))
update_op = st.tuples(st.just("update"), st.integers(0, 9), st.integers(0, 5 * MB))
end_op = st.tuples(st.just("terminate"), st.integers(0, 9), st.integers(0, 5 * MB))
time_op = st.tuples(st.just("time"), st.integers(1, 40))
OPS = st.lists(st.one_of(buy_op, record_op, open_op, update_op, end_op, time_op), min_size=1, max_size=25)

_packages: dict[int, list[Package]] = {}
_serial = iter(range(10**9))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_rating_invariants_hold_for_any_sequence(session: Session, ops: list[tuple[Any, ...]]) -> None:
    key = id(session)
    if key not in _packages:
        _packages[key] = [package(session, now=T0 - timedelta(days=1), **spec) for spec in PACKAGES]  # type: ignore[arg-type]
    packages = _packages[key]
    esim = esim_with_iccid(session, now=T0)
    iccid = esim.iccid or ""
    now = T0
    record_ids: list[str] = []
    sessions: list[tuple[str, int]] = []  # (session id, last request number)
    for op in ops:
        if op[0] == "buy":
            buy(session, esim, packages[op[1]], now=now)
        elif op[0] == "record":
            _, data, voice, region, hours, repeat = op
            rid = record_ids[len(record_ids) // 2] if repeat and record_ids else f"p-{next(_serial)}"
            at = now + timedelta(hours=hours)
            rec = RecordIn(rid, iccid, at, at + timedelta(minutes=1), region, "CMHK", data, voice)
            with transaction(session):
                [result] = apply_records(session, [rec], now=now)
            if rid in record_ids:
                assert (result.result, result.charged_data_bytes, result.charged_voice_seconds) == (
                    "duplicate",
                    0,
                    0,
                )
            record_ids.append(rid)
        elif op[0] == "open":
            sid = f"gy;{next(_serial)}"
            with transaction(session):
                credit.open_session(
                    session,
                    session_id=sid,
                    iccid=iccid,
                    service=op[2],
                    region=op[1],
                    requested=None,
                    policy=POLICY,
                    now=now,
                )
            sessions.append((sid, 0))
        elif op[0] in ("update", "terminate") and sessions:
            index = op[1] % len(sessions)
            sid, number = sessions[index]
            with transaction(session):
                open_now = session.get(CreditSession, sid, populate_existing=True)
                assert open_now is not None
                if open_now.status != "open":
                    continue
                if op[0] == "update":
                    credit.update_session(
                        session,
                        session_id=sid,
                        request_number=number + 1,
                        used=op[2],
                        requested=None,
                        policy=POLICY,
                        now=now,
                    )
                else:
                    credit.terminate_session(
                        session, session_id=sid, request_number=number + 1, used=op[2], now=now
                    )
            sessions[index] = (sid, number + 1)
        elif op[0] == "time":
            now += timedelta(hours=op[1])
            with transaction(session):
                usage.expire_bundles(session, now=now)
                credit.close_abandoned_sessions(session, now=now)
        check_invariants(session, esim.id)


def check_invariants(session: Session, esim_id: str) -> None:
    with transaction(session):
        bundles = {
            b.id: b
            for b in session.scalars(
                select(Bundle).where(Bundle.esim_id == esim_id).execution_options(populate_existing=True)
            )
        }
        records = list(session.scalars(select(UsageRecord).where(UsageRecord.esim_id == esim_id)))
        credits = list(session.scalars(select(CreditSession).where(CreditSession.esim_id == esim_id)))
    used = defaultdict(lambda: [0, 0])
    for rec in records:
        assert rec.charged_data_bytes <= rec.data_bytes and rec.charged_voice_seconds <= rec.voice_seconds
        for bundle_id, data, voice in rec.charges:
            assert bundles[bundle_id].area_mask & usage_area(rec.region), "charged outside its regions"
            used[bundle_id][0] += data
            used[bundle_id][1] += voice
    reserved = defaultdict(lambda: [0, 0])
    for cs in credits:
        meter = 0 if cs.service == "data" else 1
        for bundle_id, units in cs.charges.items():
            assert bundles[bundle_id].area_mask & cs.area, "a session charged a bundle outside its regions"
            used[bundle_id][meter] += units
        if cs.status == "open" and cs.bundle_id and not cs.throttled:
            reserved[cs.bundle_id][meter] += cs.granted
        if cs.status == "closed":
            assert cs.granted == 0 or cs.throttled or cs.close_reason == "refused"
    for bundle in bundles.values():
        data_left, voice_left = bundle.data_remaining_bytes or 0, bundle.voice_remaining_seconds or 0
        assert used[bundle.id][0] + data_left == (bundle.data_total_bytes or 0), (
            "data: used + remaining != total"
        )
        assert used[bundle.id][1] + voice_left == (bundle.voice_total_seconds or 0), (
            "voice: used + remaining != total"
        )
        assert [bundle.data_reserved_bytes, bundle.voice_reserved_seconds] == reserved[bundle.id]
        assert 0 <= bundle.data_reserved_bytes <= data_left, "granted more than remains"
        assert 0 <= bundle.voice_reserved_seconds <= voice_left, "granted more than remains"
