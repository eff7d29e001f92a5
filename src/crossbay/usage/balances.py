"""Bundles as rating balances: loaded under a row lock, written back in one statement per batch.

Core statements rather than ORM objects: a rating batch touches thousands of
bundles, and the hot path must stay a handful of round trips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ARRAY, String, Table, any_, bindparam, insert, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crossbay.db import is_postgresql, new_id
from crossbay.usage.bulk import STAGE_FROM, fetch, stage
from crossbay.usage.models import Bundle, UsageDaily, UsageEvent
from crossbay.usage.rating import ACTIVE, EXHAUSTED, QUEUED, Balance

_T = cast(Table, Bundle.__table__)
_COLUMNS = (
    _T.c.id,
    _T.c.esim_id,
    _T.c.status,
    _T.c.area_mask,
    _T.c.created_at,
    _T.c.starts_at,
    _T.c.expires_at,
    _T.c.validity_days,
    _T.c.throttle_kbps,
    _T.c.data_total_bytes,
    _T.c.data_remaining_bytes,
    _T.c.data_reserved_bytes,
    _T.c.voice_total_seconds,
    _T.c.voice_remaining_seconds,
    _T.c.voice_reserved_seconds,
    _T.c.next_alert_percent,
)
LIVE = (ACTIVE, QUEUED, EXHAUSTED)
_SQLITE_CHUNK = 5000


def member_of(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values``: one array parameter on PostgreSQL (no 65,535-parameter ceiling)."""
    if is_postgresql(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(values)


def chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    """SQLite caps the parameters of one statement; PostgreSQL takes the whole list as one array."""
    for start in range(0, len(values), _SQLITE_CHUNK):
        yield values[start : start + _SQLITE_CHUNK]


def load_balances(
    session: Session, esim_ids: Sequence[str], *, also: Iterable[str] = ()
) -> dict[str, list[Balance]]:
    """The live bundles of these eSIMs (plus ``also`` whatever their state), locked until commit.

    Locked in id order, so two batches touching the same eSIMs queue rather than deadlock.
    """
    grouped: dict[str, list[Balance]] = defaultdict(list)
    extra = list(also)
    if is_postgresql(session):
        if esim_ids:
            also_these = " OR id = ANY(%(extra)b)" if extra else ""
            rows = fetch(
                session,
                f"SELECT {BUNDLE_COLUMNS} FROM bundles WHERE esim_id = ANY(%(ids)b)"  # noqa: S608 (constants)
                f" AND (status = ANY(%(live)b){also_these}) ORDER BY id FOR UPDATE",
                {"ids": list(esim_ids), "live": list(LIVE), "extra": extra},
            )
            for values in rows:
                grouped[values[1]].append(balance_from_values(values))
        return grouped
    for part in chunks(esim_ids):
        where = member_of(session, _T.c.esim_id, part)
        status = _T.c.status.in_(LIVE)
        query = (
            select(*_COLUMNS)
            .where(where, or_(status, _T.c.id.in_(extra)) if extra else status)
            .order_by(_T.c.id)
            .with_for_update()
        )
        for row in session.execute(query):
            grouped[row.esim_id].append(balance_from_row(row))
    return grouped


_UNNESTED = """unnest(
        CAST(:ids AS varchar[]), CAST(:statuses AS varchar[]),
        CAST(:starts AS timestamptz[]), CAST(:expires AS timestamptz[]),
        CAST(:data_remaining AS bigint[]), CAST(:data_reserved AS bigint[]),
        CAST(:voice_remaining AS integer[]), CAST(:voice_reserved AS integer[]),
        CAST(:next_alert AS integer[])
    ) AS v(id, status, starts_at, expires_at, data_remaining, data_reserved,
           voice_remaining, voice_reserved, next_alert)"""
# One statement for a whole batch of bundles: arrays unnested into a join (PostgreSQL).
BUNDLES_UPDATE = f"""
    UPDATE bundles AS b SET
        status = v.status, starts_at = v.starts_at, expires_at = v.expires_at,
        data_remaining_bytes = v.data_remaining, data_reserved_bytes = v.data_reserved,
        voice_remaining_seconds = v.voice_remaining, voice_reserved_seconds = v.voice_reserved,
        next_alert_percent = v.next_alert
    FROM {_UNNESTED}
    WHERE b.id = v.id
"""  # noqa: S608 (constants only)


def bundles_update_params(changed: Sequence[Balance]) -> dict[str, list[Any]]:
    """The parameters of ``BUNDLES_UPDATE`` for these balances."""
    return {
        "ids": [b.id for b in changed],
        "statuses": [b.status for b in changed],
        "starts": [b.starts_at for b in changed],
        "expires": [b.expires_at for b in changed],
        "data_remaining": [b.data_remaining for b in changed],
        "data_reserved": [b.data_reserved for b in changed],
        "voice_remaining": [b.voice_remaining for b in changed],
        "voice_reserved": [b.voice_reserved for b in changed],
        "next_alert": [b.next_alert_percent for b in changed],
    }


def balance_from_row(row: Any) -> Balance:
    """A bundle row (its columns by their own names) as rating sees it."""
    return Balance(
        id=row.id,
        esim_id=row.esim_id,
        status=row.status,
        areas=row.area_mask,
        created_at=row.created_at,
        starts_at=row.starts_at,
        expires_at=row.expires_at,
        validity_days=row.validity_days,
        throttle_kbps=row.throttle_kbps,
        data_total=row.data_total_bytes,
        data_remaining=row.data_remaining_bytes,
        data_reserved=row.data_reserved_bytes,
        voice_total=row.voice_total_seconds,
        voice_remaining=row.voice_remaining_seconds,
        voice_reserved=row.voice_reserved_seconds,
        next_alert_percent=row.next_alert_percent,
    )


BUNDLE_COLUMNS = ", ".join(c.name for c in _COLUMNS)


def balance_from_values(values: Sequence[Any]) -> Balance:
    """A bundle row's values in ``BUNDLE_COLUMNS`` order, which is ``Balance``'s field order.

    The driver gives times in the server's zone; in UTC, like the records', rating compares them
    without working out two offsets each time (a third of the batch's Python time).
    """
    balance = Balance(*values)
    balance.created_at = balance.created_at.astimezone(UTC)
    if balance.starts_at is not None:
        balance.starts_at = balance.starts_at.astimezone(UTC)
    if balance.expires_at is not None:
        balance.expires_at = balance.expires_at.astimezone(UTC)
    return balance


def save_balances(session: Session, balances: Iterable[Balance], *, now: datetime) -> None:
    """Write back what changed, and the events it raised, in the caller's transaction."""
    changed = [b for b in balances if b.changed]
    if not changed:
        return
    if is_postgresql(session) and len(changed) >= STAGE_FROM:
        stage(
            session,
            "bundle_writes",
            "id varchar(40), status varchar(16), starts_at timestamptz, expires_at timestamptz,"
            " data_remaining bigint, data_reserved bigint, voice_remaining integer, voice_reserved integer,"
            " next_alert integer",
            ("text", "text", "timestamptz", "timestamptz", "int8", "int8", "int4", "int4", "int4"),
            (
                (
                    b.id,
                    b.status,
                    b.starts_at,
                    b.expires_at,
                    b.data_remaining,
                    b.data_reserved,
                    b.voice_remaining,
                    b.voice_reserved,
                    b.next_alert_percent,
                )
                for b in changed
            ),
        )
        session.execute(text(BUNDLES_UPDATE.replace(_UNNESTED, "bundle_writes AS v")))
    elif is_postgresql(session):
        session.execute(text(BUNDLES_UPDATE), bundles_update_params(changed))
    else:
        session.connection().execute(
            update(_T)
            .where(_T.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                starts_at=bindparam("b_starts"),
                expires_at=bindparam("b_expires"),
                data_remaining_bytes=bindparam("b_data_remaining"),
                data_reserved_bytes=bindparam("b_data_reserved"),
                voice_remaining_seconds=bindparam("b_voice_remaining"),
                voice_reserved_seconds=bindparam("b_voice_reserved"),
                next_alert_percent=bindparam("b_next_alert"),
            ),
            [
                {
                    "b_id": b.id,
                    "b_status": b.status,
                    "b_starts": b.starts_at,
                    "b_expires": b.expires_at,
                    "b_data_remaining": b.data_remaining,
                    "b_data_reserved": b.data_reserved,
                    "b_voice_remaining": b.voice_remaining,
                    "b_voice_reserved": b.voice_reserved,
                    "b_next_alert": b.next_alert_percent,
                }
                for b in changed
            ],
        )
    saved(session, changed, now=now)


def saved(session: Session, changed: Sequence[Balance], *, now: datetime) -> None:
    """The balances were written: raise their events and start them afresh."""
    emit_events(session, [(kind, b.esim_id, b.id, used) for b in changed for kind, used in b.events], now=now)
    for balance in changed:
        balance.changed = False
        balance.events.clear()


def emit_events(session: Session, events: Sequence[tuple[str, str, str, int]], *, now: datetime) -> None:
    """The one place bundle events are raised: reminders and auto-renew hook in by reading ``usage_events``.

    Each event is ``(kind, esim_id, bundle_id, used_percent)``; ``kind`` is ``threshold`` (the used
    percentage passed the bundle's ``next_alert_percent``), ``exhausted`` or ``expired``.
    """
    if not events:
        return
    session.execute(
        insert(UsageEvent),
        [
            {
                "id": new_id("uev"),
                "kind": kind,
                "esim_id": esim_id,
                "bundle_id": bundle_id,
                "used_percent": used,
                "at": now,
                "processed_at": None,
            }
            for kind, esim_id, bundle_id, used in events
        ],
    )


def add_daily_usage(session: Session, totals: dict[tuple[str, Any], tuple[int, int]]) -> None:
    """Add to the per-day counters, one upsert for the batch (rows in key order: no deadlock)."""
    if not totals:
        return
    if is_postgresql(session) and len(totals) >= STAGE_FROM:
        stage(
            session,
            "daily_adds",
            # Sorted below in the order of usage_daily's key (bytes), so the upsert walks it once.
            'esim_id varchar(40) COLLATE "C", day date, data_bytes bigint, voice_seconds bigint',
            ("text", "date", "int8", "int8"),
            (key + value for key, value in totals.items()),
        )
        session.execute(
            text(
                """
                INSERT INTO usage_daily (esim_id, day, data_bytes, voice_seconds)
                SELECT esim_id, day, data_bytes, voice_seconds FROM daily_adds ORDER BY esim_id, day
                ON CONFLICT (esim_id, day) DO UPDATE SET
                    data_bytes = usage_daily.data_bytes + excluded.data_bytes,
                    voice_seconds = usage_daily.voice_seconds + excluded.voice_seconds
                """
            )
        )
        return
    table = cast(Table, UsageDaily.__table__)
    rows = [
        {"esim_id": esim_id, "day": day, "data_bytes": data, "voice_seconds": voice}
        for (esim_id, day), (data, voice) in sorted(totals.items())
    ]
    if is_postgresql(session):
        # One statement for the batch (an executemany would be one round of the pipeline per row).
        session.execute(
            text(
                """
                INSERT INTO usage_daily (esim_id, day, data_bytes, voice_seconds)
                SELECT * FROM unnest(
                    CAST(:esims AS varchar[]), CAST(:days AS date[]),
                    CAST(:data AS bigint[]), CAST(:voice AS bigint[])
                )
                ON CONFLICT (esim_id, day) DO UPDATE SET
                    data_bytes = usage_daily.data_bytes + excluded.data_bytes,
                    voice_seconds = usage_daily.voice_seconds + excluded.voice_seconds
                """
            ),
            {
                "esims": [r["esim_id"] for r in rows],
                "days": [r["day"] for r in rows],
                "data": [r["data_bytes"] for r in rows],
                "voice": [r["voice_seconds"] for r in rows],
            },
        )
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table)
    statement = lite.on_conflict_do_update(
        index_elements=[table.c.esim_id, table.c.day],
        set_={
            "data_bytes": table.c.data_bytes + lite.excluded.data_bytes,
            "voice_seconds": table.c.voice_seconds + lite.excluded.voice_seconds,
        },
    )
    session.execute(statement, rows)
