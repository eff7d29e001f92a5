"""eSIM profiles on our side: created for an order, filled in as the SM-DP+ answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.db import new_id
from crossbay.errors import Conflict, NotFound
from crossbay.esim.activation import activation_code
from crossbay.esim.models import Esim

PREPARING, READY, INSTALLED, ACTIVE, SUSPENDED, TERMINATED = (
    "preparing",
    "ready",
    "installed",
    "active",
    "suspended",
    "terminated",
)
TOPUP_ALLOWED = frozenset({PREPARING, READY, INSTALLED, ACTIVE})


class EsimNotActive(Conflict):
    code = "esim_not_active"


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
    return esim


def record_iccid(session: Session, *, esim_id: str, iccid: str, now: datetime) -> Esim:
    esim = session.get(Esim, esim_id, with_for_update=True)
    assert esim is not None
    if esim.iccid is None:
        esim.iccid = iccid
        esim.updated_at = now
    return esim


def record_release(
    session: Session, *, esim_id: str, matching_id: str, smdp_address: str, now: datetime
) -> Esim:
    """The SM-DP+ confirmed and released the profile: it can be downloaded now."""
    esim = session.get(Esim, esim_id, with_for_update=True)
    assert esim is not None
    if esim.status == PREPARING:
        esim.matching_id = matching_id
        esim.smdp_address = smdp_address
        esim.status = READY
        esim.updated_at = now
    return esim


def abandon_unfinished(session: Session, *, esim_id: str, now: datetime) -> Esim:
    """Fulfilment gave up: an eSIM that never reached the customer ends here and frees its quota place."""
    esim = session.get(Esim, esim_id, with_for_update=True)
    assert esim is not None
    if esim.status in (PREPARING, READY):
        esim.status = TERMINATED
        esim.updated_at = now
    return esim


def cancel_call_id(esim: Esim) -> str:
    """The same ES2+ call id on every retry of one cancellation."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crossbay:cancelOrder:{esim.id}"))


def get_esim(session: Session, esim_id: str) -> Esim | None:
    return session.get(Esim, esim_id)


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
    return int(
        session.scalar(
            select(func.count()).where(Esim.customer_id.in_(customer_ids), Esim.status != TERMINATED)
        )
        or 0
    )


def activation_code_of(esim: Esim) -> str | None:
    if esim.smdp_address is None or esim.matching_id is None:
        return None
    return activation_code(esim.smdp_address, esim.matching_id)
