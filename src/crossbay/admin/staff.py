"""Staff accounts: created from the command line, signed in with password + TOTP, short idle sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.admin.errors import StaffExists, StaffLocked, StaffNotFound, StaffSignInFailed
from crossbay.admin.models import StaffAccount, StaffSession
from crossbay.admin.permissions import Role
from crossbay.db import new_id
from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.identity import service as identity
from crossbay.pii import PiiCipher
from crossbay.settings import Settings

TOTP_ISSUER = "crossbay back office"
TOTP_STEP_SECONDS = 30
STAFF_PASSWORD_MIN = 12


@dataclass(frozen=True)
class NewStaff:
    staff: StaffAccount
    totp_secret: str  # shown once, to be scanned into an authenticator app

    @property
    def provisioning_uri(self) -> str:
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.staff.email, issuer_name=TOTP_ISSUER)


def normalize_email(email: str) -> str:
    text = email.strip().lower()
    local, at, domain = text.partition("@")
    if not at or not local or "." not in domain or len(text) > 254 or any(c.isspace() for c in text):
        raise ValidationFailed(errors=[FieldProblem("email", "invalid_email", "Give a valid email address")])
    return text


def _context(staff_id: str) -> str:
    return f"staff.totp:{staff_id}"


def add_staff(
    session: Session, *, email: str, role: str, password: str, pii: PiiCipher, now: datetime
) -> NewStaff:
    """A new staff member with a role, a strong password and a fresh TOTP secret."""
    email = normalize_email(email)
    if role not in set(Role):
        raise ValidationFailed(errors=[FieldProblem("role", "invalid_choice", "Unknown role")])
    if len(password) < STAFF_PASSWORD_MIN:
        raise ValidationFailed(
            errors=[FieldProblem("password", "weak_password", "Use at least 12 characters for staff")]
        )
    # The customers' strength rule (zxcvbn), with the email as the personal input to avoid.
    identity.check_password_strength(password, phone=email)
    if session.scalar(select(StaffAccount.id).where(StaffAccount.email == email)) is not None:
        raise StaffExists()
    secret = pyotp.random_base32()
    staff = StaffAccount(
        id=new_id("stf"),
        email=email,
        role=role,
        password_hash=identity.hash_secret(password),
        totp_secret_encrypted="",
        failures=0,
        created_at=now,
        updated_at=now,
    )
    staff.totp_secret_encrypted = pii.encrypt(secret, context=_context(staff.id))
    session.add(staff)
    return NewStaff(staff, secret)


def disable_staff(session: Session, *, email: str, now: datetime) -> StaffAccount:
    """A disabled account cannot sign in, and its open sessions end at once."""
    staff = session.scalar(
        select(StaffAccount).where(StaffAccount.email == normalize_email(email)).with_for_update()
    )
    if staff is None:
        raise StaffNotFound()
    if staff.disabled_at is None:
        staff.disabled_at = now
        staff.updated_at = now
    for open_session in session.scalars(
        select(StaffSession).where(StaffSession.staff_id == staff.id, StaffSession.revoked_at.is_(None))
    ):
        open_session.revoked_at = now
    return staff


def get_staff(session: Session, staff_id: str) -> StaffAccount | None:
    return session.get(StaffAccount, staff_id)


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_STEP_SECONDS


def _accepted_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The step a code belongs to (one step of clock drift either way), if it is new.

    A code is good for its whole 30-second step and the next one: remembering the last step
    used is what stops a code watched over a shoulder from signing in a second time.
    """
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp_step(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step if last_step is None or step > last_step else None
    return None


@dataclass(frozen=True)
class StaffSignIn:
    staff: StaffAccount
    token: str  # the session cookie's value; only its hash is stored


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    code: str,
    ip: str | None,
    pii: PiiCipher,
    settings: Settings,
    now: datetime,
) -> StaffSignIn:
    """Password and a fresh TOTP code; five failures lock the account for 15 minutes."""
    try:
        normalized = normalize_email(email)
    except ValidationFailed:
        normalized = ""
    staff = session.scalar(select(StaffAccount).where(StaffAccount.email == normalized).with_for_update())
    if staff is not None and staff.locked_until is not None and staff.locked_until > now:
        raise StaffLocked(retry_after=int((staff.locked_until - now).total_seconds()) + 1)
    # Always one argon2 verification, so an unknown email answers as slowly as a known one.
    password_ok = identity.verify_pin_hash(staff.password_hash if staff else "", password)
    step = None
    if staff is not None and password_ok and staff.disabled_at is None:
        secret = pii.decrypt(staff.totp_secret_encrypted, context=_context(staff.id))
        step = _accepted_step(secret, code.strip(), now=now, last_step=staff.totp_last_step)
    if staff is None or step is None:
        if staff is not None:
            staff.failures += 1
            if staff.failures >= settings.staff_max_failures:
                staff.failures = 0
                staff.locked_until = now + timedelta(seconds=settings.staff_lock_seconds)
        raise StaffSignInFailed()
    staff.totp_last_step = step
    staff.failures = 0
    staff.locked_until = None
    staff.last_sign_in_at = now
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            id=new_id("sts"),
            staff_id=staff.id,
            token_hash=_token_hash(token),
            ip=ip,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.staff_session_max_seconds),
        )
    )
    return StaffSignIn(staff, token)


# Writing last_seen_at on every click would make each page a write; once a minute is exact enough.
_TOUCH_EVERY = timedelta(seconds=60)


def authenticate(session: Session, *, token: str, settings: Settings, now: datetime) -> StaffAccount | None:
    """The staff member of a live session: not signed out, not idle too long, account still enabled."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > timedelta(seconds=settings.staff_idle_timeout_seconds):
        row.revoked_at = now
        return None
    staff = session.get(StaffAccount, row.staff_id)
    if staff is None or staff.disabled_at is not None:
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
    return staff


def sign_out(session: Session, *, token: str, now: datetime) -> None:
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == _token_hash(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
