"""Usage records from the network, rated in batches, each applied exactly once.

A batch is one transaction: the bundles of its eSIMs are locked first, then the
new records are rated in memory (``batch.rate_batch``: the one-active-bundle
case in one pass, the rest record by record in usage order), and the records,
the bundles, the daily counters and the bundle events are written back in a few
set-based statements. Records applied before are found by the unique record id:
on PostgreSQL the binary COPY of the batch runs in a savepoint and a duplicate
sends the batch back to be rated without it (a concurrent batch carrying the
same records makes the COPY wait for its end, then fail); on SQLite they are
looked up first. Records for an unknown ICCID or outside every bundle are
stored with that result, never dropped.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar, cast

import psycopg
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crossbay.clock import Clock
from crossbay.db import is_postgresql, transaction
from crossbay.esim import service as esim_service
from crossbay.esim.models import Esim
from crossbay.usage.balances import add_daily_usage, chunks, load_balances, member_of, save_balances
from crossbay.usage.batch import BatchRating, paused_gc, rate_batch
from crossbay.usage.bulk import driver, fetch
from crossbay.usage.models import UsageRecord
from crossbay.usage.rating import DUPLICATE, NO_BUNDLE, RATED

log = logging.getLogger("crossbay.usage")
_T = TypeVar("_T")


# When usage can have happened: a time outside is a broken clock or a broken file (and near the
# ends of the calendar the Hong Kong day of a time cannot even be worked out). The network endpoint
# refuses such a record, the import rejects its line.
USAGE_SINCE = datetime(2000, 1, 1, tzinfo=UTC)
USAGE_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
USAGE_TIME_RANGE = "Usage times must lie between 2000 and 2099"


def plausible_usage_time(moment: datetime) -> bool:
    return USAGE_SINCE <= moment < USAGE_UNTIL


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


class RecordResult(NamedTuple):
    """A tuple: a batch builds one per record, and a frozen dataclass costs four times as much."""

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
    with paused_gc():
        return _answers(records, _apply(session, records, now=now))


def tally_records(session: Session, records: Sequence[RecordIn], *, now: datetime) -> dict[str, int]:
    """``apply_records`` for callers that need no answer per record: how many got each result."""
    with paused_gc():
        tally = _apply(session, records, now=now).tally()
    duplicates = len(records) - sum(tally.values())
    if duplicates:
        tally[DUPLICATE] += duplicates
    return dict(tally)


def _apply(session: Session, records: Sequence[RecordIn], *, now: datetime) -> BatchRating[RecordIn]:
    fresh: dict[str, RecordIn] = {}
    for record in records:
        fresh.setdefault(record.record_id, record)
    esims = _esims_by_iccid(session, sorted({r.iccid for r in fresh.values()}))
    esim_of = {iccid: known[0] for iccid, known in esims.items()}
    esim_ids = sorted(set(esim_of.values()))
    # Lock before looking for duplicates: a concurrent batch with the same records holds these locks
    # until it commits, and our look-up then sees its rows.
    balances = load_balances(session, esim_ids)
    if is_postgresql(session):
        # Optimistic: the unique key finds any record applied before while the rows are written (a
        # concurrent batch's uncommitted row makes the write wait for its end). Only when it does are the
        # duplicates looked up, and the batch rated again from the bundles as they are in the database.
        try:
            with session.begin_nested():
                batch = rate_batch(fresh.values(), esim_of, balances)
                _copy_records(session, _rows(fresh, batch, esim_of, now))
        except psycopg.errors.UniqueViolation:
            balances = load_balances(session, esim_ids)
            for record_id in _already_applied(session, list(fresh)):
                del fresh[record_id]
            batch = rate_batch(fresh.values(), esim_of, balances)
            _copy_records(session, _rows(fresh, batch, esim_of, now))
    else:
        for record_id in _already_applied(session, list(fresh)):
            del fresh[record_id]
        batch = rate_batch(fresh.values(), esim_of, balances)
        _insert_records(session, _rows(fresh, batch, esim_of, now))
    save_balances(session, (b for group in balances.values() for b in group), now=now)
    add_daily_usage(session, batch.daily)
    _mark_first_use(session, esims, batch.used_esims, now=now)
    return batch


def _answers(records: Sequence[RecordIn], batch: BatchRating[RecordIn]) -> list[RecordResult]:
    """One result per record sent; a record id repeated inside the batch is a duplicate after its first."""
    known = {
        record_id: RecordResult(record_id, rating.result, rating.charged_data, rating.charged_voice)
        for record_id, rating in batch.results().items()
    }
    results = []
    answered: set[str] = set()
    for record in records:
        result = None if record.record_id in answered else known.get(record.record_id)
        answered.add(record.record_id)
        results.append(result or RecordResult(record.record_id, DUPLICATE, 0, 0))
    return results


def apply_with_retry(
    sessions: sessionmaker[Session], records: Sequence[RecordIn], *, clock: Clock, attempts: int = 5
) -> list[RecordResult]:
    """One transaction per batch, retried when a concurrent batch won a race (unique id, deadlock)."""
    return _with_retry(sessions, lambda session: apply_records(session, records, now=clock.now()), attempts)


def tally_with_retry(
    sessions: sessionmaker[Session], records: Sequence[RecordIn], *, clock: Clock, attempts: int = 5
) -> dict[str, int]:
    """``apply_with_retry`` answering only how many records got each result (the import, the bench)."""
    return _with_retry(sessions, lambda session: tally_records(session, records, now=clock.now()), attempts)


def _with_retry(sessions: sessionmaker[Session], work: Callable[[Session], _T], attempts: int) -> _T:
    for attempt in range(1, attempts + 1):
        try:
            with sessions() as session, transaction(session):
                return work(session)
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
    if is_postgresql(session):
        if iccids:
            query = "SELECT iccid, id, first_used_at IS NOT NULL FROM esims WHERE iccid = ANY(%(iccids)b)"
            for iccid, esim_id, seen in fetch(session, query, {"iccids": iccids}):
                found[iccid] = (esim_id, seen)
        return found
    for part in chunks(iccids):
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


def _rows(
    records: dict[str, RecordIn], batch: BatchRating[RecordIn], esim_of: dict[str, str], now: datetime
) -> Iterator[tuple[Any, ...]]:
    """The batch's usage_records rows in ``_COLUMNS`` order, ``charges`` as JSON text.

    The common case is written out in full here: it runs for every record, and a helper call and a
    rating object per row were a fifth of the batch's time.
    """
    for record, esim_id, bundle_id in batch.whole:
        data, voice = record.data_bytes, record.voice_seconds
        if bundle_id is None:
            result, charged_data, charged_voice, charges = NO_BUNDLE, 0, 0, "[]"
        else:
            # Ids are our own ``bdl_<hex>`` and the amounts integers: nothing to escape.
            result, charged_data, charged_voice = RATED, data, voice
            charges = f'[["{bundle_id}",{data},{voice}]]'
        yield (
            record.record_id, record.iccid, esim_id, record.started_at, record.ended_at,
            record.region, record.network, data, voice,
            result, charged_data, charged_voice, charges, now,
        )  # fmt: skip
    for record_id, rating in batch.ratings.items():
        record = records[record_id]
        yield (
            record.record_id, record.iccid, esim_of.get(record.iccid), record.started_at, record.ended_at,
            record.region, record.network, record.data_bytes, record.voice_seconds,
            rating.result, rating.charged_data, rating.charged_voice, json.dumps(rating.charges), now,
        )  # fmt: skip


def _insert_records(session: Session, rows: Iterable[tuple[Any, ...]]) -> None:
    values = [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    if values:
        session.execute(_INSERT, values)


_TABLE = cast(Table, UsageRecord.__table__)
# The columns' own types (times to UTC as SQLite keeps them) but ``charges``, which is JSON text already.
_INSERT = text(
    f"INSERT INTO usage_records ({', '.join(_COLUMNS)})"  # noqa: S608 (column names are constants)
    f" VALUES ({', '.join(':' + c for c in _COLUMNS)})"
).bindparams(*(bindparam(c, type_=_TABLE.c[c].type) for c in _COLUMNS if c != "charges"))
# Binary COPY: several times faster than text for the client, whose per-row work bounds the rate.
_COPY_TYPES = (
    "text", "text", "text", "timestamptz", "timestamptz", "text", "text",
    "int8", "int4", "text", "int8", "int4",
    # json's binary form is its text: the string is sent as it is, not encoded again.
    "text",
    "timestamptz",
)  # fmt: skip


def _copy_records(session: Session, rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY straight into the table; a record id applied before fails the COPY with a unique violation.

    A queued writer sends the rows from a second thread: the server takes in one part while
    this thread formats the next, instead of each waiting for the other.
    """
    cursor = driver(session).cursor()
    statement = f"COPY usage_records ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.set_types(list(_COPY_TYPES))
        write = copy.write_row
        for row in rows:
            write(row)


def _mark_first_use(
    session: Session, esims: dict[str, tuple[str, bool]], used: set[str], *, now: datetime
) -> None:
    """Usage on an eSIM the network never saw before makes it active (the eSIM context decides how)."""
    for iccid, (esim_id, seen) in sorted(esims.items()):
        if esim_id in used and not seen:
            esim_service.mark_first_use(session, iccid=iccid, now=now)
