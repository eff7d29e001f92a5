"""Rating a batch of usage records: the common case in one pass, the rest record by record.

Most eSIMs carry one live bundle, active, and one batch neither empties it nor
crosses one of its alert levels. For such an eSIM the outcome of rating its
records one by one in usage order is known without replaying them: every record
the bundle covers is charged in full, every other one is ``no_bundle``, and the
bundle is debited by the sum. ``rate_batch`` checks that condition with the
bundle's own arithmetic (debits only ever lower what remains, so if the whole sum
neither exhausts the bundle nor reaches its next alert level, no part of it does)
and rates every other eSIM's records with ``rating.rate`` in usage order, exactly
as before: several candidate bundles, first use of a queued pack, an exhaustion or
a threshold crossing all take that path, so events are raised where they always
were. The common case's outcome stays a plain tuple per record (no rating object):
a batch holds 100,000 of them, and the writer turns each straight into its row.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Generic, Protocol, TypeVar

from crossbay.clock import hk_date
from crossbay.usage.rating import (
    ACTIVE,
    DATA,
    NO_BUNDLE,
    RATED,
    UNKNOWN_ICCID,
    VOICE,
    Balance,
    Rating,
    Usage,
    rate,
)
from crossbay.usage.regions import usage_area

# Hong Kong has kept UTC+8 all year since 1980: a UTC instant's Hong Kong day is then a plain
# addition, a tenth of a zone conversion (checked against ``hk_date`` in the tests).
_HK_OFFSET = timedelta(hours=8)
_FIXED_SINCE = datetime(1980, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1980, 1, 1)
_ONE_DAY = timedelta(days=1)
_NEVER = datetime.max.replace(tzinfo=UTC)


def hk_day_bounds(at: datetime) -> tuple[date, datetime, datetime]:
    """The Hong Kong day of ``at`` and that day's first instant and the next day's, in UTC.

    Before 1980 (when Hong Kong still kept summer time) the bounds are empty: ask each time.
    """
    if at < _FIXED_SINCE:
        return hk_date(at), at, at
    day = (at.astimezone(UTC) + _HK_OFFSET).date()
    first = datetime(day.year, day.month, day.day, tzinfo=UTC) - _HK_OFFSET
    return day, first, first + _ONE_DAY


class UsageLike(Protocol):
    @property
    def record_id(self) -> str: ...
    @property
    def iccid(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def region(self) -> str: ...
    @property
    def data_bytes(self) -> int: ...
    @property
    def voice_seconds(self) -> int: ...


R = TypeVar("R", bound=UsageLike)


@dataclass(slots=True)
class BatchRating(Generic[R]):
    # Rated one by one (several bundles, a spill past a limit, odd amounts), unknown ICCIDs, nothing used.
    ratings: dict[str, Rating] = field(default_factory=dict)
    # The common case: (record, eSIM, the bundle that paid it in full, or None when the eSIM's one
    # bundle does not cover it: ``no_bundle``).
    whole: list[tuple[R, str, str | None]] = field(default_factory=list)
    # (eSIM, Hong Kong day) -> (data bytes, voice seconds): every record of a known eSIM counts, rated or not.
    daily: dict[tuple[str, date], tuple[int, int]] = field(default_factory=dict)

    @property
    def used_esims(self) -> set[str]:
        return {esim_id for esim_id, _ in self.daily}

    def results(self) -> dict[str, Rating]:
        """Every record's rating as an object: for answers per record, not for the bulk path."""
        out = dict(self.ratings)
        for record, _, bundle_id in self.whole:
            data, voice = record.data_bytes, record.voice_seconds
            if bundle_id is None:
                out[record.record_id] = Rating(NO_BUNDLE)
            else:
                out[record.record_id] = Rating(RATED, data, voice, [[bundle_id, data, voice]])
        return out

    def tally(self) -> Counter[str]:
        """How many records got each result."""
        counts = Counter(rating.result for rating in self.ratings.values())
        missed = sum(1 for entry in self.whole if entry[2] is None)
        for result, count in ((RATED, len(self.whole) - missed), (NO_BUNDLE, missed)):
            if count:
                counts[result] += count
        return counts


@dataclass(slots=True)
class _Single:
    """An eSIM whose one live bundle is active: what the loop reads of the bundle, and what it covered."""

    balance: Balance
    bundle_id: str
    areas: int
    starts: datetime  # bought at: usage before is not its to pay
    ends: datetime
    data: int = 0
    voice: int = 0


def rate_batch(
    records: Iterable[R], esim_of: dict[str, str], balances: dict[str, list[Balance]]
) -> BatchRating[R]:
    """Rate records (each id once) against the locked live balances of their eSIMs, in place."""
    out: BatchRating[R] = BatchRating()
    ratings, daily, whole = out.ratings, out.daily, out.whole
    single = {
        esim_id: _Single(
            group[0], group[0].id, group[0].areas, group[0].created_at, group[0].expires_at or _NEVER
        )
        for esim_id, group in balances.items()
        if len(group) == 1 and group[0].status == ACTIVE
    }
    areas: dict[str, int] = {}
    slow: list[tuple[R, str]] = []
    # The Hong Kong day of the last record's time, and that day's bounds: records come mostly in
    # time order, so most share the day of the one before.
    day, first, after = _EPOCH_DAY, _FIXED_SINCE, _FIXED_SINCE
    # Names bound once: this loop runs for every record of the batch.
    esim_get, day_get, single_get, area_get = esim_of.get, daily.get, single.get, areas.get
    keep_whole, keep_slow = whole.append, slow.append
    for record in records:
        esim_id = esim_get(record.iccid)
        if esim_id is None:
            ratings[record.record_id] = Rating(UNKNOWN_ICCID)
            continue
        data, voice, at = record.data_bytes, record.voice_seconds, record.started_at
        if not (data or voice):
            ratings[record.record_id] = Rating(RATED)  # nothing used, nothing to charge
            continue
        if not first <= at < after:
            day, first, after = hk_day_bounds(at)
        key = (esim_id, day)
        before = day_get(key)
        daily[key] = (before[0] + data, before[1] + voice) if before else (data, voice)
        state = single_get(esim_id)
        if state is None or data < 0 or voice < 0:
            keep_slow((record, esim_id))
            continue
        area = area_get(record.region)
        if area is None:
            area = areas[record.region] = usage_area(record.region)
        if state.areas & area and state.starts <= at <= state.ends:
            state.data += data
            state.voice += voice
            keep_whole((record, esim_id, state.bundle_id))
        else:
            # Outside the bundle's areas or validity: nothing else could pay for it.
            keep_whole((record, esim_id, None))

    spill = {
        esim_id
        for esim_id, state in single.items()
        if (state.data or state.voice) and not absorbs(state.balance, state.data, state.voice)
    }
    if spill:
        kept = [entry for entry in whole if entry[1] not in spill]
        slow.extend((record, esim_id) for record, esim_id, _ in whole if esim_id in spill)
        whole[:] = kept
    for esim_id, state in single.items():
        if esim_id not in spill:
            debit(state.balance, state.data, state.voice)

    by_usage = attrgetter("started_at", "record_id")
    for record, esim_id in sorted(slow, key=lambda pair: by_usage(pair[0])):
        usage = Usage(record.started_at, usage_area(record.region), record.data_bytes, record.voice_seconds)
        ratings[record.record_id] = rate(usage, balances.get(esim_id, []))
    return out


# Batches overlapping without a gap (two import streams, a busy server's usage requests) would
# otherwise keep the collector off for good, and garbage in cycles would pile up meanwhile.
LONGEST_PAUSE_SECONDS = 5.0


@dataclass
class _Pauses:
    """The one process-wide collector's pauses: batches running at once in threads share one."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0
    resume: bool = False
    since: float = 0.0


_pauses = _Pauses()


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs.

    A batch allocates a few objects per record (tuples, rows), none of them in a cycle, and
    keeps them to its end: each collection they trigger walks the whole heap again for
    nothing, and with 100,000 records that was a third of the batch's time. Reference
    counting still frees everything; the collector catches up once the batch is done.
    Batches running at once in threads share one pause: the last one out resumes it, and
    only if it was on before the first one came in. While they keep overlapping, a batch
    that ends after ``LONGEST_PAUSE_SECONDS`` of pause collects once before it goes.
    """
    with _pauses.lock:
        if _pauses.count == 0:
            _pauses.resume = gc.isenabled()
            _pauses.since = time.monotonic()
            gc.disable()
        _pauses.count += 1
    try:
        yield
    finally:
        collect = False
        with _pauses.lock:
            _pauses.count -= 1
            if _pauses.count == 0:
                if _pauses.resume:
                    gc.enable()
            elif _pauses.resume and time.monotonic() - _pauses.since > LONGEST_PAUSE_SECONDS:
                _pauses.since = time.monotonic()
                collect = True
        if collect:
            gc.collect()  # outside the lock: finalizers it runs may start or end batches of their own


def absorbs(balance: Balance, data: int, voice: int) -> bool:
    """The active bundle pays ``data`` and ``voice`` in full and stays active, below its next alert level.

    The same arithmetic as ``Balance.debit`` on the amounts after the debit, without doing it.
    """
    if data > balance.available(DATA) or voice > balance.available(VOICE):
        return False
    if not (data or voice):
        return True
    data_total, voice_total = balance.data_total, balance.voice_total
    data_left = (balance.data_remaining or 0) - data
    voice_left = (balance.voice_remaining or 0) - voice
    data_out = not data_total or data_left <= 0
    voice_out = not voice_total or voice_left <= 0
    if (data_total or voice_total) and data_out and voice_out:
        return False  # it would run out
    level = balance.next_alert_percent
    if level is None:
        return True
    return not (
        (data_total and (data_total - data_left) * 100 >= level * data_total)
        or (voice_total and (voice_total - voice_left) * 100 >= level * voice_total)
    )


def debit(balance: Balance, data: int, voice: int) -> None:
    if data:
        balance.debit(DATA, data)
    if voice:
        balance.debit(VOICE, voice)
