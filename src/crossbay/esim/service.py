"""eSIM profiles on our side: created for an order, filled in as the SM-DP+ answers.

Every status change goes through :func:`move`, which checks it against the one
table in :mod:`crossbay.esim.states` and writes the timeline row in the same
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.db import new_id
from crossbay.errors import Conflict, NotFound
from crossbay.esim.activation import activation_code
from crossbay.esim.models import Esim, EsimTransition
from crossbay.esim.states import (
    ACTIVE,
    INSTALLED,
    LIVE,
    PREPARING,
    READY,
    SUSPENDED,
    TERMINATED,
    TRANSITIONS,
    check_transition,
    progressed,
)

__all__ = [
    "ACTIVE",
    "INSTALLED",
    "PREPARING",
    "READY",
    "SUSPENDED",
    "TERMINATED",
]
TOPUP_ALLOWED = frozenset({PREPARING, READY, INSTALLED, ACTIVE})
SYSTEM, SMDP, NETWORK, STAFF = "system", "smdp", "network", "staff"


class EsimNotActive(Conflict):
    code = "esim_not_active"


def move(
    session: Session,
    esim: Esim,
    status: str,
    *,
    cause: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Change the status of a locked eSIM and put the change on its timeline."""
    check_transition(esim.status, status)
    _record(session, esim, esim.status, status, cause=cause, actor=actor, reason=reason, now=now)
    esim.status = status
    esim.updated_at = now


def _record(
    session: Session,
    esim: Esim,
    from_status: str | None,
    status: str,
    *,
    cause: str,
    actor: str,
    reason: str | None,
    now: datetime,
) -> None:
    last = session.scalar(select(func.max(EsimTransition.seq)).where(EsimTransition.esim_id == esim.id))
    session.add(
        EsimTransition(
            id=new_id("etr"),
            esim_id=esim.id,
            seq=0 if last is None else last + 1,
            from_status=from_status,
            status=status,
            cause=cause,
            actor=actor,
            reason=reason,
            at=now,
        )
    )


def mark_first_use(session: Session, *, iccid: str, now: datetime) -> Esim | None:
    """The network saw the eSIM for the first time: it is active (the usage engine calls this in its
    own transaction). Unknown ICCIDs are ``None``; repeats change nothing."""
    esim = get_esim_by_iccid(session, iccid, lock=True)
    if esim is None:
        return None
    if esim.first_used_at is None:
        esim.first_used_at = now
        esim.updated_at = now
    advance(session, esim, ACTIVE, cause="first_use", actor=NETWORK, now=now)
    return esim


def advance(session: Session, esim: Esim, milestone: str, *, cause: str, actor: str, now: datetime) -> None:
    """Forward only; a suspended or closed eSIM keeps its status (the fact is kept on the row)."""
    if progressed(esim.status, milestone) and milestone in TRANSITIONS[esim.status]:
        move(session, esim, milestone, cause=cause, actor=actor, now=now)


def start_profile(session: Session, *, customer_id: str, order_id: str, now: datetime) -> Esim:
    """The eSIM row for a new-eSIM order, once. Its ES2+ call ids are fixed here so retries reuse them."""
    existing = session.scalar(select(Esim).where(Esim.order_id == order_id))
    if existing is not None:
        return existing
    esim = Esim(
        id=new_id("esim"),
        customer_id=customer_id,
        order_id=order_id,
        status=PREPARING,
        download_call_id=str(uuid.uuid4()),
        confirm_call_id=str(uuid.uuid4()),
        created_at=now,
        updated_at=now,
    )
    session.add(esim)
    session.flush()  # the timeline row refers to the eSIM
    _record(session, esim, None, PREPARING, cause="order_paid", actor=SYSTEM, reason=None, now=now)
    return esim


def lock_esim(session: Session, esim_id: str) -> Esim:
    esim = session.get(Esim, esim_id, with_for_update=True, populate_existing=True)
    if esim is None:
        raise NotFound()
    return esim


def record_iccid(session: Session, *, esim_id: str, iccid: str, now: datetime) -> Esim:
    esim = lock_esim(session, esim_id)
    if esim.iccid is None:
        esim.iccid = iccid
        esim.updated_at = now
    return esim


def record_release(
    session: Session, *, esim_id: str, matching_id: str, smdp_address: str, now: datetime
) -> Esim:
    """The SM-DP+ confirmed and released the profile: it can be downloaded now."""
    esim = lock_esim(session, esim_id)
    if esim.status == PREPARING:
        esim.matching_id = matching_id
        esim.smdp_address = smdp_address
        move(session, esim, READY, cause="profile_released", actor=SYSTEM, now=now)
    return esim


def abandon_unfinished(session: Session, *, esim_id: str, now: datetime) -> Esim:
    """Fulfilment gave up: an eSIM that never reached the customer ends here and frees its quota place."""
    esim = lock_esim(session, esim_id)
    if esim.status in (PREPARING, READY):
        move(session, esim, TERMINATED, cause="fulfilment_failed", actor=SYSTEM, now=now)
    return esim


def cancel_call_id(esim: Esim) -> str:
    """The same ES2+ call id on every retry of one cancellation."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crossbay:cancelOrder:{esim.id}"))


def get_esim(session: Session, esim_id: str) -> Esim | None:
    return session.get(Esim, esim_id)


def get_esim_by_iccid(session: Session, iccid: str, *, lock: bool = False) -> Esim | None:
    stmt = select(Esim).where(Esim.iccid == iccid)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def get_owned_esim(session: Session, *, customer_id: str, esim_id: str) -> Esim:
    """Another customer's eSIM is indistinguishable from a missing one."""
    esim = session.get(Esim, esim_id)
    if esim is None or esim.customer_id != customer_id:
        raise NotFound()
    return esim


def require_topup_allowed(esim: Esim) -> None:
    if esim.status not in TOPUP_ALLOWED:
        raise EsimNotActive()


def list_esims(session: Session, *, customer_id: str) -> list[Esim]:
    return list(
        session.scalars(select(Esim).where(Esim.customer_id == customer_id).order_by(Esim.created_at))
    )


def count_live_esims(session: Session, *, customer_ids: list[str]) -> int:
    """What counts against the real-name quota: every eSIM not terminated, suspended ones included."""
    return int(
        session.scalar(select(func.count()).where(Esim.customer_id.in_(customer_ids), Esim.status.in_(LIVE)))
        or 0
    )


def timelines_for(session: Session, esim_ids: Iterable[str]) -> dict[str, list[EsimTransition]]:
    """The timelines of several eSIMs in one query, oldest change first."""
    wanted = list(esim_ids)
    grouped: dict[str, list[EsimTransition]] = {esim_id: [] for esim_id in wanted}
    if wanted:
        stmt = (
            select(EsimTransition)
            .where(EsimTransition.esim_id.in_(wanted))
            .order_by(EsimTransition.esim_id, EsimTransition.seq)
        )
        for transition in session.scalars(stmt):
            grouped[transition.esim_id].append(transition)
    return grouped


def activation_code_of(esim: Esim) -> str | None:
    if esim.smdp_address is None or esim.matching_id is None:
        return None
    return activation_code(esim.smdp_address, esim.matching_id)
