"""Passwords: strength, setting one, signing in with one, and the lockout (API.md "Sign-in and account")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock
from crossbay.db import transaction
from crossbay.identity import service as identity
from crossbay.identity.errors import InvalidCredentials, PasswordLocked, WeakPassword
from crossbay.identity.models import Customer
from crossbay.identity.service import Tokens
from crossbay.settings import Settings
from tests.conftest import test_settings as settings_for
from tests.unit.factories import code_sent_to, make_customer

PHONE = "+85291234567"
GOOD = "Tr4vel-Sh3nzhen-Bay!"
OTHER_GOOD = "correct horse battery staple"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


def set_password(session: Session, customer: Customer, new: str, current: str | None = None) -> None:
    with transaction(session):
        identity.set_password(
            session, customer=customer, new_password=new, current_password=current, now=customer.created_at
        )


@pytest.fixture
def customer(session: Session, clock: FrozenClock) -> Customer:
    customer = make_customer(session, phone=PHONE, now=clock.now())
    set_password(session, customer, GOOD)
    return customer


def sign_in(
    session: Session, clock: FrozenClock, settings: Settings, password: str, phone: str = PHONE
) -> Tokens:
    with transaction(session):
        return identity.sign_in_with_password(
            session, phone=phone, password=password, settings=settings, now=clock.now()
        )


def fail_times(session: Session, clock: FrozenClock, settings: Settings, n: int, phone: str = PHONE) -> None:
    for _ in range(n):
        with pytest.raises(InvalidCredentials):
            sign_in(session, clock, settings, "wrong-password-123", phone=phone)


class TestPasswordStrength:
    @pytest.mark.parametrize(
        "password",
        [
            "",
            "Sh0rt!x",
            "password",
            "password1",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "abcdefgh",
            "91234567",  # the phone's own digits
            "x" * 129,
        ],
    )
    def test_refuses_short_common_or_guessable_passwords(self, password: str) -> None:
        with pytest.raises(WeakPassword) as refused:
            identity.check_password_strength(password, phone=PHONE)
        assert [p.field for p in refused.value.errors] == ["new_password"]

    @pytest.mark.parametrize("password", [GOOD, OTHER_GOOD, "Lantau-Peak-934m"])
    def test_accepts_a_long_unguessable_password(self, password: str) -> None:
        identity.check_password_strength(password, phone=PHONE)


class TestSetPassword:
    def test_the_first_password_needs_no_current_one_and_is_stored_as_argon2id(
        self, session: Session, clock: FrozenClock
    ) -> None:
        customer = make_customer(session, now=clock.now())
        set_password(session, customer, GOOD)
        assert customer.password_hash is not None
        assert customer.password_hash.startswith("$argon2id$")
        assert GOOD not in customer.password_hash

    def test_changing_it_needs_the_current_one(self, session: Session, customer: Customer) -> None:
        for current in (None, "not-the-password"):
            with pytest.raises(InvalidCredentials):
                set_password(session, customer, OTHER_GOOD, current)
        set_password(session, customer, OTHER_GOOD, GOOD)

    def test_refuses_a_weak_password_and_keeps_the_old_one(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        with pytest.raises(WeakPassword):
            set_password(session, customer, "password1", GOOD)
        sign_in(session, clock, settings, GOOD)


class TestSignInWithPassword:
    def test_the_right_password_signs_in(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        tokens = sign_in(session, clock, settings, GOOD)
        assert (tokens.customer_id, tokens.new_customer) == (customer.id, False)
        with transaction(session):
            assert (
                identity.authenticate(session, access_token=tokens.access_token, now=clock.now()).id
                == customer.id
            )

    def test_a_wrong_password_and_an_unknown_phone_get_the_same_answer(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        without_password = make_customer(session, now=clock.now())
        answers = []
        for phone, password in (
            (PHONE, "wrong-password-123"),
            ("+85290000000", GOOD),
            (without_password.phone, GOOD),
        ):
            with pytest.raises(InvalidCredentials) as refused:
                sign_in(session, clock, settings, password, phone=phone)
            answers.append(
                (type(refused.value), refused.value.code, str(refused.value), refused.value.retry_after)
            )
        assert answers[0] == answers[1] == answers[2]

    def test_an_unknown_phone_costs_a_hash_verification_like_a_known_one(
        self,
        session: Session,
        clock: FrozenClock,
        settings: Settings,
        customer: Customer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        verified: list[str] = []
        real_verify = identity._verify

        def counting_verify(stored: str | None, password: str) -> bool:
            verified.append(password)
            return real_verify(stored, password)

        monkeypatch.setattr(identity, "_verify", counting_verify)
        fail_times(session, clock, settings, 1)
        fail_times(session, clock, settings, 1, phone="+85290000000")
        assert len(verified) == 2


class TestLockout:
    def test_five_failures_lock_password_sign_in_even_for_the_right_password(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        fail_times(session, clock, settings, 5)
        with pytest.raises(PasswordLocked) as locked:
            sign_in(session, clock, settings, GOOD)
        assert locked.value.code == "too_many_attempts"
        assert 0 < (locked.value.retry_after or 0) <= 15 * 60 + 1

    def test_four_failures_do_not_lock(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        fail_times(session, clock, settings, 4)
        sign_in(session, clock, settings, GOOD)

    def test_the_lock_lifts_after_fifteen_minutes(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        fail_times(session, clock, settings, 5)
        clock.advance(timedelta(minutes=15) - timedelta(seconds=1))
        with pytest.raises(PasswordLocked):
            sign_in(session, clock, settings, GOOD)
        clock.advance(timedelta(seconds=1))
        sign_in(session, clock, settings, GOOD)

    def test_a_success_clears_the_failures(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        fail_times(session, clock, settings, 4)
        sign_in(session, clock, settings, GOOD)
        fail_times(session, clock, settings, 4)
        sign_in(session, clock, settings, GOOD)

    def test_an_unknown_phone_locks_like_a_known_one(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        fail_times(session, clock, settings, 5, phone="+85290000000")
        with pytest.raises(PasswordLocked):
            sign_in(session, clock, settings, GOOD, phone="+85290000000")

    def test_the_lock_is_per_phone(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        fail_times(session, clock, settings, 5, phone="+85290000000")
        sign_in(session, clock, settings, GOOD)

    def test_one_time_codes_still_work_while_passwords_are_locked(
        self, session: Session, clock: FrozenClock, settings: Settings, customer: Customer
    ) -> None:
        fail_times(session, clock, settings, 5)
        with transaction(session):
            issued = identity.request_otp(
                session, phone=PHONE, ip=None, language="en", settings=settings, now=clock.now()
            )
        code = code_sent_to(session, PHONE)
        with transaction(session):
            tokens = identity.sign_in_with_code(
                session,
                phone=PHONE,
                challenge_id=issued.challenge_id,
                code=code,
                language="en",
                settings=settings,
                now=clock.now(),
            )
        assert tokens.customer_id == customer.id
