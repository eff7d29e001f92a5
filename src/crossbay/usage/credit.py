"""Online credit control, modelled on Diameter Gy (RFC 8506): reserve, commit and release quota.

- CCR-Initial (``open_session``) reserves a slice (15 MB by default) from the
  eSIM's first usable bundle in priority order.
- CCR-Update (``update_session``) commits the units used since the last
  request, releases the rest of that grant and reserves a new slice.
- CCR-Terminate (``terminate_session``) commits the last units and releases the rest.
- A session the network abandons is closed by ``close_abandoned_sessions`` once
  its validity has run out, and its grant goes back.

Each operation locks the session row, then the eSIM's bundles (in id order), so
the grants outstanding on a bundle never exceed what remains of it, under any
concurrency. A grant is taken from one bundle; when it is the last of the
quota the answer carries a final-unit indication (terminate, or throttle to the
fair-use speed). Request numbers make retransmissions harmless: the same number
is answered again from the stored answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from crossbay.clock import hk_date
from crossbay.db import is_postgresql
from crossbay.esim import service as esim_service
from crossbay.esim.models import Esim
from crossbay.usage import rating
from crossbay.usage.balances import (
    BUNDLE_COLUMNS,
    BUNDLES_UPDATE,
    add_daily_usage,
    balance_from_values,
    bundles_update_params,
    load_balances,
    save_balances,
    saved,
)
from crossbay.usage.bulk import driver
from crossbay.usage.errors import (
    CreditRequestOutOfOrder,
    CreditSessionClosed,
    CreditSessionExists,
    CreditSessionNotFound,
    UnknownIccid,
)
from crossbay.usage.models import CreditSession
from crossbay.usage.rating import DATA, VOICE, Balance
from crossbay.usage.regions import usage_area

OPEN, CLOSED = "open", "closed"
TERMINATED, TIMED_OUT, REFUSED = "terminated", "timed_out", "refused"
# Diameter Result-Code values (RFC 8506 / RFC 6733).
SUCCESS, CREDIT_LIMIT_REACHED = 2001, 4012
RESULT_NAMES = {SUCCESS: "DIAMETER_SUCCESS", CREDIT_LIMIT_REACHED: "DIAMETER_CREDIT_LIMIT_REACHED"}
UNITS = {DATA: "bytes", VOICE: "seconds"}

Service = Literal["data", "voice"]


@dataclass(frozen=True)
class CreditPolicy:
    """How much to grant at a time and how long a grant stays valid (from settings)."""

    slice_bytes: int
    slice_seconds: int
    validity_seconds: int
    # A session silent for this long is abandoned: closed and its grant returned.
    timeout_seconds: int

    def slice(self, service: str) -> int:
        return self.slice_bytes if service == DATA else self.slice_seconds


@dataclass(slots=True)
class CreditRow:
    """A credit session as the use cases change it: read and written with Core statements, not the ORM."""

    id: str
    esim_id: str
    service: str
    region: str
    area: int
    status: str
    close_reason: str | None
    bundle_id: str | None
    granted: int
    throttled: bool
    used_total: int
    charged_total: int
    charges: dict[str, Any]
    request_number: int
    last_answer: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SESSION_FIELDS}


_SESSION_FIELDS = tuple(f.name for f in fields(CreditRow))
_S = cast(Table, CreditSession.__table__)


def open_session(
    session: Session,
    *,
    session_id: str,
    iccid: str,
    service: Service,
    region: str,
    requested: int | None,
    policy: CreditPolicy,
    now: datetime,
) -> dict[str, Any]:
    """CCR-I: reserve a first slice; a retransmitted CCR-I gets the first answer again."""
    found = _read_for_open(session, session_id=session_id, iccid=iccid)
    if found is None:
        if _existing(session, session_id) is not None:
            raise CreditSessionExists()
        raise UnknownIccid()
    esim_id, seen, existing, balances = found
    if existing is not None:
        if existing.request_number != 0 or existing.esim_id != esim_id:
            raise CreditSessionExists()
        return dict(existing.last_answer)
    credit = CreditRow(
        id=session_id,
        esim_id=esim_id,
        service=service,
        region=region,
        area=usage_area(region),
        status=OPEN,
        close_reason=None,
        bundle_id=None,
        granted=0,
        throttled=False,
        used_total=0,
        charged_total=0,
        charges={},
        request_number=0,
        last_answer={},
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(seconds=policy.timeout_seconds),
    )
    answer = _grant(credit, balances, _want(requested, credit.service, policy), policy, now)
    if answer["result_code"] != SUCCESS:
        credit.status, credit.close_reason = CLOSED, REFUSED
        answer["status"] = CLOSED
    credit.last_answer = answer
    _write(session, credit, balances, used=0, now=now, new=True)
    if answer["granted_units"] and not seen:
        # Quota granted to an eSIM the network never saw before: it is in use now.
        esim_service.mark_first_use(session, iccid=iccid, now=now)
    return answer


def update_session(
    session: Session,
    *,
    session_id: str,
    request_number: int,
    used: int,
    requested: int | None,
    policy: CreditPolicy,
    now: datetime,
) -> dict[str, Any]:
    """CCR-U: commit what was used of the last grant, release the rest, reserve the next slice."""
    credit, balances, replay = _locked(session, session_id, request_number)
    if replay is not None:
        return replay
    _commit(credit, balances, used, now)
    answer = _grant(credit, balances, _want(requested, credit.service, policy), policy, now)
    credit.request_number = request_number
    credit.updated_at = now
    credit.expires_at = now + timedelta(seconds=policy.timeout_seconds)
    answer["request_number"] = request_number
    credit.last_answer = answer
    _write(session, credit, balances, used=used, now=now)
    return answer


def terminate_session(
    session: Session, *, session_id: str, request_number: int, used: int, now: datetime
) -> dict[str, Any]:
    """CCR-T: commit the last units used and release whatever was left of the grant."""
    credit, balances, replay = _locked(session, session_id, request_number)
    if replay is not None:
        return replay
    _commit(credit, balances, used, now)
    credit.status, credit.close_reason = CLOSED, TERMINATED
    credit.request_number = request_number
    credit.updated_at = now
    answer = _answer(credit, SUCCESS, 0, None, 0)
    credit.last_answer = answer
    _write(session, credit, balances, used=used, now=now)
    return answer


def close_abandoned_sessions(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Sessions the network stopped talking about: their grants go back to the bundles, unused."""
    stale = list(
        session.scalars(
            select(CreditSession)
            .where(CreditSession.status == OPEN, CreditSession.expires_at < now)
            .order_by(CreditSession.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not stale:
        return 0
    esim_ids = sorted({c.esim_id for c in stale})
    grouped = load_balances(session, esim_ids, also=[c.bundle_id for c in stale if c.bundle_id])
    for credit in stale:
        _release(credit, grouped.get(credit.esim_id, []))
        credit.status, credit.close_reason = CLOSED, TIMED_OUT
        credit.updated_at = now
    save_balances(session, (b for group in grouped.values() for b in group), now=now)
    return len(stale)


def outstanding_grants(session: Session, esim_id: str) -> int:
    """Sum of the units granted and not yet committed or released, across the eSIM's open sessions."""
    return sum(
        c.granted
        for c in session.scalars(
            select(CreditSession).where(CreditSession.esim_id == esim_id, CreditSession.status == OPEN)
        )
        if not c.throttled
    )


# --- reading and writing: one locking read and one write per request on PostgreSQL ---------------------
#
# Every request locks its session row, then the eSIM's bundles in id order (the order the usage
# batches and the timeout sweep use too), and writes the bundles, the day's usage and the session
# back in one statement (writable CTEs), each prepared once per connection (a handful of fixed
# texts). SQLite, one writer at a time, runs the same steps as separate statements.

_LIVE = "('active', 'queued', 'exhausted')"
_SESSION_SELECT = ", ".join(f"c.{name}" for name in _SESSION_FIELDS)
_BUNDLE_NAMES = BUNDLE_COLUMNS.split(", ")
_BUNDLE_SELECT = ", ".join(f"b.{name}" for name in _BUNDLE_NAMES)
_N = len(_SESSION_FIELDS)

# psycopg's own placeholders: the hot path runs on the driver connection, past SQLAlchemy's
# statement and result layers (half of a request's CPU), as server-side prepared statements.
_READ_LOCKED = f"""
    WITH c AS (SELECT * FROM credit_sessions WHERE id = %(sid)s FOR UPDATE),
    b AS (
        SELECT bundles.* FROM bundles JOIN c ON bundles.esim_id = c.esim_id
        WHERE bundles.status IN {_LIVE} OR bundles.id = c.bundle_id
        ORDER BY bundles.id FOR UPDATE OF bundles
    )
    SELECT {_SESSION_SELECT}, {_BUNDLE_SELECT} FROM c LEFT JOIN b ON true ORDER BY b.id
"""  # noqa: S608 (column names and constants only)

_READ_FOR_OPEN = f"""
    WITH e AS (SELECT id, first_used_at FROM esims WHERE iccid = %(iccid)s),
    b AS (
        SELECT bundles.* FROM bundles JOIN e ON bundles.esim_id = e.id
        WHERE bundles.status IN {_LIVE}
        ORDER BY bundles.id FOR UPDATE OF bundles
    )
    SELECT e.id, e.first_used_at IS NOT NULL, {_SESSION_SELECT}, {_BUNDLE_SELECT}
    FROM e LEFT JOIN credit_sessions c ON c.id = %(sid)s LEFT JOIN b ON true ORDER BY b.id
"""  # noqa: S608 (column names and constants only)

_DAILY_UPSERT = """
    INSERT INTO usage_daily (esim_id, day, data_bytes, voice_seconds)
    VALUES (%(d_esim)s, %(d_day)s, %(d_data)s, %(d_voice)s)
    ON CONFLICT (esim_id, day) DO UPDATE SET
        data_bytes = usage_daily.data_bytes + excluded.data_bytes,
        voice_seconds = usage_daily.voice_seconds + excluded.voice_seconds
"""
_JSON_FIELDS = ("charges", "last_answer")


def _placeholder(name: str) -> str:
    return f"CAST(%({name})s AS json)" if name in _JSON_FIELDS else f"%({name})s"


_SESSION_SET = ", ".join(f"{name} = {_placeholder(name)}" for name in _SESSION_FIELDS if name != "id")
_SESSION_VALUES = ", ".join(_placeholder(name) for name in _SESSION_FIELDS)
# The usual request changes one bundle: scalar parameters, cheaper to send than nine arrays.
_BUNDLE_UPDATE = """
    UPDATE bundles SET
        status = %(b_status)s, starts_at = %(b_starts)s, expires_at = %(b_expires)s,
        data_remaining_bytes = %(b_data_remaining)s, data_reserved_bytes = %(b_data_reserved)s,
        voice_remaining_seconds = %(b_voice_remaining)s, voice_reserved_seconds = %(b_voice_reserved)s,
        next_alert_percent = %(b_next_alert)s
    WHERE id = %(b_id)s
"""
_BUNDLES_UPDATE = re.sub(r":(\w+)", r"%(\1)s", BUNDLES_UPDATE)


@cache
def _write_statement(new: bool, bundles: int, daily: bool) -> str:
    """Bundles, day and session in one statement: ``bundles`` is 0, 1 or 2 (several)."""
    ctes = []
    if bundles:
        ctes.append("bu AS (" + (_BUNDLE_UPDATE if bundles == 1 else _BUNDLES_UPDATE) + ")")
    if daily:
        ctes.append("du AS (" + _DAILY_UPSERT + ")")
    if new:
        last = f"INSERT INTO credit_sessions ({', '.join(_SESSION_FIELDS)}) VALUES ({_SESSION_VALUES})"  # noqa: S608
    else:
        last = f"UPDATE credit_sessions SET {_SESSION_SET} WHERE id = %(id)s"  # noqa: S608
    return ("WITH " + ", ".join(ctes) + " " if ctes else "") + last


def _bundle_params(balance: Balance) -> dict[str, Any]:
    return {
        "b_id": balance.id,
        "b_status": balance.status,
        "b_starts": balance.starts_at,
        "b_expires": balance.expires_at,
        "b_data_remaining": balance.data_remaining,
        "b_data_reserved": balance.data_reserved,
        "b_voice_remaining": balance.voice_remaining,
        "b_voice_reserved": balance.voice_reserved,
        "b_next_alert": balance.next_alert_percent,
    }


def _row_of(row: Sequence[Any]) -> CreditRow:
    return CreditRow(*row[:_N])


def _balances_in(rows: Sequence[Sequence[Any]], offset: int) -> list[Balance]:
    return [balance_from_values(row[offset:]) for row in rows if row[offset] is not None]


def _locked(
    session: Session, session_id: str, request_number: int
) -> tuple[CreditRow, list[Balance], dict[str, Any] | None]:
    if is_postgresql(session):
        rows = driver(session).execute(_READ_LOCKED, {"sid": session_id}, prepare=True).fetchall()
        if not rows:
            raise CreditSessionNotFound()
        credit, balances = _row_of(rows[0]), _balances_in(rows, _N)
    else:
        found = _existing(session, session_id, lock=True)
        if found is None:
            raise CreditSessionNotFound()
        credit = found
        also = [credit.bundle_id] if credit.bundle_id else []
        balances = load_balances(session, [credit.esim_id], also=also).get(credit.esim_id, [])
    if request_number == credit.request_number and request_number > 0:
        return credit, balances, dict(credit.last_answer)
    if request_number < credit.request_number or request_number == 0:
        raise CreditRequestOutOfOrder()
    if credit.status != OPEN:
        raise CreditSessionClosed()
    return credit, balances, None


def _read_for_open(
    session: Session, *, session_id: str, iccid: str
) -> tuple[str, bool, CreditRow | None, list[Balance]] | None:
    """(eSIM id, used before?, the session if any, the eSIM's live bundles, locked); None: no such ICCID."""
    if is_postgresql(session):
        query = {"sid": session_id, "iccid": iccid}
        rows = driver(session).execute(_READ_FOR_OPEN, query, prepare=True).fetchall()
        if not rows:
            return None
        first = rows[0]
        existing = _row_of(first[2:]) if first[2] is not None else None
        return first[0], bool(first[1]), existing, _balances_in(rows, 2 + _N)
    esim = session.execute(select(Esim.id, Esim.first_used_at).where(Esim.iccid == iccid)).first()
    if esim is None:
        return None
    existing = _existing(session, session_id, lock=True)
    balances = load_balances(session, [esim.id]).get(esim.id, [])
    return esim.id, esim.first_used_at is not None, existing, balances


def _existing(session: Session, session_id: str, *, lock: bool = False) -> CreditRow | None:
    query = select(*(_S.c[name] for name in _SESSION_FIELDS)).where(_S.c.id == session_id)
    row = session.execute(query.with_for_update() if lock else query).first()
    return CreditRow(**row._asdict()) if row is not None else None


def _write(
    session: Session,
    credit: CreditRow,
    balances: list[Balance],
    *,
    used: int,
    now: datetime,
    new: bool = False,
) -> None:
    """The bundles that changed, the day's usage and the session, in one statement on PostgreSQL."""
    changed = [b for b in balances if b.changed]
    daily = (
        {(credit.esim_id, hk_date(now)): (used, 0) if credit.service == DATA else (0, used)} if used else {}
    )
    if is_postgresql(session):
        values = credit.values()
        values["charges"] = json.dumps(credit.charges)
        values["last_answer"] = json.dumps(credit.last_answer)
        params: dict[str, Any] = values
        if len(changed) == 1:
            params.update(_bundle_params(changed[0]))
        elif changed:
            params.update(bundles_update_params(changed))
        for (esim_id, day), (data, voice) in daily.items():
            params.update(d_esim=esim_id, d_day=day, d_data=data, d_voice=voice)
        statement = _write_statement(new, min(len(changed), 2), bool(daily))
        driver(session).execute(statement, params, prepare=True)
        saved(session, changed, now=now)
    else:
        save_balances(session, balances, now=now)
        add_daily_usage(session, daily)
        if new:
            session.execute(insert(_S).values(**credit.values()))
        else:
            session.execute(update(_S).where(_S.c.id == credit.id).values(**credit.values()))
    # A copy the caller's ORM session holds must not outlive this write.
    stale = session.identity_map.get(session.identity_key(CreditSession, credit.id))
    if stale is not None:
        session.expire(stale)


def _want(requested: int | None, service: str, policy: CreditPolicy) -> int:
    slice_ = policy.slice(service)
    # The network may ask for less than a slice, never for more.
    return slice_ if requested is None else max(1, min(requested, slice_))


def _release(credit: CreditRow | CreditSession, balances: list[Balance]) -> None:
    if credit.bundle_id and credit.granted and not credit.throttled:
        for balance in balances:
            if balance.id == credit.bundle_id:
                balance.release(credit.service, credit.granted)
    credit.bundle_id, credit.granted, credit.throttled = None, 0, False


def _commit(credit: CreditRow, balances: list[Balance], used: int, now: datetime) -> None:
    """Charge the units used: first from the grant's bundle, any excess like a usage record."""
    meter = credit.service
    charges: dict[str, int] = dict(credit.charges)
    throttled = credit.throttled
    from_grant = 0
    if credit.bundle_id and credit.granted and not throttled:
        bundle = next((b for b in balances if b.id == credit.bundle_id), None)
        if bundle is not None:
            bundle.release(meter, credit.granted)
            from_grant = min(used, credit.granted, max(0, bundle.remaining(meter)))
            if from_grant:
                bundle.debit(meter, from_grant)
                charges[bundle.id] = charges.get(bundle.id, 0) + from_grant
    credit.bundle_id, credit.granted, credit.throttled = None, 0, False
    charged = from_grant
    if used > from_grant and not throttled:
        # The network overshot its grant: charge the excess wherever quota is free, as a record would be.
        for bundle_id, units in rating.charge(balances, meter, used - from_grant, credit.area, now):
            charges[bundle_id] = charges.get(bundle_id, 0) + units
            charged += units
    credit.charges = charges
    credit.used_total += used
    credit.charged_total += charged


def _grant(
    credit: CreditRow, balances: list[Balance], want: int, policy: CreditPolicy, now: datetime
) -> dict[str, Any]:
    meter, area = credit.service, credit.area
    bundle, granted = rating.reserve(balances, meter, want, area, now)
    throttle = rating.throttle_for(balances, area, now) if meter == DATA else None
    if bundle is not None:
        credit.bundle_id, credit.granted = bundle.id, granted
        last = rating.available_total(balances, meter, area, now) == 0
        return _answer(
            credit, SUCCESS, granted, _final_unit(throttle) if last else None, policy.validity_seconds
        )
    if throttle is not None:
        # Fair use: the quota is gone but the pack still carries data, slowly and free of charge.
        credit.throttled, credit.granted = True, want
        return _answer(credit, SUCCESS, want, _final_unit(throttle), policy.validity_seconds)
    return _answer(credit, CREDIT_LIMIT_REACHED, 0, _final_unit(None), 0)


def _final_unit(throttle_kbps: int | None) -> dict[str, Any]:
    if throttle_kbps is None:
        return {"action": "terminate", "throttle_kbps": None}
    return {"action": "throttle", "throttle_kbps": throttle_kbps}


def _answer(
    credit: CreditRow, code: int, granted: int, final_unit: dict[str, Any] | None, validity: int
) -> dict[str, Any]:
    return {
        "session_id": credit.id,
        "request_number": credit.request_number,
        "result_code": code,
        "result": RESULT_NAMES[code],
        "status": credit.status,
        "service": credit.service,
        "unit": UNITS[credit.service],
        "granted_units": granted,
        "validity_seconds": validity,
        "final_unit": final_unit,
        "used_units_total": credit.used_total,
        "charged_units_total": credit.charged_total,
    }
