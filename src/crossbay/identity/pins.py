"""The payment PIN: six digits, not guessable, slow-hashed, locked after five wrong tries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from itertools import pairwise

from crossbay.errors import CrossbayError, FieldProblem
from crossbay.identity import service as identity
from crossbay.identity.models import Customer

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


def set_payment_pin(customer: Customer, *, pin: str, birth_dates: Iterable[date]) -> None:
    """Proof of who is asking (password or fresh code) is the caller's job; this checks the PIN itself."""
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
    if not identity.verify_secret(customer.payment_pin_hash, pin):
        customer.payment_pin_failures += 1
        if customer.payment_pin_failures >= PIN_MAX_FAILURES:
            customer.payment_pin_failures = 0
            customer.payment_pin_locked_until = now + PIN_LOCK
        raise InvalidPin()
    customer.payment_pin_failures = 0
    customer.payment_pin_locked_until = None
