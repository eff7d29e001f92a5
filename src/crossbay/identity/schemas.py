from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from crossbay.api.schemas import MoneyRead


class OtpRequest(BaseModel):
    phone: str = Field(max_length=32, examples=["+85291234567"])


class OtpChallengeRead(BaseModel):
    challenge_id: str
    expires_in: int
    resend_after: int


class TokenRequest(BaseModel):
    phone: str = Field(max_length=32)
    challenge_id: str | None = Field(default=None, max_length=64)
    code: str | None = Field(default=None, max_length=16)
    password: str | None = Field(default=None, max_length=256)


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    refresh_token: str
    new_customer: bool


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=256)


class PasswordUpdate(BaseModel):
    new_password: str = Field(max_length=256)
    current_password: str | None = Field(default=None, max_length=256)


class IdentityRead(BaseModel):
    status: Literal["none", "verified", "rejected"]
    document_type: str | None = None
    full_name_masked: str | None = None
    document_number_masked: str | None = None
    verified_at: str | None = None


class WalletSummary(BaseModel):
    balance: MoneyRead


class QuotaSummary(BaseModel):
    """What is left across the customer's eSIMs: active bundles and packs waiting for first use."""

    total_mb: int
    remaining_mb: int
    total_minutes: int
    remaining_minutes: int


class MeRead(BaseModel):
    id: str
    phone_masked: str
    language: str
    has_password: bool
    has_payment_pin: bool
    preferred_payment_method: str | None
    # Additive: where reminders are emailed (PUT /api/v1/me/email), if anywhere.
    email: str | None = None
    identity: IdentityRead
    wallet: WalletSummary
    quota: QuotaSummary


class PaymentPinUpdate(BaseModel):
    pin: str = Field(max_length=16)
    # Proof that the account holder is asking: the login password, or a fresh one-time code.
    password: str | None = Field(default=None, max_length=256)
    challenge_id: str | None = Field(default=None, max_length=64)
    code: str | None = Field(default=None, max_length=16)


class PreferredPaymentUpdate(BaseModel):
    payment_method: Literal["card", "alipay", "wechatpay", "wallet"]
