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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.clock import hk_date
from crossbay.esim import service as esim_service
from crossbay.esim.models import Esim
from crossbay.usage import rating
from crossbay.usage.balances import add_daily_usage, load_balances, save_balances
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
    existing = session.get(CreditSession, session_id, with_for_update=True)
    esim = session.execute(select(Esim.id, Esim.first_used_at).where(Esim.iccid == iccid)).first()
    if existing is not None:
        if existing.request_number != 0 or esim is None or existing.esim_id != esim.id:
            raise CreditSessionExists()
        return dict(existing.last_answer)
    if esim is None:
        raise UnknownIccid()
    credit = CreditSession(
        id=session_id,
        esim_id=esim.id,
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
    session.add(credit)
    balances = load_balances(session, [esim.id]).get(esim.id, [])
    answer = _grant(credit, balances, _want(requested, credit.service, policy), policy, now)
    if answer["result_code"] != SUCCESS:
        credit.status, credit.close_reason = CLOSED, REFUSED
        answer["status"] = CLOSED
    save_balances(session, balances, now=now)
    credit.last_answer = answer
    _mark_first_use(
        session, iccid=iccid, seen=esim.first_used_at is not None, granted=answer["granted_units"], now=now
    )
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
    credit, replay = _locked(session, session_id, request_number)
    if replay is not None:
        return replay
    balances = _balances_of(session, credit)
    _commit(session, credit, balances, used, now)
    answer = _grant(credit, balances, _want(requested, credit.service, policy), policy, now)
    credit.request_number = request_number
    credit.updated_at = now
    credit.expires_at = now + timedelta(seconds=policy.timeout_seconds)
    save_balances(session, balances, now=now)
    answer["request_number"] = request_number
    credit.last_answer = answer
    return answer


def terminate_session(
    session: Session, *, session_id: str, request_number: int, used: int, now: datetime
) -> dict[str, Any]:
    """CCR-T: commit the last units used and release whatever was left of the grant."""
    credit, replay = _locked(session, session_id, request_number)
    if replay is not None:
        return replay
    balances = _balances_of(session, credit)
    _commit(session, credit, balances, used, now)
    credit.status, credit.close_reason = CLOSED, TERMINATED
    credit.request_number = request_number
    credit.updated_at = now
    save_balances(session, balances, now=now)
    answer = _answer(credit, SUCCESS, 0, None, 0)
    credit.last_answer = answer
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


def _want(requested: int | None, service: str, policy: CreditPolicy) -> int:
    slice_ = policy.slice(service)
    # The network may ask for less than a slice, never for more.
    return slice_ if requested is None else max(1, min(requested, slice_))


def _locked(
    session: Session, session_id: str, request_number: int
) -> tuple[CreditSession, dict[str, Any] | None]:
    credit = session.get(CreditSession, session_id, with_for_update=True)
    if credit is None:
        raise CreditSessionNotFound()
    if request_number == credit.request_number and request_number > 0:
        return credit, dict(credit.last_answer)
    if request_number < credit.request_number or request_number == 0:
        raise CreditRequestOutOfOrder()
    if credit.status != OPEN:
        raise CreditSessionClosed()
    return credit, None


def _balances_of(session: Session, credit: CreditSession) -> list[Balance]:
    also = [credit.bundle_id] if credit.bundle_id else []
    return load_balances(session, [credit.esim_id], also=also).get(credit.esim_id, [])


def _release(credit: CreditSession, balances: list[Balance]) -> None:
    if credit.bundle_id and credit.granted and not credit.throttled:
        for balance in balances:
            if balance.id == credit.bundle_id:
                balance.release(credit.service, credit.granted)
    credit.bundle_id, credit.granted, credit.throttled = None, 0, False


def _commit(
    session: Session, credit: CreditSession, balances: list[Balance], used: int, now: datetime
) -> None:
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
    if used:
        data, voice = (used, 0) if meter == DATA else (0, used)
        add_daily_usage(session, {(credit.esim_id, hk_date(now)): (data, voice)})


def _grant(
    credit: CreditSession, balances: list[Balance], want: int, policy: CreditPolicy, now: datetime
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
    credit: CreditSession, code: int, granted: int, final_unit: dict[str, Any] | None, validity: int
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


def _mark_first_use(session: Session, *, iccid: str, seen: bool, granted: int, now: datetime) -> None:
    """Quota granted to an eSIM the network never saw before: it is in use now."""
    if granted and not seen:
        esim_service.mark_first_use(session, iccid=iccid, now=now)
