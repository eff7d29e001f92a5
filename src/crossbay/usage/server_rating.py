"""The one-active-bundle case of a big batch rated by PostgreSQL itself.

``batch.rate_batch`` rates an eSIM with one live, active bundle in one pass: every
record the bundle covers is charged in full, every other one is ``no_bundle``,
the bundle is debited by the sum, provided the sum neither empties it nor reaches
its next alert level. Done in Python that pass, the rows it builds and their COPY
cost about 10 µs a record. Here the raw records go to a temporary table by binary
COPY (under 1 µs), and the same rule is written as set-based statements over it:
one query for the sums per eSIM (Python decides with ``batch.absorbs`` which eSIMs
keep the shortcut, the same code the Python pass uses), one INSERT … SELECT for
the rated records, and the day counters from the same table. Every other record
(unknown ICCID, several bundles, a queued pack, a sum that crosses a level,
negative amounts) is handed back to be rated in Python in usage order, exactly as
before. PostgreSQL only; small batches never come here (the temporary tables cost
more than they save).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from crossbay.usage.batch import absorbs
from crossbay.usage.bulk import driver, stage
from crossbay.usage.rating import ACTIVE, Balance
from crossbay.usage.regions import usage_area

if TYPE_CHECKING:
    from datetime import datetime

    from crossbay.usage.records import RecordIn

# Batches of at least this many fresh records come here; None: none do. Off by default: on the
# shared 2-core machine this path measured slower than the Python one (rating 19.8-23.8 µs a record
# against 14.8-16.3, load average 5-6), which keeps the client and the server busy at once while
# here the server works alone. ``bench/rating.py --server-from 2000`` measures it; tests run it.
SERVER_FROM: int | None = None

_INCOMING = "usage_incoming"
_QUICK = "usage_quick"

# Each statement below reads the staged records joined to their eSIM's one bundle, with ``covered``
# as ``Balance.covers`` says (status is active for every bundle in usage_quick).
_RATED = f"""
    SELECT i.record_id, i.iccid, q.esim_id, q.bundle_id, i.started_at, i.ended_at, i.region,
        i.network, i.data_bytes, i.voice_seconds,
        (q.areas & a.area) <> 0 AND q.created_at <= i.started_at
            AND (q.expires_at IS NULL OR i.started_at <= q.expires_at) AS covered
    FROM {_INCOMING} AS i
    JOIN {_QUICK} AS q ON q.iccid = i.iccid
    JOIN unnest(CAST(%(regions)s AS text[]), CAST(%(areas)s AS int[])) AS a(region, area)
        ON a.region = i.region
"""  # noqa: S608 (constants only)

_DAY_SUMS = "usage_day_sums"
# One pass over the staged records for both the sums per eSIM and the day counters.
_DAY_SUMS_CREATE = f"""
    CREATE TEMP TABLE {_DAY_SUMS} ON COMMIT DROP AS
    SELECT esim_id, CAST(started_at AT TIME ZONE 'Asia/Hong_Kong' AS date) AS day,
        sum(data_bytes) AS data_bytes, sum(voice_seconds) AS voice_seconds,
        sum(data_bytes) FILTER (WHERE covered) AS covered_data,
        sum(voice_seconds) FILTER (WHERE covered) AS covered_voice,
        bool_or(data_bytes <> 0 OR voice_seconds <> 0) AS used
    FROM ({_RATED}) AS r GROUP BY 1, 2
"""  # noqa: S608 (constants only)

_SUMS = f"""
    SELECT esim_id, CAST(coalesce(sum(covered_data), 0) AS bigint),
        CAST(coalesce(sum(covered_voice), 0) AS bigint), bool_or(used)
    FROM {_DAY_SUMS} GROUP BY esim_id
"""  # noqa: S608 (constants only)

# What the Python pass answers: covered → charged in full (one charge when there is usage);
# outside the bundle → no_bundle, unless the record carries no usage at all.
_INSERT = f"""
    INSERT INTO usage_records (record_id, iccid, esim_id, started_at, ended_at, region, network,
        data_bytes, voice_seconds, result, charged_data_bytes, charged_voice_seconds, charges,
        received_at)
    SELECT record_id, iccid, esim_id, started_at, ended_at, region, network, data_bytes, voice_seconds,
        CASE WHEN covered OR (data_bytes = 0 AND voice_seconds = 0) THEN 'rated' ELSE 'no_bundle' END,
        CASE WHEN covered THEN data_bytes ELSE 0 END,
        CASE WHEN covered THEN voice_seconds ELSE 0 END,
        CASE WHEN covered AND (data_bytes <> 0 OR voice_seconds <> 0)
            THEN CAST('[["' || bundle_id || '",' || data_bytes || ',' || voice_seconds || ']]' AS json)
            ELSE CAST('[]' AS json) END,
        %(now)s
    FROM ({_RATED}) AS r
"""  # noqa: S608 (constants only)

_DAILY_FROM_RECORDS = f"""
    SELECT esim_id, day, CAST(data_bytes AS bigint) AS data_bytes,
        CAST(voice_seconds AS bigint) AS voice_seconds
    FROM {_DAY_SUMS} WHERE used
"""  # noqa: S608 (constants only)

_DAILY_UPSERT = """
    INSERT INTO usage_daily (esim_id, day, data_bytes, voice_seconds)
    SELECT esim_id, day, sum(data_bytes), sum(voice_seconds) FROM ({rows}) AS d
    GROUP BY esim_id, day ORDER BY esim_id, day
    ON CONFLICT (esim_id, day) DO UPDATE SET
        data_bytes = usage_daily.data_bytes + excluded.data_bytes,
        voice_seconds = usage_daily.voice_seconds + excluded.voice_seconds
"""


@dataclass(slots=True)
class ServerPart:
    """The records left with the server, and what it must know to write them."""

    regions: list[str]
    areas: list[int]
    # eSIM -> (covered data, covered voice) still to debit from its one bundle.
    sums: dict[str, tuple[int, int]] = field(default_factory=dict)
    used_esims: set[str] = field(default_factory=set)


def split(
    session: Session,
    fresh: dict[str, RecordIn],
    esim_of: dict[str, str],
    balances: dict[str, list[Balance]],
) -> tuple[ServerPart, dict[str, RecordIn]]:
    """Stage the records the server can rate; return its part and the records left for Python."""
    quick = {
        esim_id: group[0]
        for esim_id, group in balances.items()
        if len(group) == 1 and group[0].status == ACTIVE
    }
    quick_iccids = {iccid for iccid, esim_id in esim_of.items() if esim_id in quick}
    left: dict[str, RecordIn] = {}
    stage(
        session,
        _QUICK,
        "iccid text, esim_id text, bundle_id text, areas integer, created_at timestamptz,"
        " expires_at timestamptz",
        ("text", "text", "text", "int4", "timestamptz", "timestamptz"),
        (
            (iccid, esim_id, quick[esim_id].id, quick[esim_id].areas, quick[esim_id].created_at,
             quick[esim_id].expires_at)
            for iccid, esim_id in esim_of.items()
            if esim_id in quick
        ),
    )  # fmt: skip
    stage(
        session,
        _INCOMING,
        "record_id text, iccid text, started_at timestamptz, ended_at timestamptz, region text,"
        " network text, data_bytes bigint, voice_seconds integer",
        ("text", "text", "timestamptz", "timestamptz", "text", "text", "int8", "int4"),
        _staged(fresh.values(), quick_iccids, left),
    )
    connection = driver(session)
    # The temporary tables have no statistics: without these the planner sorts text keys on disk
    # (merge joins) and compiles the statements (JIT), several times the work itself.
    connection.execute("SET LOCAL work_mem = '64MB'")
    connection.execute("SET LOCAL jit = off")
    connection.execute("SET LOCAL enable_mergejoin = off")
    regions = [row[0] for row in connection.execute(f"SELECT DISTINCT region FROM {_INCOMING}")]  # noqa: S608
    part = ServerPart(regions, [usage_area(region) for region in regions])
    connection.execute(f"DROP TABLE IF EXISTS {_DAY_SUMS}")
    connection.execute(_DAY_SUMS_CREATE, _params(part))
    spill: list[str] = []
    for esim_id, data, voice, used in connection.execute(_SUMS):
        if used:
            part.used_esims.add(esim_id)
        if absorbs(quick[esim_id], data, voice):
            part.sums[esim_id] = (data, voice)
        else:
            spill.append(esim_id)
    if spill:
        # Crossing a level or emptying the bundle: these eSIMs' records are rated one by one in Python.
        moved = connection.execute(
            f"DELETE FROM {_INCOMING} AS i USING {_QUICK} AS q"  # noqa: S608 (constants only)
            " WHERE q.iccid = i.iccid AND q.esim_id = ANY(%(spill)s) RETURNING i.record_id",
            {"spill": spill},
        )
        for (record_id,) in moved:
            left[record_id] = fresh[record_id]
        connection.execute(
            f"DELETE FROM {_DAY_SUMS} WHERE esim_id = ANY(%(spill)s)",  # noqa: S608 (constants only)
            {"spill": spill},
        )
        part.used_esims.difference_update(spill)
    return part, left


def _staged(
    records: Iterable[RecordIn], quick_iccids: set[str], left: dict[str, RecordIn]
) -> Iterable[tuple[Any, ...]]:
    for record in records:
        if record.iccid in quick_iccids and record.data_bytes >= 0 and record.voice_seconds >= 0:
            yield (
                record.record_id,
                record.iccid,
                record.started_at,
                record.ended_at,
                record.region,
                record.network,
                record.data_bytes,
                record.voice_seconds,
            )
        else:
            left[record.record_id] = record


def _params(part: ServerPart) -> dict[str, Any]:
    return {"regions": part.regions, "areas": part.areas}


def insert_rated(
    session: Session, part: ServerPart, *, now: datetime, answers: bool
) -> list[tuple[Any, ...]]:
    """Write the server's records: their answers, or only how many of each result."""
    params = {**_params(part), "now": now}
    if answers:
        query = f"{_INSERT} RETURNING record_id, result, charged_data_bytes, charged_voice_seconds"
    else:
        query = (
            f"WITH written AS ({_INSERT} RETURNING result)"  # noqa: S608 (constants only)
            " SELECT result, count(*) FROM written GROUP BY result"
        )
    return driver(session).execute(query, params).fetchall()


def add_daily(session: Session, others: dict[tuple[str, Any], tuple[int, int]]) -> None:
    """The day counters of the server's records and of ``others`` (rated in Python), in one upsert."""
    rows = _DAILY_FROM_RECORDS
    if others:
        stage(
            session,
            "daily_adds",
            "esim_id varchar(40), day date, data_bytes bigint, voice_seconds bigint",
            ("text", "date", "int8", "int8"),
            (key + value for key, value in others.items()),
        )
        rows += " UNION ALL SELECT esim_id, day, data_bytes, voice_seconds FROM daily_adds"
    driver(session).execute(_DAILY_UPSERT.format(rows=rows))
