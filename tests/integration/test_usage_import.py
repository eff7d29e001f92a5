"""`crossbay usage import FILE`: every record rated once, on one or two streams, nothing lost.

Three eSIMs with a 100 MB bundle each send thirty 5 MB records (twenty fit, ten
are over quota), in small batches so every stream runs several; the file also
holds a record for an ICCID nobody knows, a record id sent twice, and lines that
cannot be read. Both databases; two streams on SQLite take turns at its one writer.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crossbay.clock import FrozenClock
from crossbay.db import make_session_factory, transaction
from crossbay.esim.models import Esim
from crossbay.usage.importer import import_file, parse_record
from crossbay.usage.models import Bundle, UsageDaily, UsageRecord
from crossbay.usage.rating import EXHAUSTED
from crossbay.usage.streams import RatingStreams
from tests.support.servers import CROSSBAY
from tests.unit.usage.usage_factories import MB, buy, esim_with_iccid, package

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
FIELDS = ("record_id", "iccid", "started_at", "ended_at", "region", "network", "data_bytes", "voice_seconds")


@pytest.fixture
def iccids(committed: sa.Engine) -> Iterator[list[str]]:
    with make_session_factory(committed)() as session:
        plan = package(session, regions=("hk",), data_mb=100, now=T0)
        esims = [esim_with_iccid(session, now=T0) for _ in range(3)]
        for esim in esims:
            buy(session, esim, plan, now=T0)
        yield [esim.iccid for esim in esims]


def lines(iccids: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for minute in range(30):
        for n, iccid in enumerate(iccids):
            at = T0 + timedelta(minutes=minute)
            rows.append(
                {
                    "record_id": f"cdr-{n}-{minute:03d}",
                    "iccid": iccid,
                    "started_at": at.isoformat(),
                    "ended_at": (at + timedelta(minutes=1)).isoformat(),
                    "region": "hk",
                    "network": "CMHK",
                    "data_bytes": 5 * MB,
                    "voice_seconds": 0,
                }
            )
    rows.append({**rows[0], "record_id": "cdr-stranger", "iccid": "89852000000000000999"})
    rows.append(dict(rows[4]))  # sent twice
    return rows


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    text = [",".join(FIELDS)] + [",".join(str(row[f]) for f in FIELDS) for row in rows]
    text.insert(5, "cdr-bad,8985200,2026-11-26T04:00:00+00:00,2026-11-26T04:01:00+00:00,hk,CMHK,-5,0")
    text.insert(9, "cdr-naive,8985200,2026-11-26T04:00:00,2026-11-26T04:01:00,hk,CMHK,5,0")
    far = "9999-12-31T23:00:00+00:00,9999-12-31T23:01:00+00:00"  # a known eSIM, a time past any day
    text.insert(12, f"cdr-far,{rows[0]['iccid']},{far},hk,CMHK,5,0")
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def outcome(engine: sa.Engine) -> tuple[list[tuple[str, int, str]], int, dict[str, int]]:
    with Session(engine) as session:
        bundles = session.execute(
            select(Bundle.esim_id, Bundle.data_remaining_bytes, Bundle.status).order_by(Bundle.esim_id)
        ).all()
        daily = session.scalar(select(func.sum(UsageDaily.data_bytes))) or 0
        results = dict(
            session.execute(select(UsageRecord.result, func.count()).group_by(UsageRecord.result)).all()
        )
    return [tuple(b) for b in bundles], daily, results  # type: ignore[misc]


@pytest.mark.parametrize("streams", [1, 2])
def test_each_record_rated_once_and_every_line_accounted_for(
    committed: sa.Engine, iccids: list[str], tmp_path: Path, streams: int
) -> None:
    path = write_csv(tmp_path / "usage.csv", lines(iccids))
    sessions = make_session_factory(committed)
    report = import_file(path, sessions, clock=FrozenClock(T0), batch_size=7, streams=streams)

    assert dict(report.results) == {"rated": 60, "over_quota": 30, "unknown_iccid": 1, "duplicate": 1}
    assert report.rejected == 3
    rejected = (tmp_path / "usage.csv.rejected").read_text(encoding="utf-8").splitlines()
    assert [line.split(":")[0] for line in rejected] == ["line 6", "line 10", "line 13"]
    bundles, daily, results = outcome(committed)
    assert [(remaining, status) for _, remaining, status in bundles] == [(0, EXHAUSTED)] * 3
    assert daily == 90 * 5 * MB  # every record of a known eSIM counts towards its day, charged or not
    assert results == {"rated": 60, "over_quota": 30, "unknown_iccid": 1}

    again = import_file(path, sessions, clock=FrozenClock(T0), batch_size=7, streams=streams)
    assert dict(again.results) == {"duplicate": 92}
    assert outcome(committed) == (bundles, daily, results)


def test_jsonl_with_a_line_that_is_not_an_object(
    committed: sa.Engine, iccids: list[str], tmp_path: Path
) -> None:
    rows = lines(iccids)[:6]
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join([*map(json.dumps, rows), "[1, 2]", "{not json"]) + "\n", encoding="utf-8")
    report = import_file(path, make_session_factory(committed), clock=FrozenClock(T0), streams=2)
    assert dict(report.results) == {"rated": 6} and report.rejected == 2


class Broken(Exception):
    pass


def broken_sessions() -> Session:
    raise Broken("no database today")


def test_a_failing_batch_stops_the_import_and_says_why(iccids: list[str]) -> None:
    records = [parse_record(row) for row in lines(iccids)]
    sessions = cast(sessionmaker[Session], broken_sessions)
    with pytest.raises(Broken), RatingStreams(sessions, clock=FrozenClock(T0), batch_size=5) as rating:
        rating.extend(records)
    assert not [t for t in threading.enumerate() if t.name.startswith("rating-stream-")], "left running"


def test_the_command_shows_what_became_of_the_file(
    committed: sa.Engine, database_url: str, iccids: list[str], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "usage.csv", lines(iccids))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    result = subprocess.run(
        [CROSSBAY, "usage", "import", str(path), "--batch-size", "10"],
        env={**env, "CROSSBAY_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "records: 92" in result.stdout
    assert "rated: 60" in result.stdout and "over_quota: 30" in result.stdout
    assert "rejected lines: 3" in result.stdout
    with Session(committed) as session, transaction(session):
        assert session.scalar(select(func.count()).select_from(UsageRecord)) == 91


def test_several_streams_rate_exactly_as_one(committed: sa.Engine, tmp_path: Path) -> None:
    """Two fleets of eSIMs with the same packs get the same records, as a network sends them (in
    time order, several eSIMs interleaved; a pack stacked on some, exhaustion, regions outside the
    pack). One fleet's file is rated on one connection, the other's on three: every record and every
    bundle must end the same, though the batches fall differently."""
    rng = random.Random(7)
    fleets: dict[str, list[str]] = {}
    with make_session_factory(committed)() as session:
        small = package(session, regions=("hk",), data_mb=30, now=T0)
        wide = package(session, regions=("hk", "mo"), data_mb=20, now=T0)
        for fleet in ("one", "three"):
            fleets[fleet] = []
            for n in range(8):
                esim = esim_with_iccid(session, now=T0)
                buy(session, esim, small, now=T0)
                if n % 3 == 0:
                    buy(session, esim, wide, now=T0 + timedelta(minutes=1))
                fleets[fleet].append(esim.iccid)
    plan = [
        (
            n,
            rng.randrange(8),
            rng.randrange(-30, 600),
            rng.choice(["hk", "hk", "mo", "cn"]),
            rng.randrange(1, 6),
        )
        for n in range(400)
    ]
    plan.sort(key=lambda step: (step[2], str(step[0])))  # by time, then as record ids sort
    for fleet, streams in (("one", 1), ("three", 3)):
        rows = [
            {
                "record_id": f"{fleet}-{n}",
                "iccid": fleets[fleet][esim],
                "started_at": (T0 + timedelta(minutes=minute)).isoformat(),
                "ended_at": (T0 + timedelta(minutes=minute + 1)).isoformat(),
                "region": region,
                "network": "CMHK",
                "data_bytes": megabytes * MB,
                "voice_seconds": 0,
            }
            for n, esim, minute, region, megabytes in plan
        ]
        path = write_csv(tmp_path / f"{fleet}.csv", rows)
        import_file(
            path, make_session_factory(committed), clock=FrozenClock(T0), batch_size=23, streams=streams
        )

    def outcome_of(fleet: str) -> tuple[dict[str, tuple[str, int]], list[tuple[int, int | None, str]]]:
        with Session(committed) as session:
            records = {
                record_id.removeprefix(f"{fleet}-"): (result, charged)
                for record_id, result, charged in session.execute(
                    select(UsageRecord.record_id, UsageRecord.result, UsageRecord.charged_data_bytes).where(
                        UsageRecord.record_id.startswith(f"{fleet}-")
                    )
                )
            }
            bundles = [
                (fleets[fleet].index(iccid), remaining, status)
                for iccid, remaining, status in session.execute(
                    select(Esim.iccid, Bundle.data_remaining_bytes, Bundle.status)
                    .join(Esim, Esim.id == Bundle.esim_id)
                    .where(Esim.iccid.in_(fleets[fleet]))
                    .order_by(Bundle.data_total_bytes)
                )
            ]
        return records, sorted(bundles)

    one, three = outcome_of("one"), outcome_of("three")
    assert len(one[0]) == 400 and {result for result, _ in one[0].values()} >= {
        "rated",
        "over_quota",
        "no_bundle",
    }
    assert one == three
