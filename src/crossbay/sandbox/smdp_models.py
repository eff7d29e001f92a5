"""The sandbox SM-DP+'s own books: its profiles, the calls it answered and its injected faults.

They live in our database only so that several server processes see one SM-DP+;
no crossbay context reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from crossbay.db import Base
from crossbay.esim.activation import luhn_check_digit

# Profile states at the SM-DP+ (SGP.22 §3.1.1 / §5.3).
AVAILABLE = "available"
ALLOCATED = "allocated"
LINKED = "linked"
CONFIRMED = "confirmed"
RELEASED = "released"
DOWNLOADED = "downloaded"
INSTALLED = "installed"
UNAVAILABLE = "unavailable"
# The phone deleted the profile; it is never handed out again.
DELETED = "deleted"
# 89 (telecom) + 852 (Hong Kong) + 00 (sandbox issuer), then a 12-digit serial and the Luhn digit.
ICCID_PREFIX = "8985200"
PROFILE_STATES = (
    AVAILABLE,
    ALLOCATED,
    LINKED,
    CONFIRMED,
    RELEASED,
    DOWNLOADED,
    INSTALLED,
    UNAVAILABLE,
    DELETED,
)


class SandboxSmdpProfile(Base):
    __tablename__ = "sandbox_smdp_profiles"

    iccid: Mapped[str] = mapped_column(String(20), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    profile_type: Mapped[str | None] = mapped_column(String(64))
    eid: Mapped[str | None] = mapped_column(String(32))
    # Unique: one matching id opens exactly one download.
    matching_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    download_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SandboxSmdpCall(Base):
    """The answer given to a functionCallIdentifier, replayed when the operator retries it."""

    __tablename__ = "sandbox_smdp_calls"

    function: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class SandboxSmdpSettings(Base):
    """One row (id 1): the faults tests inject, and the next ICCID serial."""

    __tablename__ = "sandbox_smdp_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delay_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # None: any ES2+ function fails while fail_remaining > 0.
    fail_function: Mapped[str | None] = mapped_column(String(32))
    # "Failed" or "Expired" (an ES2+ answer), unless fail_http_status is set.
    fail_status: Mapped[str] = mapped_column(String(16), default="Failed")
    fail_subject_code: Mapped[str | None] = mapped_column(String(16))
    fail_reason_code: Mapped[str | None] = mapped_column(String(16))
    # An HTTP status answered with no ES2+ body at all (e.g. 500, 503).
    fail_http_status: Mapped[int | None] = mapped_column(Integer)
    fail_remaining: Mapped[int] = mapped_column(Integer, default=0)
    # Execute, then wait before answering: longer than the caller's timeout, the answer is lost.
    answer_delay_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # How many more calls the two delays apply to; None: every call.
    delay_remaining: Mapped[int | None] = mapped_column(Integer)
    # Progress callbacks: each sent this many extra times, and in reverse order when asked.
    callback_repeats: Mapped[int] = mapped_column(Integer, default=0)
    callback_order: Mapped[str] = mapped_column(String(16), default="in_order")
    next_serial: Mapped[int] = mapped_column(Integer, default=1)


def settings_row(session: Session) -> SandboxSmdpSettings:
    """The one settings row, locked; created by whichever process needs it first."""
    stmt = select(SandboxSmdpSettings).where(SandboxSmdpSettings.id == 1).with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    SandboxSmdpSettings(
                        id=1,
                        delay_seconds=0.0,
                        fail_status="Failed",
                        fail_remaining=0,
                        answer_delay_seconds=0.0,
                        callback_repeats=0,
                        callback_order="in_order",
                        next_serial=1,
                    )
                )
        except IntegrityError:
            pass  # another process created it first
        row = session.scalars(stmt).one()
    return row


def next_iccid(session: Session) -> str:
    """A fresh Luhn-valid ICCID; the locked settings row keeps two processes off one serial."""
    settings = settings_row(session)
    while True:
        serial = settings.next_serial
        settings.next_serial = serial + 1
        digits = f"{ICCID_PREFIX}{serial:012d}"
        iccid = digits + luhn_check_digit(digits)
        if session.get(SandboxSmdpProfile, iccid) is None:
            return iccid
