"""Sign-in: phone + one-time code (registering on first use), or phone + password; tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from crossbay.audit import service as audit
from crossbay.audit.origin import NO_ORIGIN, Origin
from crossbay.clock import hk_day_start
from crossbay.db import new_id
from crossbay.errors import FieldProblem, RateLimited
from crossbay.i18n import translate
from crossbay.identity.errors import (
    ChallengeDead,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    OtpResendTooSoon,
    PasswordLocked,
    RefreshTokenReused,
    WeakPassword,
)
from crossbay.identity.models import AuthToken, Customer, OtpChallenge, PasswordGuard
from crossbay.jobs import service as jobs
from crossbay.settings import Settings

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 25 ms here against
# about 190 ms for the library's default, which made every wallet payment queue behind its PIN check.
# Guessing is stopped online (5 tries, then a lock); old hashes are upgraded on the next good sign-in.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the phone is unknown, so both answers take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class OtpIssued:
    challenge_id: str
    expires_in: int
    resend_after: int


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    customer_id: str
    new_customer: bool


def _code_hash(settings: Settings, challenge_id: str, code: str) -> str:
    return hmac.new(
        settings.secret_bytes("session_key"), f"{challenge_id}:{code}".encode(), "sha256"
    ).hexdigest()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_otp(
    session: Session, *, phone: str, ip: str | None, language: str, settings: Settings, now: datetime
) -> OtpIssued:
    """Send a 6-digit code by SMS, respecting resend spacing and the per-phone and per-IP caps."""
    last = session.scalar(
        select(OtpChallenge.created_at)
        .where(OtpChallenge.phone == phone)
        .order_by(OtpChallenge.created_at.desc())
    )
    if last is not None and (wait := settings.otp_resend_seconds - (now - last).total_seconds()) > 0:
        raise OtpResendTooSoon(retry_after=max(1, int(wait + 0.999)))
    sent_today = session.scalar(
        select(func.count()).where(OtpChallenge.phone == phone, OtpChallenge.created_at >= hk_day_start(now))
    )
    if (sent_today or 0) >= settings.otp_phone_daily_cap:
        tomorrow = hk_day_start(now) + timedelta(days=1)
        raise RateLimited(
            "daily limit of codes for this phone", retry_after=int((tomorrow - now).total_seconds())
        )
    if ip is not None:
        sent_from_ip = session.scalar(
            select(func.count()).where(
                OtpChallenge.ip == ip, OtpChallenge.created_at >= now - timedelta(hours=1)
            )
        )
        if (sent_from_ip or 0) >= settings.otp_ip_hourly_cap:
            raise RateLimited("hourly limit of codes from this address", retry_after=3600)

    code = f"{secrets.randbelow(10**6):06d}"
    challenge = OtpChallenge(
        id=new_id("otp"),
        phone=phone,
        ip=ip,
        attempts=0,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.otp_ttl_seconds),
        code_hash="",
    )
    challenge.code_hash = _code_hash(settings, challenge.id, code)
    session.add(challenge)
    customer_language = session.scalar(select(Customer.language).where(Customer.phone == phone)) or language
    body = translate(
        customer_language, "crossbay verification code: {code}. Valid for 5 minutes. Never share it."
    )
    jobs.enqueue(
        session,
        "notify.sms",
        {"to": phone, "body": body.format(code=code)},
        now=now,
        max_attempts=settings.job_max_attempts,
    )
    return OtpIssued(challenge.id, settings.otp_ttl_seconds, settings.otp_resend_seconds)


def sign_in_with_code(
    session: Session,
    *,
    phone: str,
    challenge_id: str,
    code: str,
    language: str,
    settings: Settings,
    now: datetime,
    origin: Origin = NO_ORIGIN,
) -> Tokens:
    """A right code, used once and in time, signs in, registering the phone on first use."""
    confirm_code(session, phone=phone, challenge_id=challenge_id, code=code, settings=settings, now=now)
    customer, created = _find_or_register(session, phone=phone, language=language, now=now)
    audit.note_sign_in(
        session, customer_id=customer.id, origin=origin, method="code", new_customer=created, now=now
    )
    return _issue_tokens(
        session, customer.id, family_id=new_id("fam"), new_customer=created, settings=settings, now=now
    )


def confirm_code(
    session: Session, *, phone: str, challenge_id: str, code: str, settings: Settings, now: datetime
) -> None:
    """Use up a one-time code sent to ``phone``: right, in time, at most once, within five tries."""
    challenge = session.scalar(
        select(OtpChallenge)
        .where(OtpChallenge.id == challenge_id, OtpChallenge.phone == phone)
        .with_for_update()
    )
    if challenge is None or challenge.consumed_at is not None or challenge.expires_at <= now:
        raise InvalidCode()
    if challenge.attempts >= settings.otp_max_attempts:
        raise ChallengeDead()
    if not hmac.compare_digest(challenge.code_hash, _code_hash(settings, challenge.id, code)):
        challenge.attempts += 1
        raise InvalidCode()
    challenge.consumed_at = now


def _find_or_register(session: Session, *, phone: str, language: str, now: datetime) -> tuple[Customer, bool]:
    customer = session.scalar(select(Customer).where(Customer.phone == phone))
    if customer is not None:
        return customer, False
    try:
        with session.begin_nested():  # two first sign-ins of one phone may race
            customer = Customer(id=new_id("cus"), phone=phone, language=language, created_at=now)
            session.add(customer)
        return customer, True
    except IntegrityError:
        return session.scalars(select(Customer).where(Customer.phone == phone)).one(), False


def sign_in_with_password(
    session: Session,
    *,
    phone: str,
    password: str,
    settings: Settings,
    now: datetime,
    origin: Origin = NO_ORIGIN,
) -> Tokens:
    """Same answer for an unknown phone as for a wrong password; 5 failures lock it for 15 minutes."""
    customer = session.scalar(select(Customer).where(Customer.phone == phone))
    check_password(session, phone=phone, customer=customer, password=password, settings=settings, now=now)
    assert customer is not None
    audit.note_sign_in(
        session, customer_id=customer.id, origin=origin, method="password", new_customer=False, now=now
    )
    return _issue_tokens(
        session, customer.id, family_id=new_id("fam"), new_customer=False, settings=settings, now=now
    )


def check_password(
    session: Session,
    *,
    phone: str,
    customer: Customer | None,
    password: str,
    settings: Settings,
    now: datetime,
) -> None:
    """The login password, guarded wherever it is asked for: 5 failures lock it for 15 minutes."""
    guard = session.get(PasswordGuard, phone, with_for_update=True)
    if guard is None:
        guard = PasswordGuard(phone=phone, failures=0)
        session.add(guard)
    if guard.locked_until is not None and guard.locked_until > now:
        raise PasswordLocked(retry_after=int((guard.locked_until - now).total_seconds()) + 1)
    # Always pay for one argon2 verification, so the answer's timing does not tell who is registered.
    verified = _verify(customer.password_hash if customer else None, password)
    if customer is None or customer.password_hash is None or not verified:
        guard.failures += 1
        if guard.failures >= settings.password_max_failures:
            guard.failures = 0
            guard.locked_until = now + timedelta(seconds=settings.password_lock_seconds)
        raise InvalidCredentials()
    guard.failures = 0
    guard.locked_until = None
    if _hasher.check_needs_rehash(customer.password_hash):
        customer.password_hash = _hasher.hash(password)


def hash_secret(secret: str) -> str:
    """argon2id: for passwords and payment PINs alike."""
    return _hasher.hash(secret)


def verify_pin_hash(stored: str, pin: str) -> bool:
    return _verify(stored, pin)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


def _issue_tokens(
    session: Session,
    customer_id: str,
    *,
    family_id: str,
    new_customer: bool,
    settings: Settings,
    now: datetime,
) -> Tokens:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        AuthToken(
            id=new_id("tok"),
            customer_id=customer_id,
            family_id=family_id,
            access_hash=_token_hash(access),
            refresh_hash=_token_hash(refresh),
            access_expires_at=now + timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
            created_at=now,
        )
    )
    return Tokens(access, refresh, settings.access_token_ttl_seconds, customer_id, new_customer)


def refresh_tokens(session: Session, *, refresh_token: str, settings: Settings, now: datetime) -> Tokens:
    """Rotate: the presented refresh token dies. Presenting a dead one again revokes its whole family."""
    row = session.scalar(
        select(AuthToken).where(AuthToken.refresh_hash == _token_hash(refresh_token)).with_for_update()
    )
    if row is None or row.refresh_expires_at <= now:
        raise InvalidToken()
    if row.revoked_at is not None:
        # A rotated token used again means it leaked: end every session descended from that sign-in.
        for sibling in session.scalars(
            select(AuthToken).where(AuthToken.family_id == row.family_id, AuthToken.revoked_at.is_(None))
        ):
            sibling.revoked_at = now
        raise RefreshTokenReused()
    row.revoked_at = now
    return _issue_tokens(
        session, row.customer_id, family_id=row.family_id, new_customer=False, settings=settings, now=now
    )


# Two page loads of one browser may renew its session at the same moment: the second presents the
# refresh token the first just rotated. Within this window that is a race, not a leak.
RENEWAL_RACE_SECONDS = 30


def renew_web_session(
    session: Session, *, refresh_token: str, settings: Settings, now: datetime
) -> tuple[Customer, Tokens | None]:
    """A browser whose access token ran out comes back with its refresh cookie: rotate it.

    Returns the customer and the new tokens, or no tokens when this browser's other request
    rotated the same token an instant ago (its answer carries the new cookies).
    """
    row = session.scalar(
        select(AuthToken).where(AuthToken.refresh_hash == _token_hash(refresh_token)).with_for_update()
    )
    if row is not None and row.revoked_at is not None and row.refresh_expires_at > now:
        rotated_just_now = now - row.revoked_at <= timedelta(seconds=RENEWAL_RACE_SECONDS)
        successor = session.scalar(
            select(AuthToken.id).where(
                AuthToken.family_id == row.family_id,
                AuthToken.created_at == row.revoked_at,
                AuthToken.revoked_at.is_(None),
            )
        )
        customer = session.get(Customer, row.customer_id)
        if rotated_just_now and successor is not None and customer is not None:
            return customer, None
    tokens = refresh_tokens(session, refresh_token=refresh_token, settings=settings, now=now)
    customer = session.get(Customer, tokens.customer_id)
    if customer is None:
        raise InvalidToken()
    return customer, tokens


def authenticate(session: Session, *, access_token: str, now: datetime) -> Customer:
    row = session.scalar(select(AuthToken).where(AuthToken.access_hash == _token_hash(access_token)))
    if row is None or row.revoked_at is not None or row.access_expires_at <= now:
        raise InvalidToken()
    customer = session.get(Customer, row.customer_id)
    if customer is None:
        raise InvalidToken()
    return customer


def logout(session: Session, *, access_token: str, now: datetime) -> None:
    row = session.scalar(select(AuthToken).where(AuthToken.access_hash == _token_hash(access_token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def check_password_strength(password: str, *, phone: str) -> None:
    """At least 8 characters and not guessable (zxcvbn's common-password and pattern lists)."""
    if (
        len(password) < 8
        or len(password) > 128
        or zxcvbn(password[:64], user_inputs=[phone, phone[-8:]])["score"] < 2
    ):
        raise WeakPassword(
            errors=[
                FieldProblem(
                    "new_password", "weak_password", "Use at least 8 characters that are hard to guess"
                )
            ]
        )


def set_password(
    session: Session,
    *,
    customer: Customer,
    new_password: str,
    current_password: str | None,
    now: datetime,
    origin: Origin = NO_ORIGIN,
) -> None:
    """Changing a password needs the current one; the first one needs only the signed-in session."""
    had_password = customer.password_hash is not None
    if customer.password_hash is not None and (
        current_password is None or not _verify(customer.password_hash, current_password)
    ):
        raise InvalidCredentials()
    check_password_strength(new_password, phone=customer.phone)
    customer.password_hash = _hasher.hash(new_password)
    audit.record(
        session,
        action=audit.PASSWORD_CHANGED if had_password else audit.PASSWORD_SET,
        actor=audit.Actor.customer(customer.id),
        customer_id=customer.id,
        now=now,
        origin=origin,
        target=("customer", customer.id),
        changes=[audit.Change("password")],
    )


def set_preferred_payment_method(
    session: Session, *, customer: Customer, method: str, now: datetime, origin: Origin = NO_ORIGIN
) -> None:
    """The method checkout preselects; a change is recorded, a repeat of the same choice is not."""
    before = customer.preferred_payment_method
    customer.preferred_payment_method = method
    if before == method:
        return
    audit.record(
        session,
        action=audit.PREFERRED_PAYMENT_CHANGED,
        actor=audit.Actor.customer(customer.id),
        customer_id=customer.id,
        now=now,
        origin=origin,
        target=("customer", customer.id),
        changes=[audit.Change("payment_method", before, method)],
    )
