"""What moves a live eSIM: the SM-DP+'s progress notices, the network's first use, and staff.

Device and network milestones are stored as facts (``installed_at``,
``first_used_at``) and move the status only forward, so a notice that comes
twice, late or out of order leaves the eSIM where the latest fact puts it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.db import new_id
from crossbay.esim import service
from crossbay.esim.errors import EsimStatusConflict
from crossbay.esim.models import Esim, SmdpProgressNotice
from crossbay.esim.states import (
    INSTALLED,
    LIVE,
    SUSPENDED,
    TERMINATED,
    TRANSITIONS,
    resumed_status,
)
from crossbay.jobs import service as jobs
from crossbay.settings import Settings

log = logging.getLogger("crossbay.esim")

RELEASE_PROFILE_JOB = "esim.release_terminated_profile"

# SGP.22 §5.3.5 notification points (ids above 100 are the SM-DP+ operator's own).
ELIGIBILITY_CHECK, CONFIRMATION_FAILURE, BPP_DOWNLOAD, BPP_INSTALLATION, PROFILE_DELETED = 1, 2, 3, 4, 5
EXECUTED = frozenset({"Executed-Success", "Executed-WithWarning"})
POINT_STATUSES = frozenset({"Executed-Success", "Executed-WithWarning", "Failed", "Expired"})


@dataclass(frozen=True)
class ProgressNotice:
    """One ES2+ handleDownloadProgressInfo call, as read from the wire."""

    requester_id: str
    call_id: str
    iccid: str
    point_id: int
    point_status: str
    eid: str | None = None
    subject_code: str | None = None
    reason_code: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class NoticeOutcome:
    known: bool  # the ICCID is one of ours
    duplicate: bool  # this call id was applied before
    status: str | None  # the eSIM's status afterwards


def apply_progress_notice(session: Session, notice: ProgressNotice, *, now: datetime) -> NoticeOutcome:
    """Apply a download progress notice once (per SM-DP+ call id); a late or repeated one changes nothing."""
    seen = session.scalar(
        select(SmdpProgressNotice.id).where(
            SmdpProgressNotice.requester_id == notice.requester_id,
            SmdpProgressNotice.call_id == notice.call_id,
        )
    )
    esim = service.get_esim_by_iccid(session, notice.iccid, lock=True)
    if seen is not None:
        return NoticeOutcome(known=esim is not None, duplicate=True, status=esim.status if esim else None)
    if esim is None:
        return NoticeOutcome(known=False, duplicate=False, status=None)
    session.add(
        SmdpProgressNotice(
            id=new_id("spn"),
            requester_id=notice.requester_id,
            call_id=notice.call_id,
            iccid=notice.iccid,
            esim_id=esim.id,
            point_id=notice.point_id,
            point_status=notice.point_status,
            subject_code=notice.subject_code,
            reason_code=notice.reason_code,
            occurred_at=notice.occurred_at,
            received_at=now,
        )
    )
    if notice.point_status in EXECUTED:
        if notice.point_id == BPP_INSTALLATION:
            _installed(session, esim, eid=notice.eid, at=notice.occurred_at or now, now=now)
        elif notice.point_id == PROFILE_DELETED and esim.status in LIVE:
            # The customer deleted the profile from the phone: it can never be used again.
            service.move(session, esim, TERMINATED, cause="profile_deleted", actor=service.SMDP, now=now)
    else:
        # Eligibility, confirmation, download or installation failed: the eSIM stays
        # installable and the notice is kept for support to read.
        log.info(
            "eSIM download progress failed",
            extra={
                "esim_id": esim.id,
                "point": notice.point_id,
                "subject_code": notice.subject_code,
                "reason_code": notice.reason_code,
            },
        )
    return NoticeOutcome(known=True, duplicate=False, status=esim.status)


def _installed(session: Session, esim: Esim, *, eid: str | None, at: datetime, now: datetime) -> None:
    if esim.installed_at is None:
        esim.installed_at = at
    if eid and esim.eid is None:
        esim.eid = eid
    service.advance(session, esim, INSTALLED, cause="bpp_installed", actor=service.SMDP, now=now)


# --- staff ---------------------------------------------------------------------------------------


def suspend_esim(session: Session, *, esim_id: str, reason: str, now: datetime) -> Esim:
    """Staff stop a live eSIM for now; it keeps its quota place and its bundles."""
    esim = service.lock_esim(session, esim_id)
    _require(esim, SUSPENDED, "suspend")
    service.move(session, esim, SUSPENDED, cause="staff_suspend", actor=service.STAFF, reason=reason, now=now)
    return esim


def resume_esim(session: Session, *, esim_id: str, reason: str, now: datetime) -> Esim:
    """A suspended eSIM goes back to where its device and network facts say it got."""
    esim = service.lock_esim(session, esim_id)
    if esim.status != SUSPENDED:
        raise EsimStatusConflict(f"only a suspended eSIM can be resumed (this one is {esim.status})")
    target = resumed_status(installed=esim.installed_at is not None, used=esim.first_used_at is not None)
    service.move(session, esim, target, cause="staff_resume", actor=service.STAFF, reason=reason, now=now)
    return esim


def terminate_esim(session: Session, *, esim_id: str, reason: str, settings: Settings, now: datetime) -> Esim:
    """Staff close an eSIM for good: its quota place is freed and the SM-DP+ is told (by the worker)."""
    esim = service.lock_esim(session, esim_id)
    _require(esim, TERMINATED, "terminate")
    service.move(
        session, esim, TERMINATED, cause="staff_terminate", actor=service.STAFF, reason=reason, now=now
    )
    jobs.enqueue(
        session,
        RELEASE_PROFILE_JOB,
        {"esim_id": esim.id},
        now=now,
        max_attempts=settings.job_max_attempts,
        dedupe_key=f"release-profile:{esim.id}",
    )
    return esim


def _require(esim: Esim, target: str, action: str) -> None:
    if target not in TRANSITIONS[esim.status]:
        raise EsimStatusConflict(f"cannot {action} an eSIM that is {esim.status}")
