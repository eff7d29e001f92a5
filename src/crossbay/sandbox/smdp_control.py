"""Test controls of the sandbox SM-DP+: switchable faults, a profile's state, counts."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from crossbay.api.deps import SessionDep
from crossbay.db import transaction
from crossbay.errors import NotFound
from crossbay.sandbox.smdp_models import AVAILABLE, SandboxSmdpCall, SandboxSmdpProfile, settings_row

router = APIRouter()

Function = Literal["downloadOrder", "confirmOrder", "cancelOrder", "releaseProfile"]


class FaultsUpdate(BaseModel):
    """The whole fault set; ``{}`` clears it."""

    # Wait before executing an ES2+ call (longer than the caller's timeout: a timeout, nothing done).
    delay_seconds: float = Field(default=0.0, ge=0, le=60)
    # Execute, then wait before answering (longer than the caller's timeout: done, answer lost).
    answer_delay_seconds: float = Field(default=0.0, ge=0, le=60)
    # How many calls the delays apply to; unset: every call.
    delay_calls: int | None = Field(default=None, ge=0)
    fail_function: Function | None = None
    fail_status: Literal["Failed", "Expired"] = "Failed"
    fail_subject_code: str | None = Field(default=None, max_length=16)
    fail_reason_code: str | None = Field(default=None, max_length=16)
    fail_http_status: int | None = Field(default=None, ge=400, le=599)
    # Unset: one failure if any fail_* field is given, none otherwise.
    fail_remaining: int | None = Field(default=None, ge=0)
    # Progress callbacks to the operator: each sent this many extra times; or in reverse order.
    callback_repeats: int = Field(default=0, ge=0, le=5)
    callback_order: Literal["in_order", "reversed"] = "in_order"


@router.put("/faults")
def set_faults(update: FaultsUpdate, session: SessionDep) -> dict[str, Any]:
    remaining = update.fail_remaining
    if remaining is None:
        remaining = 1 if any(name.startswith("fail_") for name in update.model_fields_set) else 0
    with transaction(session):
        settings = settings_row(session)
        settings.delay_seconds = update.delay_seconds
        settings.answer_delay_seconds = update.answer_delay_seconds
        settings.delay_remaining = update.delay_calls
        settings.fail_function = update.fail_function
        settings.fail_status = update.fail_status
        settings.fail_subject_code = update.fail_subject_code
        settings.fail_reason_code = update.fail_reason_code
        settings.fail_http_status = update.fail_http_status
        settings.fail_remaining = remaining
        settings.callback_repeats = update.callback_repeats
        settings.callback_order = update.callback_order
    return update.model_dump() | {"fail_remaining": remaining}


@router.get("/profiles/{iccid}")
def get_profile(iccid: str, session: SessionDep) -> dict[str, Any]:
    with transaction(session):
        profile = session.get(SandboxSmdpProfile, iccid)
        if profile is None:
            raise NotFound("no such profile at the sandbox SM-DP+")
        return {
            "iccid": profile.iccid,
            "state": profile.state,
            "profile_type": profile.profile_type,
            "eid": profile.eid,
            "matching_id": profile.matching_id,
            "download_attempts": profile.download_attempts,
            "updated_at": profile.updated_at.isoformat(),
        }


@router.get("/stats")
def get_stats(session: SessionDep) -> dict[str, int]:
    with transaction(session):
        allocated = session.scalar(
            select(func.count()).select_from(SandboxSmdpProfile).where(SandboxSmdpProfile.state != AVAILABLE)
        )
        calls = session.scalar(select(func.count()).select_from(SandboxSmdpCall))
    return {"allocated": allocated or 0, "calls": calls or 0}
