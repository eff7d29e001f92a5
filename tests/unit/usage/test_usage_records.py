"""Usage records on the real database (SQLite and PostgreSQL): rated once, kept whatever happens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.db import transaction
from crossbay.usage import service as usage
from crossbay.usage.models import UsageEvent, UsageRecord
from crossbay.usage.records import RecordIn, apply_records
from tests.unit.usage.usage_factories import MB, buy, esim_with_iccid, package, reload

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
_serial = iter(range(10**9))


def record(
    iccid: str,
    *,
    data: int = 0,
    voice: int = 0,
    region: str = "hk",
    at: datetime = T0,
    rid: str | None = None,
) -> RecordIn:
    return RecordIn(
        record_id=rid or f"r-{next(_serial)}-{id(object())}",
        iccid=iccid,
        started_at=at,
        ended_at=at + timedelta(minutes=5),
        region=region,
        network="CMHK",
        data_bytes=data,
        voice_seconds=voice,
    )


def apply(session: Session, records: list[RecordIn], now: datetime = T0) -> list[str]:
    with transaction(session):
        return [r.result for r in apply_records(session, records, now=now)]


class TestApplyRecords:
    def test_rates_against_the_bundle_and_a_repeat_changes_nothing(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, now=T0), now=T0)
        first = record(esim.iccid or "", data=10 * MB)
        assert apply(session, [first]) == ["rated"]
        assert apply(session, [first, first]) == ["duplicate", "duplicate"]
        assert reload(session, bundle).data_remaining_bytes == 90 * MB

    def test_a_record_repeated_inside_one_batch_is_rated_once(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, now=T0), now=T0)
        again = record(esim.iccid or "", data=MB)
        assert apply(session, [again, again]) == ["rated", "duplicate"]
        assert reload(session, bundle).data_remaining_bytes == 99 * MB

    def test_unknown_iccid_and_out_of_region_records_are_kept(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, regions=("gba",), now=T0), now=T0)
        unknown, outside = (
            record("8985200999999999999", data=MB),
            record(esim.iccid or "", data=MB, region="cn"),
        )
        assert apply(session, [unknown, outside]) == ["unknown_iccid", "no_bundle"]
        with transaction(session):
            kept = {
                r.record_id: r
                for r in session.scalars(
                    select(UsageRecord).where(
                        UsageRecord.record_id.in_([unknown.record_id, outside.record_id])
                    )
                )
            }
        assert kept[unknown.record_id].esim_id is None and kept[unknown.record_id].result == "unknown_iccid"
        assert kept[outside.record_id].charged_data_bytes == 0
        assert reload(session, bundle).data_remaining_bytes == 100 * MB

    def test_exhaustion_changes_state_and_raises_events(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, now=T0), now=T0)
        assert apply(session, [record(esim.iccid or "", data=85 * MB)]) == ["rated"]
        assert apply(session, [record(esim.iccid or "", data=20 * MB)]) == ["over_quota"]
        assert reload(session, bundle).status == "exhausted"
        with transaction(session):
            kinds = [
                (e.kind, e.used_percent)
                for e in session.scalars(
                    select(UsageEvent)
                    .where(UsageEvent.bundle_id == bundle.id)
                    .order_by(UsageEvent.at, UsageEvent.kind)
                )
            ]
        assert sorted(kinds) == [("exhausted", 100), ("threshold", 85)]

    def test_fair_use_package_throttles_once_the_quota_is_gone(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        slow = package(session, fair_use="Speed reduced to 384 kbps after the quota", now=T0)
        buy(session, esim, slow, now=T0)
        assert apply(session, [record(esim.iccid or "", data=120 * MB)]) == ["throttled"]

    def test_first_use_pack_starts_with_its_first_record(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, starts="first_use", validity_days=1, now=T0), now=T0)
        used_at = T0 + timedelta(days=3)
        apply(session, [record(esim.iccid or "", data=MB, at=used_at)], now=used_at)
        started = reload(session, bundle)
        assert started.status == "active" and started.starts_at == used_at
        assert started.expires_at == usage.bundle_expiry(used_at, 1)

    def test_daily_usage_counts_hong_kong_days(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        buy(session, esim, package(session, now=T0), now=T0)
        late_evening_hk = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 23:30 in Hong Kong
        after_midnight_hk = datetime(2026, 11, 26, 16, 30, tzinfo=UTC)  # 00:30 the next HK day
        apply(
            session,
            [
                record(esim.iccid or "", data=MB, at=late_evening_hk),
                record(esim.iccid or "", data=2 * MB, voice=0, at=after_midnight_hk),
            ],
            now=after_midnight_hk,
        )
        with transaction(session):
            days = usage.daily_usage(session, esim_id=esim.id, days=3, now=after_midnight_hk)
        assert [(d.day.isoformat(), d.data_bytes) for d in days] == [
            ("2026-11-25", 0),
            ("2026-11-26", MB),
            ("2026-11-27", 2 * MB),
        ]


class TestExpiry:
    def test_expired_bundles_stop_rating_and_raise_an_event(self, session: Session) -> None:
        esim = esim_with_iccid(session, now=T0)
        bundle = buy(session, esim, package(session, validity_days=1, now=T0), now=T0)
        later = T0 + timedelta(days=2)
        with transaction(session):
            assert usage.expire_bundles(session, now=later) >= 1
        assert reload(session, bundle).status == "expired"
        # A late record from while it was valid still finds no live bundle: expired bundles are never charged.
        assert apply(session, [record(esim.iccid or "", data=MB, at=T0)], now=later) == ["no_bundle"]
        with transaction(session):
            kinds = [
                e.kind for e in session.scalars(select(UsageEvent).where(UsageEvent.bundle_id == bundle.id))
            ]
        assert kinds == ["expired"]


def test_a_stored_record_reads_back_as_it_was_sent(session: Session) -> None:
    esim = esim_with_iccid(session, now=T0)
    bundle = buy(session, esim, package(session, now=T0), now=T0)
    hong_kong = timezone(timedelta(hours=8))
    sent = record(esim.iccid, data=3 * MB, at=(T0 + timedelta(hours=1)).astimezone(hong_kong))
    assert apply(session, [sent]) == ["rated"]
    with transaction(session):
        stored = session.get(UsageRecord, sent.record_id)
        assert stored is not None
        assert (stored.started_at, stored.ended_at) == (sent.started_at, sent.ended_at)
        # Stored as every other time is, so the database compares and orders them alike.
        found = select(UsageRecord.record_id).where(UsageRecord.started_at == sent.started_at)
        assert session.scalar(found) == sent.record_id
        assert stored.charges == [[bundle.id, 3 * MB, 0]]
        assert (stored.esim_id, stored.received_at) == (esim.id, T0)
