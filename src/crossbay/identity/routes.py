"""Sign-in and account: /api/v1/auth/*, /api/v1/me, /api/v1/me/password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from crossbay.api.auth import BearerToken, CurrentCustomer
from crossbay.api.deps import ClockDep, RuntimeDep, SessionDep, SettingsDep, client_ip
from crossbay.api.language import Language
from crossbay.api.schemas import MoneyRead
from crossbay.audit.http import origin_of
from crossbay.db import transaction
from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.identity import pins, service
from crossbay.identity.phones import mask_phone, normalize_phone
from crossbay.identity.schemas import (
    IdentityRead,
    MeRead,
    OtpChallengeRead,
    OtpRequest,
    PasswordUpdate,
    PaymentPinUpdate,
    PreferredPaymentUpdate,
    QuotaSummary,
    RefreshRequest,
    TokenRead,
    TokenRequest,
    WalletSummary,
)
from crossbay.kyc import service as kyc
from crossbay.kyc.service import IdentityView
from crossbay.ledger import service as ledger
from crossbay.usage import service as usage

router = APIRouter(prefix="/api/v1", tags=["sign-in and account"])


def _token_read(tokens: service.Tokens) -> TokenRead:
    return TokenRead(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        new_customer=tokens.new_customer,
    )


@router.post("/auth/otp", status_code=202, response_model=OtpChallengeRead)
def request_code(
    body: OtpRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    language: Language,
) -> OtpChallengeRead:
    phone = normalize_phone(body.phone)
    with transaction(session):
        issued = service.request_otp(
            session, phone=phone, ip=client_ip(request), language=language, settings=settings, now=clock.now()
        )
    return OtpChallengeRead(
        challenge_id=issued.challenge_id, expires_in=issued.expires_in, resend_after=issued.resend_after
    )


@router.post("/auth/token", response_model=TokenRead)
def sign_in(
    body: TokenRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    language: Language,
) -> TokenRead:
    phone = normalize_phone(body.phone)
    origin = origin_of(request, settings)
    with transaction(session):
        if body.password is not None:
            tokens = service.sign_in_with_password(
                session,
                phone=phone,
                password=body.password,
                settings=settings,
                now=clock.now(),
                origin=origin,
            )
        elif body.challenge_id is not None and body.code is not None:
            tokens = service.sign_in_with_code(
                session,
                phone=phone,
                challenge_id=body.challenge_id,
                code=body.code,
                language=language,
                settings=settings,
                now=clock.now(),
                origin=origin,
            )
        else:
            raise ValidationFailed(
                errors=[FieldProblem("code", "missing", "Give challenge_id and code, or password")]
            )
    return _token_read(tokens)


@router.post("/auth/refresh", response_model=TokenRead)
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep) -> TokenRead:
    with transaction(session):
        tokens = service.refresh_tokens(
            session, refresh_token=body.refresh_token, settings=settings, now=clock.now()
        )
    return _token_read(tokens)


@router.post("/auth/logout", status_code=204)
def logout(token: BearerToken, customer: CurrentCustomer, session: SessionDep, clock: ClockDep) -> Response:
    with transaction(session):
        service.logout(session, access_token=token, now=clock.now())
    return Response(status_code=204)


def identity_read(view: IdentityView) -> IdentityRead:
    return IdentityRead(
        status=view.status,
        document_type=view.document_type,
        full_name_masked=view.full_name_masked,
        document_number_masked=view.document_number_masked,
        verified_at=view.verified_at.isoformat() if view.verified_at else None,
    )


@router.get("/me", response_model=MeRead)
def me(customer: CurrentCustomer, session: SessionDep, runtime: RuntimeDep, language: Language) -> MeRead:
    with transaction(session):
        view = kyc.get_identity_view(session, customer_id=customer.id, pii=runtime.pii)
        balance = ledger.wallet_balance(session, customer.id)
        quota = usage.quota_of_customer(session, customer.id)
    return MeRead(
        id=customer.id,
        phone_masked=mask_phone(customer.phone),
        language=customer.language,
        has_password=customer.password_hash is not None,
        has_payment_pin=customer.payment_pin_hash is not None,
        preferred_payment_method=customer.preferred_payment_method,
        email=customer.email,
        identity=identity_read(view),
        wallet=WalletSummary(balance=MoneyRead.of(balance, language)),
        quota=QuotaSummary(
            total_mb=quota.data_total_bytes // usage.MB,
            remaining_mb=quota.data_remaining_bytes // usage.MB,
            total_minutes=quota.voice_total_seconds // 60,
            remaining_minutes=quota.voice_remaining_seconds // 60,
        ),
    )


@router.put("/me/password", status_code=204)
def set_password(
    body: PasswordUpdate,
    request: Request,
    customer: CurrentCustomer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    with transaction(session):
        session.add(customer)
        service.set_password(
            session,
            customer=customer,
            new_password=body.new_password,
            current_password=body.current_password,
            now=runtime.clock.now(),
            origin=origin_of(request, runtime.settings),
        )
    return Response(status_code=204)


@router.put("/me/payment-pin", status_code=204)
def set_payment_pin(
    body: PaymentPinUpdate,
    request: Request,
    customer: CurrentCustomer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """Setting or changing the PIN needs the login password or a fresh code sent to the phone."""
    with transaction(session):
        pins.change_payment_pin(
            session,
            customer=customer,
            pin=body.pin,
            password=body.password,
            challenge_id=body.challenge_id,
            code=body.code,
            pii=runtime.pii,
            settings=runtime.settings,
            now=runtime.clock.now(),
            origin=origin_of(request, runtime.settings),
        )
    return Response(status_code=204)


@router.put("/me/preferred-payment", status_code=204)
def set_preferred_payment(
    body: PreferredPaymentUpdate,
    request: Request,
    customer: CurrentCustomer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """The method checkout preselects."""
    with transaction(session):
        session.add(customer)
        service.set_preferred_payment_method(
            session,
            customer=customer,
            method=body.payment_method,
            now=runtime.clock.now(),
            origin=origin_of(request, runtime.settings),
        )
    return Response(status_code=204)
