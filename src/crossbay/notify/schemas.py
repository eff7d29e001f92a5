"""Wire shapes of the inbox, reminder settings and email address."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from crossbay.api.schemas import MoneyIn, MoneyRead

KINDS_HELP = (
    "low_data, data_exhausted, expiry_soon, low_balance, auto_renew_succeeded, auto_renew_failed"
    " or order_refunded"
)


class NotificationRead(BaseModel):
    id: str
    at: datetime
    kind: str = Field(description=KINDS_HELP)
    title: str
    body: str
    read: bool


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None
    unread_count: int = Field(description="Unread notifications in the whole inbox (additive to API.md)")


class RemindersRead(BaseModel):
    low_data_percent: int = Field(description="Remind when this percentage of a pack is left (10–50)")
    expiry_days_before: int = Field(description="Remind this many Hong Kong days before a pack's last day")
    low_balance: MoneyRead = Field(description="Remind when the wallet drops below this (0: never)")
    channels: list[str]


class RemindersUpdate(BaseModel):
    low_data_percent: int
    expiry_days_before: int
    low_balance: MoneyIn
    channels: list[str] = Field(max_length=3, description="Any of sms, email, in_app")


class EmailUpdate(BaseModel):
    email: str | None = Field(max_length=320, description="null removes the address")


class EmailRead(BaseModel):
    email: str | None
