"""Usage records from the network, rated in batches, each applied exactly once.

A batch is one transaction: the bundles of its eSIMs are locked first, then the
record ids already applied are looked up (so a concurrent batch carrying the
same records waits for the first and then sees them), the new records are rated
in memory in usage order, and the records, the bundles, the daily counters and
the bundle events are written back in a few set-based statements (COPY on
PostgreSQL). Records for an unknown ICCID or outside every bundle are stored
with that result, never dropped.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any

import psycopg
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crossbay.clock import Clock, hk_date
from crossbay.db import is_postgresql, transaction
from crossbay.esim import service as esim_service
from crossbay.esim.models import Esim
from crossbay.usage.balances import add_daily_usage, chunks, load_balances, member_of, save_balances
from crossbay.usage.models import UsageRecord
from crossbay.usage.rating import DUPLICATE, UNKNOWN_ICCID, Rating, Usage, rate
from crossbay.usage.regions import usage_area

log = logging.getLogger("crossbay.usage")


@dataclass(frozen=True, slots=True)
class RecordIn:
    record_id: str
    iccid: str
    started_at: datetime
    ended_at: datetime
    region: str
    network: str
    data_bytes: int
    voice_seconds: int


@dataclass(frozen=True, slots=True)
class RecordResult:
    record_id: str
    result: str
    charged_data_bytes: int
    charged_voice_seconds: int


_COLUMNS = (
    "record_id",
    "iccid",
    "esim_id",
    "started_at",
    "ended_at",
    "region",
    "network",
    "data_bytes",
    "voice_seconds",
    "result",
    "charged_data_bytes",
    "charged_voice_seconds",
    "charges",
    "received_at",
)


def apply_records(session: Session, records: Sequence[RecordIn], *, now: datetime) -> list[RecordResult]:
    """Rate a batch of usage records; a record id seen before (in this batch or ever) changes nothing."""
    fresh: dict[str, RecordIn] = {}
    for record in records:
        fresh.setdefault(record.record_id, record)
    esims = _esims_by_iccid(session, sorted({r.iccid for r in fresh.values()}))
    # Lock before looking for duplicates: a concurrent batch with the same records holds these locks
    # until it commits, and our look-up then sees its rows.
    balances = load_balances(session, sorted({esims[r.iccid][0] for r in fresh.values() if r.iccid in esims}))
    seen = _already_applied(session, list(fresh))
    for record_id in seen:
        del fresh[record_id]

    ratings: dict[str, Rating] = {}
    daily: dict[tuple[str, date], tuple[int, int]] = {}
    used_esims: set[str] = set()
    for record in sorted(fresh.values(), key=attrgetter("started_at", "record_id")):
        known = esims.get(record.iccid)
        if known is None:
            ratings[record.record_id] = Rating(UNKNOWN_ICCID)
            continue
        esim_id = known[0]
        usage = Usage(record.started_at, usage_area(record.region), record.data_bytes, record.voice_seconds)
        ratings[record.record_id] = rate(usage, balances.get(esim_id, []))
        if record.data_bytes or record.voice_seconds:
            key = (esim_id, hk_date(record.started_at))
            data, voice = daily.get(key, (0, 0))
            daily[key] = (data + record.data_bytes, voice + record.voice_seconds)
            used_esims.add(esim_id)

    _store(session, fresh, ratings, esims, now=now)
    save_balances(session, (b for group in balances.values() for b in group), now=now)
    add_daily_usage(session, daily)
    _mark_first_use(session, esims, used_esims, now=now)

    results = []
    answered: set[str] = set()
    for record in records:
        # A record id repeated inside the batch is answered as a duplicate after its first occurrence.
        rating = None if record.record_id in answered else ratings.get(record.record_id)
        answered.add(record.record_id)
        if rating is None:
            results.append(RecordResult(record.record_id, DUPLICATE, 0, 0))
        else:
            results.append(
                RecordResult(record.record_id, rating.result, rating.charged_data, rating.charged_voice)
            )
    return results


def apply_with_retry(
    sessions: sessionmaker[Session], records: Sequence[RecordIn], *, clock: Clock, attempts: int = 5
) -> list[RecordResult]:
    """One transaction per batch, retried when a concurrent batch won a race (unique id, deadlock)."""
    for attempt in range(1, attempts + 1):
        try:
            with sessions() as session, transaction(session):
                return apply_records(session, records, now=clock.now())
        except (DBAPIError, psycopg.Error) as error:
            if not _lost_race(error) or attempt == attempts:
                raise
            log.info("usage batch retried", extra={"attempt": attempt, "error": type(error).__name__})
            time.sleep(0.01 * attempt)  # back off a little so the winner commits first
    raise AssertionError("unreachable")


def _lost_race(error: Exception) -> bool:
    """A unique record id another batch committed first, a deadlock or a serialization failure."""
    if isinstance(error, IntegrityError | psycopg.errors.UniqueViolation):
        return True
    original = error.orig if isinstance(error, DBAPIError) else error
    return getattr(original, "sqlstate", None) in ("40P01", "40001")


def summarize(results: Sequence[RecordResult]) -> dict[str, int]:
    return dict(Counter(r.result for r in results))


def _esims_by_iccid(session: Session, iccids: list[str]) -> dict[str, tuple[str, bool]]:
    found: dict[str, tuple[str, bool]] = {}
    for part in [iccids] if is_postgresql(session) else chunks(iccids):
        if part:
            for row in session.execute(
                select(Esim.id, Esim.iccid, Esim.first_used_at).where(member_of(session, Esim.iccid, part))
            ):
                found[row.iccid] = (row.id, row.first_used_at is not None)
    return found


def _already_applied(session: Session, record_ids: list[str]) -> list[str]:
    seen: list[str] = []
    for part in [record_ids] if is_postgresql(session) else chunks(record_ids):
        if part:
            seen.extend(
                session.scalars(
                    select(UsageRecord.record_id).where(member_of(session, UsageRecord.record_id, part))
                )
            )
    return seen


def _store(
    session: Session,
    records: dict[str, RecordIn],
    ratings: dict[str, Rating],
    esims: dict[str, tuple[str, bool]],
    *,
    now: datetime,
) -> None:
    if not records:
        return

    def row(record: RecordIn) -> tuple[Any, ...]:
        rating = ratings[record.record_id]
        known = esims.get(record.iccid)
        return (
            record.record_id,
            record.iccid,
            known[0] if known else None,
            record.started_at,
            record.ended_at,
            record.region,
            record.network,
            record.data_bytes,
            record.voice_seconds,
            rating.result,
            rating.charged_data,
            rating.charged_voice,
            rating.charges,
            now,
        )

    if is_postgresql(session):
        _copy_records(session, (row(r) for r in records.values()))
    else:
        session.execute(
            insert(UsageRecord),
            [dict(zip(_COLUMNS, row(r), strict=True)) for r in records.values()],
        )


def _copy_records(session: Session, rows: Any) -> None:
    """COPY straight into the table; a duplicate a concurrent batch slipped in fails the COPY (retried)."""
    connection = session.connection().connection.driver_connection
    assert connection is not None
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY usage_records ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
    ):
        for values in rows:
            copy.write_row((*values[:12], _charges_json(values[12]), values[13]))


def _charges_json(charges: list[list[object]]) -> str:
    # Ids are our own ``bdl_<hex>`` and the amounts integers: nothing to escape, no encoder per row.
    return "[" + ",".join(f'["{c[0]}",{c[1]},{c[2]}]' for c in charges) + "]"


def _mark_first_use(
    session: Session, esims: dict[str, tuple[str, bool]], used: set[str], *, now: datetime
) -> None:
    """Usage on an eSIM the network never saw before makes it active (the eSIM context decides how)."""
    for iccid, (esim_id, seen) in sorted(esims.items()):
        if esim_id in used and not seen:
            esim_service.mark_first_use(session, iccid=iccid, now=now)
