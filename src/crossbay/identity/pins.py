"""The payment PIN: six digits, not guessable, slow-hashed, locked after five wrong tries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from itertools import pairwise

from sqlalchemy.orm import Session

from crossbay.audit import service as audit
from crossbay.audit.origin import NO_ORIGIN, Origin
from crossbay.errors import CrossbayError, FieldProblem, ValidationFailed
from crossbay.identity import service as identity
from crossbay.identity.models import Customer
from crossbay.kyc import service as kyc
from crossbay.pii import PiiCipher
from crossbay.settings import Settings

PIN_MAX_FAILURES = 5
PIN_LOCK = timedelta(minutes=30)


class WeakPin(CrossbayError):
    code = "weak_pin"
    status = 422


class InvalidPin(CrossbayError):
    code = "invalid_pin"
    status = 401
    keeps_changes = True  # the wrong try counts toward the lock


class PinLocked(CrossbayError):
    code = "too_many_attempts"
    status = 429


class PinNotSet(CrossbayError):
    code = "payment_pin_required"
    status = 409


def pin_is_weak(pin: str, *, phone: str, birth_dates: Iterable[date] = ()) -> bool:
    """All one digit, a run up or down, a slice of the phone number, or a form of the birth date."""
    if len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        return True
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    if steps in ({0}, {1}, {-1}):
        return True
    if pin in phone:
        return True
    return any(pin in _date_forms(day) for day in birth_dates)


def _date_forms(day: date) -> set[str]:
    """Every six-digit way people write a date: 170590, 900517, 199005, 051990, …"""
    forms = set()
    for pattern in ("%Y%m%d", "%d%m%Y", "%m%d%Y"):
        text = day.strftime(pattern)
        forms |= {text[i : i + 6] for i in range(len(text) - 5)}
    for pattern in ("%y%m%d", "%d%m%y", "%m%d%y"):
        forms.add(day.strftime(pattern))
    return forms


def change_payment_pin(
    session: Session,
    *,
    customer: Customer,
    pin: str,
    password: str | None,
    challenge_id: str | None,
    code: str | None,
    pii: PiiCipher,
    settings: Settings,
    now: datetime,
    origin: Origin = NO_ORIGIN,
) -> None:
    """Set or change the PIN, proven by the login password (guarded like sign-in) or a fresh code."""
    session.refresh(customer, with_for_update=True)
    had_pin = customer.payment_pin_hash is not None
    if password is not None:
        identity.check_password(
            session, phone=customer.phone, customer=customer, password=password, settings=settings, now=now
        )
    elif challenge_id is not None and code is not None:
        identity.confirm_code(
            session, phone=customer.phone, challenge_id=challenge_id, code=code, settings=settings, now=now
        )
    else:
        raise ValidationFailed(
            errors=[FieldProblem("password", "missing", "Give your password, or challenge_id and code")]
        )
    birth_date = kyc.birth_date_of(session, customer_id=customer.id, pii=pii)
    set_payment_pin(customer, pin=pin, birth_dates=[birth_date] if birth_date else [])
    audit.record(
        session,
        action=audit.PIN_CHANGED if had_pin else audit.PIN_SET,
        actor=audit.Actor.customer(customer.id),
        customer_id=customer.id,
        now=now,
        origin=origin,
        target=("customer", customer.id),
        changes=[audit.Change("payment_pin")],
        context={"proof": "password" if password is not None else "code"},
    )


def set_payment_pin(customer: Customer, *, pin: str, birth_dates: Iterable[date]) -> None:
    """The PIN itself: six digits, not guessable. Proving who asks is change_payment_pin's job."""
    if pin_is_weak(pin, phone=customer.phone, birth_dates=birth_dates):
        raise WeakPin(errors=[FieldProblem("pin", "weak_pin", "Choose 6 digits that are hard to guess")])
    customer.payment_pin_hash = identity.hash_secret(pin)
    customer.payment_pin_failures = 0
    customer.payment_pin_locked_until = None


def check_payment_pin(customer: Customer, *, pin: str, now: datetime) -> None:
    """Five wrong PINs lock wallet payments for 30 minutes; the right one resets the count."""
    if customer.payment_pin_hash is None:
        raise PinNotSet()
    if customer.payment_pin_locked_until is not None and customer.payment_pin_locked_until > now:
        raise PinLocked(retry_after=int((customer.payment_pin_locked_until - now).total_seconds()) + 1)
    if not identity.verify_pin_hash(customer.payment_pin_hash, pin):
        customer.payment_pin_failures += 1
        if customer.payment_pin_failures >= PIN_MAX_FAILURES:
            customer.payment_pin_failures = 0
            customer.payment_pin_locked_until = now + PIN_LOCK
        raise InvalidPin()
    customer.payment_pin_failures = 0
    customer.payment_pin_locked_until = None
