"""A sandbox SM-DP+ that speaks GSMA ES2+ over HTTP, with faults tests can switch on.

State is in the database, not in the process, so any number of server
processes act as one SM-DP+. A repeated functionCallIdentifier is answered
from the stored answer, as SGP.22 asks, without allocating again.

Routes are plain ``def``: FastAPI runs them in its thread pool, so the delay
fault's ``time.sleep`` never blocks the event loop.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction
from crossbay.esim.activation import eid_is_valid
from crossbay.runtime import Runtime
from crossbay.sandbox import smdp_control, smdp_device
from crossbay.sandbox.smdp_models import (
    ALLOCATED,
    AVAILABLE,
    CONFIRMED,
    LINKED,
    RELEASED,
    UNAVAILABLE,
    SandboxSmdpCall,
    SandboxSmdpProfile,
    next_iccid,
    settings_row,
)

router = APIRouter(prefix="/sandbox/smdp", tags=["sandbox"])
# Test controls (faults, profiles, stats) and the simulated phone.
router.include_router(smdp_control.router)
router.include_router(smdp_device.router)

ES2 = "/gsma/rsp2/es2plus/"
ADMIN_PROTOCOL = re.compile(r"gsma/rsp/v[23]\.\d+\.\d+")
ANSWER_PROTOCOL = "gsma/rsp/v2.5.0"
# Activation-code fields must stay in the QR alphanumeric set and never hold "$".
MATCHING_ID = re.compile(r"[0-9A-Z-]{1,64}")
_MATCHING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread

# SGP.22 subject codes of the request fields, for "missing" (2.2) and "invalid" (2.1) answers.
FIELD_SUBJECT = {"iccid": "8.2.1", "eid": "8.1.1", "matchingId": "8.2.6", "profileType": "8.2.5"}
PROFILE_SUBJECT = "8.2"
# Generic subject codes (SGP.22 / SGP.02 common code table): 1.1 function
# requester, 1.5 protocol version; reason 1.2 "not allowed (authorisation)".
REQUESTER_SUBJECT = "1.1"
PROTOCOL_SUBJECT = "1.5"


class _Refusal(Exception):
    """A ``Failed`` answer with its SGP.22 status code."""

    def __init__(self, subject_code: str, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.subject_code, self.reason_code, self.message = subject_code, reason_code, message


Handler = Callable[[Session, Runtime, dict[str, Any]], dict[str, Any]]


async def _json_body(request: Request) -> Any:
    """The raw JSON body: a malformed one must be answered in ES2+ terms, not as a 422."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


JsonBody = Annotated[Any, Depends(_json_body)]
AdminProtocol = Annotated[str | None, Header(alias="X-Admin-Protocol")]


@router.post(ES2 + "downloadOrder")
def download_order(
    body: JsonBody, session: SessionDep, runtime: RuntimeDep, protocol: AdminProtocol = None
) -> JSONResponse:
    return _serve("downloadOrder", _download_order, body, session, runtime, protocol)


@router.post(ES2 + "confirmOrder")
def confirm_order(
    body: JsonBody, session: SessionDep, runtime: RuntimeDep, protocol: AdminProtocol = None
) -> JSONResponse:
    return _serve("confirmOrder", _confirm_order, body, session, runtime, protocol)


@router.post(ES2 + "cancelOrder")
def cancel_order(
    body: JsonBody, session: SessionDep, runtime: RuntimeDep, protocol: AdminProtocol = None
) -> JSONResponse:
    return _serve("cancelOrder", _cancel_order, body, session, runtime, protocol)


@router.post(ES2 + "releaseProfile")
def release_profile(
    body: JsonBody, session: SessionDep, runtime: RuntimeDep, protocol: AdminProtocol = None
) -> JSONResponse:
    return _serve("releaseProfile", _release_profile, body, session, runtime, protocol)


def _serve(
    function: str, handler: Handler, body: Any, session: Session, runtime: Runtime, protocol: str | None
) -> JSONResponse:
    if protocol is None:
        return _failed(400, PROTOCOL_SUBJECT, "2.2", "X-Admin-Protocol header missing")
    if not ADMIN_PROTOCOL.fullmatch(protocol):
        return _failed(400, PROTOCOL_SUBJECT, "2.1", "X-Admin-Protocol not supported")
    header = body.get("header") if isinstance(body, dict) else None
    requester = header.get("functionRequesterIdentifier") if isinstance(header, dict) else None
    call_id = header.get("functionCallIdentifier") if isinstance(header, dict) else None
    if not isinstance(requester, str) or not isinstance(call_id, str) or not call_id or len(call_id) > 128:
        return _failed(400, REQUESTER_SUBJECT, "2.2", "request header missing or malformed")
    fault, answer_delay = _injected_fault(session, function)
    if fault is not None:
        return fault
    if requester != runtime.settings.smdp_requester_id:
        return _failed(200, REQUESTER_SUBJECT, "1.2", "function requester not allowed")
    try:
        answer = _execute(session, runtime, function, call_id, handler, body)
    except IntegrityError:
        # Another process answered the same call id at the same moment: replay its answer.
        with transaction(session):
            stored = session.get(SandboxSmdpCall, (function, call_id))
            if stored is None:
                raise
            answer = stored.response
    if answer_delay > 0:
        # Executed and committed, but the answer is late: past the caller's timeout it is lost.
        time.sleep(answer_delay)
    return _answer(200, answer)


def _execute(
    session: Session, runtime: Runtime, function: str, call_id: str, handler: Handler, body: dict[str, Any]
) -> dict[str, Any]:
    with transaction(session):
        stored = session.get(SandboxSmdpCall, (function, call_id))
        if stored is not None:
            return stored.response
        try:
            # A savepoint, so a refusal half-way leaves no change behind but is still recorded.
            with session.begin_nested():
                result = handler(session, runtime, body)
            answer = {"header": _status("Executed-Success")} | result
        except _Refusal as refusal:
            answer = {"header": _status("Failed", refusal.subject_code, refusal.reason_code, refusal.message)}
        session.add(
            SandboxSmdpCall(
                function=function, call_id=call_id, response=answer, created_at=runtime.clock.now()
            )
        )
        return answer


def _injected_fault(session: Session, function: str) -> tuple[JSONResponse | None, float]:
    """Apply the delay and, while any remain, answer with the injected failure.

    Injected failures are not stored as the call's answer: they stand for the
    SM-DP+ being unwell, and a retry of the same call id should go through.
    Also returns how long to hold the answer back once the call has executed.
    """
    with transaction(session):
        settings = settings_row(session)
        delay, answer_delay = 0.0, 0.0
        if settings.delay_remaining is None or settings.delay_remaining > 0:
            delay, answer_delay = settings.delay_seconds, settings.answer_delay_seconds
            if settings.delay_remaining is not None:
                settings.delay_remaining -= 1
        fault: tuple[int | None, str, str | None, str | None] | None = None
        if settings.fail_remaining > 0 and settings.fail_function in (None, function):
            settings.fail_remaining -= 1
            fault = (
                settings.fail_http_status,
                settings.fail_status,
                settings.fail_subject_code,
                settings.fail_reason_code,
            )
    if delay > 0:
        time.sleep(delay)  # outside the transaction: a sleeping call must not hold the write lock
    if fault is None:
        return None, answer_delay
    http_status, status, subject, reason = fault
    if http_status is not None:
        return JSONResponse({"error": "injected fault"}, status_code=http_status), 0.0
    return _answer(200, {"header": _status(status, subject, reason, "injected fault")}), 0.0


# --- the four functions ------------------------------------------------------------------------


def _download_order(session: Session, runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    iccid = _iccid(body)
    eid = _eid(body)
    profile_type = _text(body, "profileType")
    now = runtime.clock.now()
    if iccid is None:
        profile = SandboxSmdpProfile(
            iccid=next_iccid(session),
            state=AVAILABLE,
            profile_type=profile_type,
            download_attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(profile)
    else:
        profile = _profile(session, iccid)
        if profile.state != AVAILABLE:
            raise _Refusal("8.2.1", "3.3", "profile not available")
        if profile_type and profile.profile_type and profile_type != profile.profile_type:
            raise _Refusal("8.2.5", "3.8", "profile type does not match the ICCID")
    profile.state = LINKED if eid else ALLOCATED
    profile.eid = eid
    profile.profile_type = profile_type or profile.profile_type
    profile.updated_at = now
    return {"iccid": profile.iccid}


def _confirm_order(session: Session, runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    iccid = _required_iccid(body)
    release = body.get("releaseFlag")
    if not isinstance(release, bool):
        raise _Refusal(PROFILE_SUBJECT, "2.2" if release is None else "2.1", "releaseFlag missing or invalid")
    eid = _eid(body)
    matching_id = _text(body, "matchingId")
    profile = _profile(session, iccid)
    _check_eid(profile, eid)
    if profile.state not in (ALLOCATED, LINKED):
        raise _Refusal("8.2.1", "3.5", "profile cannot be confirmed in its state")
    if matching_id is None:
        matching_id = _new_matching_id()
    elif not MATCHING_ID.fullmatch(matching_id):
        raise _Refusal("8.2.6", "3.8", "matching id refused")
    elif session.scalar(
        select(SandboxSmdpProfile.iccid).where(SandboxSmdpProfile.matching_id == matching_id)
    ):
        raise _Refusal("8.2.6", "3.3", "matching id already in use")
    profile.eid = eid or profile.eid
    profile.matching_id = matching_id
    profile.state = RELEASED if release else CONFIRMED
    profile.updated_at = runtime.clock.now()
    answer: dict[str, Any] = {
        "matchingId": matching_id,
        "smdpAddress": urlsplit(runtime.settings.base_url).netloc,
    }
    if profile.eid:
        answer["eid"] = profile.eid
    return answer


def _cancel_order(session: Session, runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    iccid = _required_iccid(body)
    eid = _eid(body)
    matching_id = _text(body, "matchingId")
    final = _text(body, "finalProfileStatusIndicator")
    if final not in ("Available", "Unavailable"):
        raise _Refusal(PROFILE_SUBJECT, "2.2" if final is None else "2.1", "finalProfileStatusIndicator")
    profile = _profile(session, iccid)
    _check_eid(profile, eid)
    if matching_id is not None and matching_id != profile.matching_id:
        raise _Refusal("8.2.6", "3.10", "a different matching id belongs to this ICCID")
    # Once the device has the profile, only the device can delete it.
    if profile.state not in (ALLOCATED, LINKED, CONFIRMED, RELEASED):
        raise _Refusal("8.2.1", "3.5", "order cannot be cancelled in its state")
    profile.state = AVAILABLE if final == "Available" else UNAVAILABLE
    profile.eid = None
    profile.matching_id = None
    profile.download_attempts = 0
    profile.updated_at = runtime.clock.now()
    return {}


def _release_profile(session: Session, runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    profile = _profile(session, _required_iccid(body))
    if profile.state != CONFIRMED:
        raise _Refusal("8.2.1", "3.5", "profile cannot be released in its state")
    profile.state = RELEASED
    profile.updated_at = runtime.clock.now()
    return {}


# --- helpers -----------------------------------------------------------------------------------


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _Refusal(FIELD_SUBJECT.get(name, PROFILE_SUBJECT), "2.1", f"{name} invalid")
    return value


def _iccid(body: dict[str, Any]) -> str | None:
    iccid = _text(body, "iccid")
    # SGP.22 lets a 19-digit ICCID travel padded to 20 characters with "F".
    return iccid[:-1] if iccid and len(iccid) == 20 and iccid[-1] in "Ff" else iccid


def _required_iccid(body: dict[str, Any]) -> str:
    iccid = _iccid(body)
    if iccid is None:
        raise _Refusal("8.2.1", "2.2", "iccid missing")
    return iccid


def _eid(body: dict[str, Any]) -> str | None:
    eid = _text(body, "eid")
    if eid is not None and not eid_is_valid(eid):
        raise _Refusal("8.1.1", "3.8", "EID refused")
    return eid


def _check_eid(profile: SandboxSmdpProfile, eid: str | None) -> None:
    if eid is not None and profile.eid is not None and eid != profile.eid:
        raise _Refusal("8.2.1", "3.10", "a different EID is associated with this ICCID")


def _profile(session: Session, iccid: str) -> SandboxSmdpProfile:
    stmt = select(SandboxSmdpProfile).where(SandboxSmdpProfile.iccid == iccid).with_for_update()
    profile = session.scalars(stmt).one_or_none()
    if profile is None:
        raise _Refusal("8.2.1", "3.9", "ICCID unknown")
    return profile


def _new_matching_id() -> str:
    return "-".join("".join(secrets.choice(_MATCHING_ALPHABET) for _ in range(5)) for _ in range(4))


def _status(
    status: str, subject: str | None = None, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    execution: dict[str, Any] = {"status": status}
    if subject or reason:
        execution["statusCodeData"] = {"subjectCode": subject, "reasonCode": reason, "message": message}
    return {"functionExecutionStatus": execution}


def _answer(status_code: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"X-Admin-Protocol": ANSWER_PROTOCOL})


def _failed(status_code: int, subject: str, reason: str, message: str) -> JSONResponse:
    return _answer(status_code, {"header": _status("Failed", subject, reason, message)})
