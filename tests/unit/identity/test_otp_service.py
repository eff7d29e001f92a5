"""Sign-in by one-time code, the limits around it, and the tokens it issues (API.md "Sign-in and account")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock
from crossbay.db import transaction
from crossbay.errors import RateLimited
from crossbay.identity import service as identity
from crossbay.identity.errors import (
    ChallengeDead,
    InvalidCode,
    InvalidPhoneNumber,
    InvalidToken,
    OtpResendTooSoon,
    RefreshTokenReused,
)
from crossbay.identity.models import Customer, OtpChallenge
from crossbay.identity.phones import mask_phone, normalize_phone
from crossbay.identity.service import OtpIssued, Tokens
from crossbay.jobs.models import Job
from crossbay.settings import Settings
from tests.conftest import test_settings as settings_for
from tests.unit.factories import code_sent_to, make_customer

PHONE = "+85291234567"
OTHER_PHONE = "+85298765432"
IP = "203.0.113.7"
SPACING = timedelta(seconds=61)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


def request_code(
    session: Session, clock: FrozenClock, settings: Settings, *, phone: str = PHONE, ip: str | None = IP
) -> OtpIssued:
    with transaction(session):
        return identity.request_otp(
            session, phone=phone, ip=ip, language="en", settings=settings, now=clock.now()
        )


def sign_in(
    session: Session,
    clock: FrozenClock,
    settings: Settings,
    challenge_id: str,
    code: str,
    *,
    phone: str = PHONE,
) -> Tokens:
    with transaction(session):
        return identity.sign_in_with_code(
            session,
            phone=phone,
            challenge_id=challenge_id,
            code=code,
            language="en",
            settings=settings,
            now=clock.now(),
        )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def challenge_row(session: Session, challenge_id: str) -> OtpChallenge:
    with transaction(session):
        row = session.get(OtpChallenge, challenge_id, populate_existing=True)
        assert row is not None
        return row


class TestRequestOtp:
    def test_queues_a_six_digit_code_by_sms_and_stores_only_its_hash(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        assert (issued.expires_in, issued.resend_after) == (300, 60)
        code = code_sent_to(session, PHONE)
        row = challenge_row(session, issued.challenge_id)
        assert code not in row.code_hash
        assert row.expires_at == clock.now() + timedelta(minutes=5)

    def test_a_new_code_within_the_resend_spacing_is_refused_with_the_wait(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        request_code(session, clock, settings)
        clock.advance(timedelta(seconds=20))
        with pytest.raises(OtpResendTooSoon) as refused:
            request_code(session, clock, settings)
        assert refused.value.retry_after == 40
        clock.advance(timedelta(seconds=40))
        request_code(session, clock, settings)

    def test_resend_spacing_is_per_phone(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        request_code(session, clock, settings)
        request_code(session, clock, settings, phone=OTHER_PHONE)

    def test_a_refused_request_sends_nothing(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        request_code(session, clock, settings)
        with pytest.raises(OtpResendTooSoon):
            request_code(session, clock, settings)
        with transaction(session):
            assert len(session.scalars(select(Job)).all()) == 1
            assert len(session.scalars(select(OtpChallenge)).all()) == 1


def exhaust_daily_cap(session: Session, clock: FrozenClock, settings: Settings) -> None:
    for _ in range(settings.otp_phone_daily_cap):
        request_code(session, clock, settings)
        clock.advance(SPACING)


class TestDailyCap:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return settings_for(database_url, otp_phone_daily_cap=3)

    def test_refuses_codes_past_the_cap_until_hong_kong_midnight(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        clock.set(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))  # 23:00 in Hong Kong
        exhaust_daily_cap(session, clock, settings)
        with pytest.raises(RateLimited) as refused:
            request_code(session, clock, settings)
        assert refused.type is RateLimited
        hk_midnight = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
        assert refused.value.retry_after == int((hk_midnight - clock.now()).total_seconds())
        clock.set(hk_midnight)  # still 26 November in UTC, but a new day in Hong Kong
        request_code(session, clock, settings)

    def test_does_not_reset_at_utc_midnight(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        clock.set(datetime(2026, 11, 26, 16, 30, tzinfo=UTC))  # 00:30 on 27 November in Hong Kong
        exhaust_daily_cap(session, clock, settings)
        clock.set(datetime(2026, 11, 27, 0, 30, tzinfo=UTC))  # a new UTC day, still 27 November in Hong Kong
        with pytest.raises(RateLimited) as refused:
            request_code(session, clock, settings)
        assert refused.type is RateLimited

    def test_counts_each_phone_separately(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        exhaust_daily_cap(session, clock, settings)
        request_code(session, clock, settings, phone=OTHER_PHONE)


class TestIpHourlyCap:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return settings_for(database_url, otp_ip_hourly_cap=3)

    def phones(self, n: int) -> list[str]:
        return [f"+8529000{i:04d}" for i in range(n)]

    def test_refuses_a_code_for_any_phone_past_the_cap_for_an_hour(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        first, *rest, last = self.phones(4)
        for phone in (first, *rest):
            request_code(session, clock, settings, phone=phone)
        with pytest.raises(RateLimited) as refused:
            request_code(session, clock, settings, phone=last)
        assert (refused.type, refused.value.retry_after) == (RateLimited, 3600)
        clock.advance(timedelta(hours=1))
        with pytest.raises(RateLimited):
            request_code(session, clock, settings, phone=last)
        clock.advance(timedelta(seconds=1))
        request_code(session, clock, settings, phone=last)

    def test_counts_each_address_separately(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        *phones, last = self.phones(4)
        for phone in phones:
            request_code(session, clock, settings, phone=phone)
        request_code(session, clock, settings, phone=last, ip="198.51.100.1")


class TestSignInWithCode:
    def test_the_first_sign_in_registers_the_phone_and_the_second_does_not(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        first = sign_in(session, clock, settings, issued.challenge_id, code_sent_to(session, PHONE))
        assert first.new_customer
        clock.advance(SPACING)
        issued = request_code(session, clock, settings)
        second = sign_in(session, clock, settings, issued.challenge_id, code_sent_to(session, PHONE))
        assert not second.new_customer
        assert second.customer_id == first.customer_id
        with transaction(session):
            [customer] = session.scalars(select(Customer)).all()
        assert (customer.id, customer.phone, customer.language) == (first.customer_id, PHONE, "en")

    def test_a_known_customer_signs_in_without_registering(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        customer = make_customer(session, phone=PHONE, now=clock.now())
        issued = request_code(session, clock, settings)
        tokens = sign_in(session, clock, settings, issued.challenge_id, code_sent_to(session, PHONE))
        assert (tokens.customer_id, tokens.new_customer) == (customer.id, False)

    def test_a_code_works_until_just_before_five_minutes(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
        sign_in(session, clock, settings, issued.challenge_id, code_sent_to(session, PHONE))

    def test_a_code_expires_after_five_minutes(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        clock.advance(timedelta(minutes=5))
        with pytest.raises(InvalidCode):
            sign_in(session, clock, settings, issued.challenge_id, code_sent_to(session, PHONE))

    def test_a_code_is_single_use(self, session: Session, clock: FrozenClock, settings: Settings) -> None:
        issued = request_code(session, clock, settings)
        code = code_sent_to(session, PHONE)
        sign_in(session, clock, settings, issued.challenge_id, code)
        with pytest.raises(InvalidCode):
            sign_in(session, clock, settings, issued.challenge_id, code)

    def test_a_wrong_code_is_refused_and_counted(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        with pytest.raises(InvalidCode):
            sign_in(session, clock, settings, issued.challenge_id, wrong(code_sent_to(session, PHONE)))
        # InvalidCode keeps its changes: the failed attempt survives the refused unit of work.
        assert challenge_row(session, issued.challenge_id).attempts == 1

    def test_four_wrong_codes_still_leave_the_right_one_working(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        code = code_sent_to(session, PHONE)
        for _ in range(4):
            with pytest.raises(InvalidCode):
                sign_in(session, clock, settings, issued.challenge_id, wrong(code))
        assert sign_in(session, clock, settings, issued.challenge_id, code).new_customer

    def test_five_wrong_codes_kill_the_challenge_even_for_the_right_code(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        code = code_sent_to(session, PHONE)
        for _ in range(5):
            with pytest.raises(InvalidCode):
                sign_in(session, clock, settings, issued.challenge_id, wrong(code))
        with pytest.raises(ChallengeDead):
            sign_in(session, clock, settings, issued.challenge_id, code)
        with transaction(session):
            assert session.scalars(select(Customer)).all() == []

    def test_a_code_is_only_good_for_the_phone_it_was_sent_to(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        issued = request_code(session, clock, settings)
        with pytest.raises(InvalidCode):
            sign_in(
                session, clock, settings, issued.challenge_id, code_sent_to(session, PHONE), phone=OTHER_PHONE
            )

    def test_an_unknown_challenge_is_an_invalid_code(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        with pytest.raises(InvalidCode):
            sign_in(session, clock, settings, "otp_missing", "123456")


def signed_in(session: Session, clock: FrozenClock, settings: Settings, phone: str = PHONE) -> Tokens:
    issued = request_code(session, clock, settings, phone=phone)
    tokens = sign_in(session, clock, settings, issued.challenge_id, code_sent_to(session, phone), phone=phone)
    clock.advance(SPACING)
    return tokens


def authenticate(session: Session, clock: FrozenClock, access_token: str) -> Customer:
    with transaction(session):
        return identity.authenticate(session, access_token=access_token, now=clock.now())


def refresh(session: Session, clock: FrozenClock, settings: Settings, refresh_token: str) -> Tokens:
    with transaction(session):
        return identity.refresh_tokens(
            session, refresh_token=refresh_token, settings=settings, now=clock.now()
        )


class TestTokens:
    def test_an_access_token_identifies_its_customer_until_it_expires(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        tokens = signed_in(session, clock, settings)
        issued_at = clock.now() - SPACING
        assert tokens.expires_in == 3600
        clock.set(issued_at + timedelta(seconds=3599))
        assert authenticate(session, clock, tokens.access_token).id == tokens.customer_id
        clock.set(issued_at + timedelta(seconds=3600))
        with pytest.raises(InvalidToken):
            authenticate(session, clock, tokens.access_token)

    def test_an_unknown_access_token_is_refused(self, session: Session, clock: FrozenClock) -> None:
        with pytest.raises(InvalidToken):
            authenticate(session, clock, "not-a-token")

    def test_logout_ends_the_access_token(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        tokens = signed_in(session, clock, settings)
        with transaction(session):
            identity.logout(session, access_token=tokens.access_token, now=clock.now())
        with pytest.raises(InvalidToken):
            authenticate(session, clock, tokens.access_token)

    def test_refresh_rotates_both_tokens_and_ends_the_old_pair(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        old = signed_in(session, clock, settings)
        new = refresh(session, clock, settings, old.refresh_token)
        assert (new.customer_id, new.new_customer) == (old.customer_id, False)
        assert {new.access_token, new.refresh_token}.isdisjoint({old.access_token, old.refresh_token})
        assert authenticate(session, clock, new.access_token).id == old.customer_id
        with pytest.raises(InvalidToken):
            authenticate(session, clock, old.access_token)

    def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        old = signed_in(session, clock, settings)
        new = refresh(session, clock, settings, old.refresh_token)
        with pytest.raises(RefreshTokenReused):
            refresh(session, clock, settings, old.refresh_token)
        # The revocation was kept although the reuse itself was refused.
        with pytest.raises(InvalidToken):
            authenticate(session, clock, new.access_token)
        with pytest.raises(InvalidToken):
            refresh(session, clock, settings, new.refresh_token)

    def test_reuse_does_not_end_the_customers_other_sign_ins(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        first_device = signed_in(session, clock, settings)
        second_device = signed_in(session, clock, settings)
        refresh(session, clock, settings, first_device.refresh_token)
        with pytest.raises(RefreshTokenReused):
            refresh(session, clock, settings, first_device.refresh_token)
        assert authenticate(session, clock, second_device.access_token).id == second_device.customer_id
        refresh(session, clock, settings, second_device.refresh_token)

    def test_a_refresh_token_expires_after_thirty_days(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        tokens = signed_in(session, clock, settings)
        clock.advance(timedelta(days=30))
        with pytest.raises(InvalidToken):
            refresh(session, clock, settings, tokens.refresh_token)

    def test_an_unknown_refresh_token_is_refused(
        self, session: Session, clock: FrozenClock, settings: Settings
    ) -> None:
        with pytest.raises(InvalidToken):
            refresh(session, clock, settings, "not-a-token")


class TestPhones:
    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("+85291234567", "+85291234567"),
            ("91234567", "+85291234567"),
            ("9123 4567", "+85291234567"),
            (" +852 9123-4567 ", "+85291234567"),
            ("+853 6612 3456", "+85366123456"),
            ("+86 138 0013 8000", "+8613800138000"),
        ],
    )
    def test_normalizes_hong_kong_macau_and_mainland_numbers_to_e164(self, raw: str, e164: str) -> None:
        assert normalize_phone(raw) == e164

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "abc",
            "12345",
            "+12125550100",
            "+44 20 7946 0958",
            "+886912345678",
            "+852 1234 5678",
            "13800138000",
        ],  # the last: a mainland number without +86 is read as a (bad) Hong Kong one
    )
    def test_refuses_other_numbers(self, raw: str) -> None:
        with pytest.raises(InvalidPhoneNumber) as refused:
            normalize_phone(raw)
        assert [p.field for p in refused.value.errors] == ["phone"]

    @pytest.mark.parametrize(
        ("phone", "masked"),
        [
            ("+85291234567", "+852 9***4567"),
            ("+85366123456", "+853 6***3456"),
            ("+8613800138000", "+86 1******8000"),
        ],
    )
    def test_masks_all_but_the_first_and_last_four_digits(self, phone: str, masked: str) -> None:
        assert mask_phone(phone) == masked


class TestLandlines:
    @pytest.mark.parametrize("landline", ["+85221234567", "+85328212345", "+861088888888"])
    def test_a_number_that_cannot_receive_sms_is_refused(self, landline: str) -> None:
        with pytest.raises(InvalidPhoneNumber):
            normalize_phone(landline)
