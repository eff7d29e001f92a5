"""Shapes shared by every context's API: Money, pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from crossbay.money import Money

T = TypeVar("T")


class MoneyRead(BaseModel):
    amount: int = Field(description="Integer minor units (cents, fen, avos)")
    currency: str = Field(description="ISO 4217 code")
    formatted: str = Field(description="Formatted in the request's language")

    @classmethod
    def of(cls, money: Money, language: str) -> MoneyRead:
        return cls(amount=money.amount, currency=money.currency, formatted=money.format(language))


class MoneyIn(BaseModel):
    amount: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
