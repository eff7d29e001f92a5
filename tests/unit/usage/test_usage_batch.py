"""Batch rating (``usage.batch``) gives exactly what rating each record in usage order gives.

The one-active-bundle shortcut must be invisible: same result and charges for
every record, same bundle state, same events, same daily counters, whatever
the bundles (one or several, queued, exhausted, reserved, near an alert level)
and the records (any region, time, size, order).
"""

from __future__ import annotations

import copy
import gc
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.clock import hk_date
from crossbay.db import transaction
from crossbay.usage import balances as balances_module
from crossbay.usage import batch as batch_module
from crossbay.usage import service as usage
from crossbay.usage.balances import BUNDLE_COLUMNS
from crossbay.usage.batch import rate_batch
from crossbay.usage.models import UsageEvent, UsageRecord
from crossbay.usage.rating import ACTIVE, ALERT_LEVELS, EXHAUSTED, QUEUED, Balance, Rating, Usage, rate
from crossbay.usage.records import RecordIn, apply_records
from crossbay.usage.regions import area_mask, usage_area
from tests.unit.usage.usage_factories import MB, buy, esim_with_iccid, package, reload

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
REGION_SETS = [("hk",), ("gba",), ("hk", "mo", "cn"), ("cn",)]


@dataclass(frozen=True)
class Rec:
    record_id: str
    iccid: str
    started_at: datetime
    region: str
    data_bytes: int
    voice_seconds: int


@st.composite
def a_balance(draw: st.DrawFn, esim_id: str, name: str) -> Balance:
    status = draw(st.sampled_from([ACTIVE, ACTIVE, ACTIVE, QUEUED, EXHAUSTED]))
    created = T0 + timedelta(hours=draw(st.integers(-48, 24)))
    data_total = draw(st.sampled_from([None, 500, 1000, 5000]))
    voice_total = draw(st.sampled_from([None, None, 300]))
    if data_total is None and voice_total is None:
        data_total = 1000
    data_left = None if data_total is None else draw(st.integers(0 if status == EXHAUSTED else 1, data_total))
    voice_left = None if voice_total is None else draw(st.integers(0, voice_total))
    started = status != QUEUED
    expires = created + timedelta(hours=draw(st.integers(1, 200))) if started else None
    return Balance(
        id=name,
        esim_id=esim_id,
        status=status,
        areas=area_mask(draw(st.sampled_from(REGION_SETS))),
        created_at=created,
        starts_at=created if started else None,
        expires_at=expires,
        validity_days=draw(st.integers(1, 3)),
        throttle_kbps=draw(st.sampled_from([None, None, 384])),
        data_total=data_total,
        data_remaining=data_left,
        data_reserved=draw(st.integers(0, data_left or 0)),
        voice_total=voice_total,
        voice_remaining=voice_left,
        voice_reserved=0,
        next_alert_percent=draw(st.sampled_from([None, *ALERT_LEVELS])),
    )


@st.composite
def a_batch(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, list[Balance]], list[Rec]]:
    esims = [f"esim_{i}" for i in range(draw(st.integers(1, 4)))]
    esim_of = {f"icc{i}": esim for i, esim in enumerate(esims)}
    balances: dict[str, list[Balance]] = {}
    for esim in esims:
        # Mostly one bundle (the shortcut's case), sometimes none or several.
        count = draw(st.sampled_from([1, 1, 1, 0, 2, 3]))
        group = [draw(a_balance(esim, f"bdl_{esim}_{n}")) for n in range(count)]
        if group:
            balances[esim] = group
    records = draw(
        st.lists(
            st.builds(
                Rec,
                record_id=st.uuids().map(str),
                iccid=st.sampled_from([*esim_of, "unknown"]),
                started_at=st.integers(-60, 240).map(lambda m: T0 + timedelta(minutes=m * 17)),
                region=st.sampled_from(["hk", "mo", "cn-gd", "cn", "jp", "CN-BJ"]),
                data_bytes=st.sampled_from([0, 0, 1, 10, 99, 250, 700]),
                voice_seconds=st.sampled_from([0, 0, 0, 30, 200]),
            ),
            max_size=40,
            unique_by=lambda r: r.record_id,
        )
    )
    return esim_of, balances, records


def one_by_one(
    records: list[Rec], esim_of: dict[str, str], balances: dict[str, list[Balance]]
) -> tuple[dict[str, Rating], dict[tuple[str, date], tuple[int, int]]]:
    """The reference: every record rated alone, in usage order, as the engine always did."""
    ratings: dict[str, Rating] = {}
    daily: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for record in sorted(records, key=attrgetter("started_at", "record_id")):
        esim = esim_of.get(record.iccid)
        if esim is None:
            ratings[record.record_id] = Rating("unknown_iccid")
            continue
        usage = Usage(record.started_at, usage_area(record.region), record.data_bytes, record.voice_seconds)
        ratings[record.record_id] = rate(usage, balances.get(esim, []))
        if record.data_bytes or record.voice_seconds:
            day = daily[(esim, hk_date(record.started_at))]
            day[0] += record.data_bytes
            day[1] += record.voice_seconds
    return ratings, {key: (d, v) for key, (d, v) in daily.items()}


@settings(max_examples=400, deadline=None)
@given(a_batch())
def test_batch_rating_equals_rating_one_by_one(
    case: tuple[dict[str, str], dict[str, list[Balance]], list[Rec]],
) -> None:
    esim_of, balances, records = case
    expected_balances = copy.deepcopy(balances)
    expected, expected_daily = one_by_one(records, esim_of, expected_balances)
    got = rate_batch(records, esim_of, balances)
    assert got.results() == expected
    assert got.tally() == Counter(rating.result for rating in expected.values())
    assert got.daily == expected_daily
    assert got.used_esims == {esim for esim, _ in expected_daily}
    assert balances == expected_balances  # remaining, reserved, status, alert level, events, changed


def test_a_batch_that_crosses_an_alert_level_raises_the_event_where_the_record_did() -> None:
    bundle = Balance(
        id="bdl_1",
        esim_id="esim_1",
        status=ACTIVE,
        areas=area_mask(["hk"]),
        created_at=T0 - timedelta(days=1),
        starts_at=T0 - timedelta(days=1),
        expires_at=T0 + timedelta(days=5),
        validity_days=7,
        throttle_kbps=None,
        data_total=1000,
        data_remaining=1000,
        data_reserved=0,
        voice_total=None,
        voice_remaining=None,
        voice_reserved=0,
        next_alert_percent=80,
    )
    records = [Rec(f"r{i}", "icc", T0 + timedelta(minutes=i), "hk", 150, 0) for i in range(7)]
    rate_batch(records, {"icc": "esim_1"}, {"esim_1": [bundle]})
    # 6 x 150 = 900 (90%) crosses 80 then 90 on the way; the 7th empties it.
    assert bundle.events == [("threshold", 90), ("exhausted", 100)]
    assert bundle.status == EXHAUSTED and bundle.data_remaining == 0


@pytest.mark.parametrize("order", ["in time order", "reversed"])
def test_the_hong_kong_day_of_each_record_agrees_with_the_zone(order: str) -> None:
    """The batch reuses the day of the record before while the time stays inside it (and before
    1980, when Hong Kong kept summer time, works it out each time)."""
    other = ZoneInfo("America/New_York")
    start = datetime(1975, 1, 1, tzinfo=UTC)
    moments = [
        moment
        for hours in range(0, 24 * 365 * 60, 997)
        for at in (start + timedelta(hours=hours, minutes=hours % 60),)
        for moment in (at, at.astimezone(other), at + timedelta(minutes=1), at + timedelta(hours=7))
    ]
    if order == "reversed":
        moments.reverse()
    records = [Rec(f"r{n}", f"icc{n}", moment, "hk", 1, 0) for n, moment in enumerate(moments)]
    got = rate_batch(records, {f"icc{n}": f"e{n}" for n in range(len(records))}, {})
    assert got.daily == {(f"e{n}", hk_date(moment)): (1, 0) for n, moment in enumerate(moments)}


def test_the_collector_is_back_on_after_a_batch_even_when_it_fails() -> None:
    assert gc.isenabled()
    with batch_module.paused_gc():
        assert not gc.isenabled()
        with batch_module.paused_gc():
            pass
        assert not gc.isenabled(), "the inner pause leaves it to the outer one"
    assert gc.isenabled()
    try:
        with batch_module.paused_gc():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()


@pytest.fixture(params=["arrays", "staged"])
def bulk_writes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """PostgreSQL writes and rates big batches through temporary tables: run the small ones both ways."""
    if request.param == "staged":
        monkeypatch.setattr(balances_module, "STAGE_FROM", 1)
    return str(request.param)


@pytest.mark.usefixtures("bulk_writes")
class TestOnTheDatabase:
    """On PostgreSQL a record applied before fails the optimistic COPY: the batch is rated again."""

    def test_old_and_new_records_in_one_batch(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, now=T0), now=T0)
        iccid = esim.iccid or ""
        old = RecordIn("old-1", iccid, T0, T0 + timedelta(minutes=1), "hk", "CMHK", 10 * MB, 0)
        new = RecordIn("new-1", iccid, T0, T0 + timedelta(minutes=1), "hk", "CMHK", 5 * MB, 0)
        with transaction(session):
            assert [r.result for r in apply_records(session, [old], now=T0)] == ["rated"]
        with transaction(session):
            results = apply_records(session, [old, new, new], now=T0)
        assert [(r.result, r.charged_data_bytes) for r in results] == [
            ("duplicate", 0),
            ("rated", 5 * MB),
            ("duplicate", 0),
        ]
        assert reload(session, bundle).data_remaining_bytes == 85 * MB
        with transaction(session):
            [today] = usage.daily_usage(session, esim_id=esim.id, days=1, now=T0)
            stored = session.get(UsageRecord, "new-1")
            assert stored is not None
            assert stored.charges == [[bundle.id, 5 * MB, 0]] and stored.esim_id == esim.id
        assert today.data_bytes == 15 * MB

    def test_a_big_batch_goes_through_the_one_pass_and_the_slow_path_together(self, session: Session) -> None:
        busy, quiet = esim_with_iccid(session, now=T0), esim_with_iccid(session, now=T0)
        pack = package(session, data_mb=100, now=T0)
        big = buy(session, busy, pack, now=T0)
        first = buy(session, quiet, pack, now=T0)
        second = buy(session, quiet, pack, now=T0)
        records = [
            RecordIn(f"b-{esim.id}-{i}", esim.iccid or "", at, at, region, "CMHK", MB, 0)
            for i in range(300)
            for esim, region in ((busy, "hk"), (quiet, "hk" if i % 2 else "jp"))
            for at in [T0 + timedelta(seconds=i)]
        ]
        with transaction(session):
            results = apply_records(session, records, now=T0)
        summary = Counter(r.result for r in results)
        # busy: 100 MB paid in 1 MB records (the batch empties it: record by record), then over quota.
        # quiet: two bundles (record by record); its "jp" half covers nothing.
        assert summary == {"rated": 100 + 150, "over_quota": 200, "no_bundle": 150}
        assert reload(session, big).status == "exhausted"
        assert (
            reload(session, first).data_remaining_bytes + reload(session, second).data_remaining_bytes
            == 50 * MB
        )
        with transaction(session):
            kinds = sorted(
                e.kind for e in session.scalars(select(UsageEvent).where(UsageEvent.bundle_id == big.id))
            )
        assert kinds == ["exhausted", "threshold", "threshold"]  # 80% and 90% used, then empty


def test_bundle_columns_are_read_in_balance_field_order() -> None:
    """Credit control builds balances from row values by position."""
    renamed = {"area_mask": "areas"}
    names = [renamed.get(c, c) for c in BUNDLE_COLUMNS.split(", ")]
    prefixes = [f.name for f in fields(Balance)][: len(names)]
    assert [n.replace("_bytes", "").replace("_seconds", "") for n in names] == prefixes


def debit_and_see(balance: Balance, data: int, voice: int) -> bool:
    """The reference for ``absorbs``: debit a copy and look at what became of it."""
    if data > balance.available("data") or voice > balance.available("voice"):
        return False
    probe = copy.deepcopy(balance)
    batch_module.debit(probe, data, voice)
    return probe.status == ACTIVE and not probe.events


@settings(max_examples=1000, deadline=None)
@given(
    st.data(),
    st.integers(0, 6000),
    st.sampled_from([0, 0, 1, 30, 299, 300, 301]),
)
def test_absorbs_says_what_debiting_would_do(data: st.DataObject, data_bytes: int, voice: int) -> None:
    balance = data.draw(a_balance("esim_1", "bdl_1").filter(lambda b: b.status == ACTIVE))
    assert batch_module.absorbs(balance, data_bytes, voice) == debit_and_see(balance, data_bytes, voice)


def test_batches_that_keep_overlapping_still_let_the_collector_run(monkeypatch: pytest.MonkeyPatch) -> None:
    collections: list[str] = []

    def seen(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(phase)

    gc.callbacks.append(seen)
    try:
        monkeypatch.setattr(batch_module, "LONGEST_PAUSE_SECONDS", 0.0)
        with batch_module.paused_gc():  # a batch that outlives the next one
            with batch_module.paused_gc():
                pass
            assert collections, "the collector never ran while the pause went on"
            assert not gc.isenabled()
        assert gc.isenabled()

        monkeypatch.setattr(batch_module, "LONGEST_PAUSE_SECONDS", 3600.0)
        collections.clear()
        with batch_module.paused_gc():
            with batch_module.paused_gc():
                pass
            assert not collections, "a short pause ends without a collection"
    finally:
        gc.callbacks.remove(seen)
