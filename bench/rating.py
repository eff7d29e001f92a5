"""Usage records rated per second on PostgreSQL, against a raw COPY of the same records.

On a fresh schema: 10,000 eSIMs, each with a 10 GB bundle for Hong Kong, Macau
and the mainland, then 1,000,000 synthetic usage records (about 100 per eSIM,
in time order, a few outside any bundle's region) rated through the same code
the network endpoint and `crossbay usage import` use, in batches. In the same
run the same records are COPYed into a bare table (no index, no constraint):
the ratio says how close rating (dedupe, lock, rate, store, update bundles and
daily counters, one transaction per batch) gets to just writing the rows down.
The records are rated as the import rates them (two connections at once, each
eSIM's records on one of them, batches of 50,000), then again in a second fresh
schema on one connection, which must come to the same results; both rates are
printed. The ratio the issue asks for is to a text-format COPY (psycopg's
default); rating itself writes with a binary COPY, several times cheaper for the
client, so the ratio to a binary COPY of the same records is printed too. Each
timed phase starts right after a CHECKPOINT, so none inherits one that the WAL
of the phases before asked for. Load average is printed with the numbers: the
machine is shared.

    make bench
    python bench/rating.py --records 200000 --esims 2000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossbay.clock import FrozenClock
from crossbay.db import make_engine, make_session_factory
from crossbay.migrate import upgrade
from crossbay.usage.importer import IMPORT_BATCH, IMPORT_STREAMS
from crossbay.usage.records import RecordIn
from crossbay.usage.regions import area_mask
from crossbay.usage.streams import RatingStreams
from tests.support.servers import postgres_schema

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
GB = 1024**3
REGIONS = ["hk"] * 6 + ["mo"] * 2 + ["cn-gd"] * 5 + ["cn"] * 6 + ["jp"]  # 5% outside every bundle


def iccid_of(index: int) -> str:
    return f"89852{index:014d}"


def setup(engine: sa.Engine, esims: int) -> list[str]:
    """Customers, eSIMs and bundles written directly: the bench measures rating, not fulfilment.

    Returns the eSIMs' ICCIDs (``bench/credit.py`` sets up the same way)."""
    iccids = [iccid_of(index) for index in range(esims)]
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO packages (id, code, kind, data_mb, validity_days, validity_starts, regions,"
                " networks, price_amount, currency, for_new_esim, for_topup, on_sale, sort, names,"
                " descriptions, created_at, updated_at) VALUES ('pkg_bench', 'BENCH-10G', 'data', 10240,"
                " 30, 'purchase', '[\"hk\",\"mo\",\"cn\"]', '[\"CMHK\"]', 18800, 'HKD', true, true, true,"
                " 0, '{}', '{}', :t, :t)"
            ),
            {"t": T0},
        )
        connection.execute(
            sa.text("INSERT INTO customers (id, phone, language, created_at) VALUES (:id, :phone, 'en', :t)"),
            [{"id": f"cus_{i}", "phone": f"+8526{i:07d}", "t": T0} for i in range(esims)],
        )
        connection.execute(
            sa.text(
                # Already in use: first use is marked once per eSIM in its lifetime, not per record.
                "INSERT INTO esims (id, customer_id, order_id, status, iccid, download_call_id,"
                " confirm_call_id, created_at, updated_at, first_used_at)"
                " VALUES (:id, :cus, :ord, 'active', :iccid, :d, :c, :t, :t, :t)"
            ),
            [
                {
                    "id": f"esim_{i}",
                    "cus": f"cus_{i}",
                    "ord": f"ord_e{i}",
                    "iccid": iccid,
                    "d": f"d{i}",
                    "c": f"c{i}",
                    "t": T0,
                }
                for i, iccid in enumerate(iccids)
            ],
        )
        connection.execute(
            sa.text(
                "INSERT INTO bundles (id, esim_id, order_id, package_id, status, data_total_bytes,"
                " data_remaining_bytes, starts_at, expires_at, created_at, area_mask, validity_days,"
                " data_reserved_bytes, voice_reserved_seconds, next_alert_percent)"
                " VALUES (:id, :esim, :ord, 'pkg_bench', 'active', :gb, :gb, :t, :end, :t, :mask, 30,"
                " 0, 0, 80)"
            ),
            [
                {
                    "id": f"bdl_{i}",
                    "esim": f"esim_{i}",
                    "ord": f"ord_b{i}",
                    "gb": 10 * GB,
                    "t": T0,
                    "end": T0 + timedelta(days=30),
                    "mask": area_mask(["hk", "mo", "cn"]),
                }
                for i in range(esims)
            ],
        )
    return iccids


def make_records(count: int, iccids: list[str]) -> list[RecordIn]:
    rng = random.Random(6)
    step = timedelta(days=20) / count
    records = []
    for index in range(count):
        start = T0 + step * index
        records.append(
            RecordIn(
                record_id=f"cdr-{index:09d}",
                iccid=iccids[rng.randrange(len(iccids))],
                started_at=start,
                ended_at=start + timedelta(minutes=5),
                region=REGIONS[index % len(REGIONS)],
                network="China Mobile",
                data_bytes=rng.randrange(1, 40 * 1024 * 1024),
                voice_seconds=0,
            )
        )
    return records


def rate_all(engine: sa.Engine, records: list[RecordIn], batch: int, streams: int) -> float:
    """Rate the records as ``crossbay usage import`` does, on ``streams`` connections."""
    sessions = make_session_factory(engine)
    clock = FrozenClock(T0 + timedelta(days=21))
    checkpoint(engine)
    started = time.perf_counter()
    with RatingStreams(sessions, clock=clock, streams=streams, batch_size=batch) as rating:
        rating.extend(records)
    return time.perf_counter() - started


def checkpoint(engine: sa.Engine) -> None:
    """Start a timed phase with the server's WAL written out, so that no checkpoint the phases before
    asked for lands inside it (this server's max_wal_size is 1 GB; one run writes about that)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("CHECKPOINT")


def copy_all(engine: sa.Engine, records: list[RecordIn], *, binary: bool = False) -> float:
    """COPY the records into a bare table: text format (the issue's baseline) or binary (what rating uses)."""
    table = "bare_usage_binary" if binary else "bare_usage"
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (record_id varchar(128), iccid varchar(22),"
            " started_at timestamptz, ended_at timestamptz, region varchar(16), network varchar(64),"
            " data_bytes bigint, voice_seconds integer)"
        )
    checkpoint(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        form = " (FORMAT BINARY)" if binary else ""
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN{form}") as copy:
            if binary:
                copy.set_types(["text", "text", "timestamptz", "timestamptz", "text", "text", "int8", "int4"])
            for r in records:
                copy.write_row(
                    (
                        r.record_id,
                        r.iccid,
                        r.started_at,
                        r.ended_at,
                        r.region,
                        r.network,
                        r.data_bytes,
                        r.voice_seconds,
                    )
                )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--esims", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=IMPORT_BATCH, help="records per transaction")
    parser.add_argument("--streams", type=int, default=IMPORT_STREAMS, help="connections rating at once")
    args = parser.parse_args()

    iccids = [iccid_of(index) for index in range(args.esims)]
    records = make_records(args.records, iccids)
    load_before = os.getloadavg()
    with fresh_schema(args.esims) as engine:
        copy_seconds = copy_all(engine, records)
        binary_seconds = copy_all(engine, records, binary=True)
        rate_seconds = rate_all(engine, records, args.batch, args.streams)
        results = result_counts(engine)
    with fresh_schema(args.esims) as engine:
        alone_seconds = rate_all(engine, records, args.batch, 1)
        assert result_counts(engine) == results, "one connection rated the records differently"
    load_after = os.getloadavg()

    copied, binary_copied = args.records / copy_seconds, args.records / binary_seconds
    rated, alone = args.records / rate_seconds, args.records / alone_seconds
    print(f"load average before {_load(load_before)}, after {_load(load_after)} (2 cores)")
    print(
        f"raw COPY into a bare table: {args.records:,} records in {copy_seconds:.1f}s"
        f" = {copied:,.0f} records/s"
    )
    print(
        f"raw binary COPY into a bare table: {args.records:,} records in {binary_seconds:.1f}s"
        f" = {binary_copied:,.0f} records/s"
    )
    print(
        f"rating as `crossbay usage import` does ({args.esims:,} eSIMs, {args.streams} streams,"
        f" batches of {args.batch:,}): {args.records:,} records in {rate_seconds:.1f}s"
        f" = {rated:,.0f} records/s; results {results}"
    )
    print(
        f"rating on one connection (batches of {args.batch:,}): {args.records:,} records"
        f" in {alone_seconds:.1f}s = {alone:,.0f} records/s"
    )
    print(f"ratio: {rated / copied:.2f} (rating / raw COPY; aim >= 0.5)")
    print(f"ratio on one connection: {alone / copied:.2f}")
    print(
        f"ratio to the binary COPY: {rated / binary_copied:.2f} (rating writes its rows with a binary COPY)"
    )


@contextmanager
def fresh_schema(esims: int) -> Iterator[sa.Engine]:
    """A migrated schema of its own with the bench's eSIMs and bundles, dropped afterwards."""
    with postgres_schema() as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            setup(engine, esims)
            yield engine
        finally:
            engine.dispose()


def result_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        query = "SELECT result, count(*) FROM usage_records GROUP BY result ORDER BY result"
        return {result: count for result, count in connection.exec_driver_sql(query).all()}


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
