"""Rating a batch of usage records: the common case in one pass, the rest record by record.

Most eSIMs carry one live bundle, active, and one batch neither empties it nor
crosses one of its alert levels. For such an eSIM the outcome of rating its
records one by one in usage order is known without replaying them: every record
the bundle covers is charged in full, every other one is ``no_bundle``, and the
bundle is debited by the sum. ``rate_batch`` checks that condition on a copy of
the bundle (debits only ever lower what remains, so if the whole sum neither
exhausts the bundle nor reaches its next alert level, no part of it does) and
rates every other eSIM's records with ``rating.rate`` in usage order, exactly as
before: several candidate bundles, first use of a queued pack, an exhaustion or a
threshold crossing all take that path, so events are raised where they always were.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Protocol

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


@dataclass(slots=True)
class BatchRating:
    ratings: dict[str, Rating] = field(default_factory=dict)
    # (eSIM, Hong Kong day) -> (data bytes, voice seconds): every record of a known eSIM counts, rated or not.
    daily: dict[tuple[str, date], tuple[int, int]] = field(default_factory=dict)
    used_esims: set[str] = field(default_factory=set)


def rate_batch(
    records: Iterable[UsageLike], esim_of: dict[str, str], balances: dict[str, list[Balance]]
) -> BatchRating:
    """Rate records (each id once) against the locked live balances of their eSIMs, in place."""
    out = BatchRating()
    ratings, daily, used = out.ratings, out.daily, out.used_esims
    single = {
        esim_id: group[0]
        for esim_id, group in balances.items()
        if len(group) == 1 and group[0].status == ACTIVE
    }
    areas: dict[str, int] = {}
    covered_sums: dict[str, list[int]] = {}
    quick: list[tuple[UsageLike, Balance, bool]] = []
    slow: list[tuple[UsageLike, str]] = []
    # Names bound once: this loop runs for every record of the batch.
    esim_get, day_get, single_get, area_get = esim_of.get, daily.get, single.get, areas.get
    keep_quick, keep_slow, mark_used = quick.append, slow.append, used.add
    for record in records:
        esim_id = esim_get(record.iccid)
        if esim_id is None:
            ratings[record.record_id] = Rating(UNKNOWN_ICCID)
            continue
        data, voice, at = record.data_bytes, record.voice_seconds, record.started_at
        if data or voice:
            key = (
                esim_id,
                (at + _HK_OFFSET).date() if at.tzinfo is UTC and at >= _FIXED_SINCE else hk_date(at),
            )
            before = day_get(key)
            daily[key] = (before[0] + data, before[1] + voice) if before else (data, voice)
            mark_used(esim_id)
        balance = single_get(esim_id)
        if balance is None or data < 0 or voice < 0:
            keep_slow((record, esim_id))
            continue
        area = area_get(record.region)
        if area is None:
            area = areas[record.region] = usage_area(record.region)
        covered = balance.covers(area, at)
        if covered:
            sums = covered_sums.get(esim_id)
            if sums is None:
                covered_sums[esim_id] = [data, voice]
            else:
                sums[0] += data
                sums[1] += voice
        keep_quick((record, balance, covered))

    spill = {esim_id for esim_id, sums in covered_sums.items() if not absorbs(single[esim_id], *sums)}
    for record, balance, covered in quick:
        if balance.esim_id in spill:
            slow.append((record, balance.esim_id))
        elif not covered:
            # Outside the bundle's areas or validity: nothing else could pay for it.
            ratings[record.record_id] = (
                Rating(NO_BUNDLE) if record.data_bytes or record.voice_seconds else Rating(RATED)
            )
        elif record.data_bytes or record.voice_seconds:
            ratings[record.record_id] = Rating(
                RATED,
                record.data_bytes,
                record.voice_seconds,
                [[balance.id, record.data_bytes, record.voice_seconds]],
            )
        else:
            ratings[record.record_id] = Rating(RATED)
    for esim_id, (data, voice) in covered_sums.items():
        if esim_id not in spill:
            debit(single[esim_id], data, voice)

    by_usage = attrgetter("started_at", "record_id")
    for record, esim_id in sorted(slow, key=lambda pair: by_usage(pair[0])):
        usage = Usage(record.started_at, usage_area(record.region), record.data_bytes, record.voice_seconds)
        ratings[record.record_id] = rate(usage, balances.get(esim_id, []))
    return out


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs.

    A batch allocates a few objects per record (ratings, rows), none of them in a cycle, and
    keeps them to its end: each collection they trigger walks the whole heap again for
    nothing, and with 100,000 records that was a third of the batch's time. Reference
    counting still frees everything; the collector catches up once the batch is done.
    Whoever paused first resumes it, so overlapping batches in threads leave it on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def absorbs(balance: Balance, data: int, voice: int) -> bool:
    """The bundle pays ``data`` and ``voice`` in full and stays active, below its next alert level."""
    if data > balance.available(DATA) or voice > balance.available(VOICE):
        return False
    probe = dataclasses.replace(balance, events=[])
    debit(probe, data, voice)
    return probe.status == ACTIVE and not probe.events


def debit(balance: Balance, data: int, voice: int) -> None:
    if data:
        balance.debit(DATA, data)
    if voice:
        balance.debit(VOICE, voice)
