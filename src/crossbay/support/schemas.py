from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from crossbay.support.wording import BODY_MAX, SUBJECT_MAX

TicketStatus = Literal["open", "waiting_for_customer", "resolved"]


class TicketCreate(BaseModel):
    # Lengths are checked after trimming by the service; these bounds only stop absurd bodies early.
    subject: str = Field(max_length=SUBJECT_MAX * 2, examples=["My top-up has not arrived"])
    body: str = Field(max_length=BODY_MAX * 2)
    order_id: str | None = Field(default=None, max_length=64)


class MessageCreate(BaseModel):
    body: str = Field(max_length=BODY_MAX * 2)


class MessageRead(BaseModel):
    id: str
    at: datetime
    author: Literal["customer", "staff", "system"]
    body: str


class TicketSummaryRead(BaseModel):
    id: str
    subject: str
    status: TicketStatus
    origin: Literal["customer", "late_order"] = Field(
        description="late_order: opened by support itself when an order was late"
    )
    order_id: str | None
    created_at: datetime
    updated_at: datetime


class TicketRead(TicketSummaryRead):
    messages: list[MessageRead]


class TicketPage(BaseModel):
    items: list[TicketSummaryRead]
    next_cursor: str | None


class SupportRead(BaseModel):
    """On an Order: support already has a ticket about it."""

    ticket_id: str
    status: TicketStatus
    origin: Literal["customer", "late_order"]
