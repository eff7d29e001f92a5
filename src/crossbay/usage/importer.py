"""Read usage records from a CSV or JSONL file and apply them in batches.

Columns / keys: ``record_id, iccid, started_at, ended_at, region, network,
data_bytes, voice_seconds`` (times in RFC 3339 with an offset). A line that
cannot be read is not a record we can keep (it may have no id): it is counted,
and written with its line number and reason to ``<file>.rejected`` so nothing is
lost silently.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from crossbay.clock import Clock
from crossbay.usage.records import USAGE_TIME_RANGE, RecordIn, plausible_usage_time
from crossbay.usage.streams import RatingStreams

# Records per transaction and connections at once, unless told otherwise (``bench/rating.py`` measures
# these): batches much smaller spend more on locking and writing back each eSIM's bundle than on rating.
IMPORT_BATCH = 50_000
IMPORT_STREAMS = 2
FIELDS = ("record_id", "iccid", "started_at", "ended_at", "region", "network", "data_bytes", "voice_seconds")


class BadRecord(ValueError):
    pass


@dataclass
class ImportReport:
    results: Counter[str] = field(default_factory=Counter)
    rejected: int = 0

    @property
    def records(self) -> int:
        return sum(self.results.values())


def parse_record(raw: dict[str, Any]) -> RecordIn:
    """One record from a CSV row or JSON object, checked as strictly as the HTTP endpoint checks it."""
    try:
        record_id = str(raw["record_id"]).strip()
        iccid = str(raw["iccid"]).strip()
        started = _when(raw["started_at"])
        ended = _when(raw["ended_at"])
        region = str(raw["region"]).strip()
        data = int(raw.get("data_bytes") or 0)
        voice = int(raw.get("voice_seconds") or 0)
    except (KeyError, TypeError, ValueError) as error:
        raise BadRecord(f"unreadable field: {error}") from None
    if not (0 < len(record_id) <= 128) or not (0 < len(iccid) <= 22) or not (0 < len(region) <= 16):
        raise BadRecord("record_id, iccid or region is empty or too long")
    if data < 0 or voice < 0 or ended < started:
        raise BadRecord("negative usage or ended_at before started_at")
    if not (plausible_usage_time(started) and plausible_usage_time(ended)):
        raise BadRecord(USAGE_TIME_RANGE.lower())
    network = str(raw.get("network") or "")[:64]
    return RecordIn(record_id, iccid, started, ended, region, network, data, voice)


def _when(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("time without an offset")
    return moment


def read_rows(handle: IO[str], *, jsonl: bool) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, row or None, the raw line) for each line of the file."""
    if jsonl:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                yield number, None, line
                continue
            yield number, row if isinstance(row, dict) else None, line
        return
    reader = csv.DictReader(handle)
    for row in reader:
        yield reader.line_num, dict(row), ",".join(str(v) for v in row.values())


def import_file(
    path: Path,
    sessions: sessionmaker[Session],
    *,
    clock: Clock,
    batch_size: int = IMPORT_BATCH,
    streams: int = IMPORT_STREAMS,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Apply every record of the file, one transaction per batch on ``streams`` connections at once.

    ``progress`` gets the bytes read so far.
    """
    report = ImportReport()
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    rejected_path = path.with_name(path.name + ".rejected")
    rejected_file: IO[str] | None = None
    read = 0
    with (
        path.open(encoding="utf-8", newline="") as handle,
        RatingStreams(sessions, clock=clock, streams=streams, batch_size=batch_size) as rating,
    ):
        for number, row, raw in read_rows(handle, jsonl=jsonl):
            try:
                if row is None:
                    raise BadRecord("not a JSON object")
                rating.add(parse_record(row))
            except BadRecord as error:
                report.rejected += 1
                if rejected_file is None:
                    rejected_file = rejected_path.open("w", encoding="utf-8")
                rejected_file.write(f"line {number}: {error}: {raw.rstrip()}\n")
            read += 1
            if progress is not None and read % batch_size == 0:
                progress(_position(handle))
        report.results.update(rating.close())
    if rejected_file is not None:
        rejected_file.close()
    if progress is not None:
        progress(path.stat().st_size)
    return report


def _position(handle: IO[str]) -> int:
    """Bytes read so far (the text layer cannot tell while it is being iterated; its buffer can)."""
    buffer: Any = getattr(handle, "buffer", None)
    return int(buffer.tell()) if buffer is not None else 0
