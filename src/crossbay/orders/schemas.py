from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from crossbay.api.schemas import MoneyRead
from crossbay.support.schemas import SupportRead

PaymentMethod = Literal["card", "alipay", "wechatpay", "wallet"]
Currency = Literal["HKD", "CNY", "MOP"]


class QuoteRequest(BaseModel):
    package_id: str = Field(max_length=64)
    esim_id: str | None = Field(default=None, max_length=64)
    coupon_code: str | None = Field(default=None, max_length=64)
    currency: Currency = Field(
        default="HKD", description="Pay in this currency if the operator priced the package in it"
    )


class OrderCreate(QuoteRequest):
    payment_method: PaymentMethod
    return_url: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^https?://",
        description="Where the cashier sends the payer back; defaults to the order's web page",
    )


class PayRequest(BaseModel):
    pin: str | None = Field(default=None, max_length=16)


class LineRead(BaseModel):
    kind: Literal["package", "discount", "fee"]
    description: str
    amount: MoneyRead


class QuoteRead(BaseModel):
    lines: list[LineRead]
    subtotal: MoneyRead
    discount: MoneyRead
    total: MoneyRead


class PaymentRead(BaseModel):
    provider: str
    reference: str | None
    status: str


class NextAction(BaseModel):
    type: Literal["redirect", "pin_required"]
    url: str | None = None


class TimelineEntry(BaseModel):
    status: str
    at: datetime
    step: str | None = None


class OrderRead(BaseModel):
    id: str
    status: str
    kind: str
    lines: list[LineRead]
    subtotal: MoneyRead
    discount: MoneyRead
    total: MoneyRead
    payment_method: str
    payment: PaymentRead | None
    esim_id: str | None
    package_id: str
    next_action: NextAction | None
    timeline: list[TimelineEntry]
    created_at: datetime
    expires_at: datetime
    support: SupportRead | None = Field(
        default=None, description="Support already has a ticket about this order (e.g. it is late)"
    )


class OrderPage(BaseModel):
    items: list[OrderRead]
    next_cursor: str | None
