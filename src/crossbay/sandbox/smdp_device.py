"""The sandbox SM-DP+'s other side: a phone that downloads, installs and deletes a profile.

Real phones talk to the SM-DP+ over ES9+/ES8+ through their LPA; the sandbox
skips that and plays the outcome, then tells the operator what happened with
the ES2+ ``handleDownloadProgressInfo`` callbacks (SGP.22 §5.3.5), as a real
SM-DP+ does: eligibility check (1), BPP download (3), BPP installation (4) and
deletion (5). The switchable faults repeat the callbacks or send them in
reverse order.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction
from crossbay.errors import Conflict, NotFound, ValidationFailed
from crossbay.esim.activation import eid_is_valid
from crossbay.runtime import Runtime
from crossbay.sandbox.smdp_models import (
    DELETED,
    DOWNLOADED,
    INSTALLED,
    RELEASED,
    SandboxSmdpProfile,
    settings_row,
)

log = logging.getLogger("crossbay.sandbox")
router = APIRouter(prefix="/device")

CALLBACK_PATH = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"
CALLBACK_PROTOCOL = "gsma/rsp/v2.5.0"
# SGP.22 leaves the limit to the SM-DP+; operators commonly allow a handful of tries.
MAX_DOWNLOAD_ATTEMPTS = 5
ELIGIBILITY, DOWNLOAD, INSTALLATION, DELETION = 1, 3, 4, 5
SUCCESS = ("Executed-Success", None, None)
TOO_MANY_ATTEMPTS = ("Failed", "8.8.5", "6.4")
EID_MISMATCH = ("Failed", "8.1.1", "3.10")
# Reason 5.x: a transport failure between phone and SM-DP+; 6.x: the eUICC refused.
DOWNLOAD_FAILED = ("Failed", "8.1", "5.1")
INSTALLATION_FAILED = ("Failed", "8.1", "6.3")


class DeviceAction(BaseModel):
    eid: str = Field(min_length=32, max_length=32, description="the phone's eUICC id (32 digits)")
    # Make the phone fail at a step, to see how the operator takes it.
    fail_at: Literal["download", "installation"] | None = None


@dataclass
class _Outcome:
    iccid: str
    eid: str
    profile_type: str | None
    state: str
    points: list[tuple[int, tuple[str, str | None, str | None]]] = field(default_factory=list)
    refused: str | None = None


@router.post("/{matching_id}/install")
def install(matching_id: str, action: DeviceAction, session: SessionDep, runtime: RuntimeDep) -> JSONResponse:
    """The phone scans the activation code, downloads the profile and installs it."""
    _check_eid(action.eid)
    with transaction(session):
        profile = _by_matching_id(session, matching_id)
        if profile.state != RELEASED:
            raise Conflict(f"the profile cannot be downloaded (it is {profile.state})")
        outcome = _Outcome(profile.iccid, action.eid, profile.profile_type, profile.state)
        profile.download_attempts += 1
        if profile.download_attempts > MAX_DOWNLOAD_ATTEMPTS:
            outcome.points.append((ELIGIBILITY, TOO_MANY_ATTEMPTS))
            outcome.refused = "too many download attempts"
        elif profile.eid is not None and profile.eid != action.eid:
            outcome.points.append((ELIGIBILITY, EID_MISMATCH))
            outcome.refused = "the profile is bound to another EID"
        else:
            outcome.points.append((ELIGIBILITY, SUCCESS))
            if action.fail_at == "download":
                outcome.points.append((DOWNLOAD, DOWNLOAD_FAILED))
            else:
                outcome.points.append((DOWNLOAD, SUCCESS))
                profile.state = DOWNLOADED
                if action.fail_at == "installation":
                    outcome.points.append((INSTALLATION, INSTALLATION_FAILED))
                    profile.state = RELEASED  # the sandbox lets the phone try again
                else:
                    outcome.points.append((INSTALLATION, SUCCESS))
                    profile.state = INSTALLED
                    profile.eid = action.eid
        profile.updated_at = runtime.clock.now()
        outcome.state = profile.state
    return _answer(runtime, session, outcome)


@router.post("/{matching_id}/delete")
def delete(matching_id: str, action: DeviceAction, session: SessionDep, runtime: RuntimeDep) -> JSONResponse:
    """The owner deletes the installed profile from the phone."""
    _check_eid(action.eid)
    with transaction(session):
        profile = _by_matching_id(session, matching_id)
        if profile.state != INSTALLED or profile.eid != action.eid:
            raise Conflict("no such profile installed on this phone")
        profile.state = DELETED
        profile.updated_at = runtime.clock.now()
        outcome = _Outcome(profile.iccid, action.eid, profile.profile_type, DELETED, [(DELETION, SUCCESS)])
    return _answer(runtime, session, outcome)


def _check_eid(eid: str) -> None:
    if not eid_is_valid(eid):
        raise ValidationFailed("an EID is 32 digits whose value is 1 modulo 97")


def _by_matching_id(session: Session, matching_id: str) -> SandboxSmdpProfile:
    stmt = select(SandboxSmdpProfile).where(SandboxSmdpProfile.matching_id == matching_id).with_for_update()
    profile = session.scalars(stmt).one_or_none()
    if profile is None:
        raise NotFound("no profile with this matching id at the sandbox SM-DP+")
    return profile


def _answer(runtime: Runtime, session: Session, outcome: _Outcome) -> JSONResponse:
    """Send the callbacks (after the commit, as the SM-DP+ would), then tell the test what happened."""
    with transaction(session):
        settings = settings_row(session)
        repeats, order = settings.callback_repeats, settings.callback_order
    now = runtime.clock.now()
    bodies = [_callback_body(runtime, outcome, point, status, now) for point, status in outcome.points]
    if order == "reversed":
        bodies.reverse()
    # A repeat is the same call again (same functionCallIdentifier), as an SM-DP+ retry is.
    deliveries = [body for body in bodies for _ in range(1 + repeats)]
    answers = [_deliver(runtime, body) for body in deliveries]
    result: dict[str, Any] = {
        "iccid": outcome.iccid,
        "state": outcome.state,
        "callbacks": [
            {
                "notification_point_id": body["notificationPointId"],
                "status": body["notificationPointStatus"]["status"],
                "http_status": answer,
            }
            for body, answer in zip(deliveries, answers, strict=True)
        ],
    }
    if outcome.refused:
        result["refused"] = outcome.refused
    return JSONResponse(result, status_code=409 if outcome.refused else 200)


def _callback_body(
    runtime: Runtime,
    outcome: _Outcome,
    point: int,
    status: tuple[str, str | None, str | None],
    now: datetime,
) -> dict[str, Any]:
    execution, subject, reason = status
    point_status: dict[str, Any] = {"status": execution}
    if subject:
        point_status["statusCodeData"] = {"subjectCode": subject, "reasonCode": reason}
    body: dict[str, Any] = {
        "header": {
            "functionRequesterIdentifier": runtime.settings.smdp_callback_requester_id,
            "functionCallIdentifier": str(uuid.uuid4()),
        },
        "eid": outcome.eid,
        "iccid": outcome.iccid,
        "profileType": outcome.profile_type or "crossbay-data",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notificationPointId": point,
        "notificationPointStatus": point_status,
    }
    return body


def _deliver(runtime: Runtime, body: dict[str, Any]) -> int | None:
    url = runtime.settings.base_url.rstrip("/") + CALLBACK_PATH
    try:
        response = runtime.http.post(
            url, json=body, headers={"X-Admin-Protocol": CALLBACK_PROTOCOL}, timeout=10.0
        )
    except httpx.TransportError:
        log.warning("sandbox SM-DP+ callback not delivered", extra={"point": body["notificationPointId"]})
        return None
    return response.status_code
