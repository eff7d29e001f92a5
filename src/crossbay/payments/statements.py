"""A payment provider's daily statement, reduced to the lines our books must agree with.

Each adapter downloads its provider's own file (Alipay's trade bill, WeChat Pay's trade bill,
the card provider's balance transactions) and reads it into ``StatementLine``s; the
reconciliation compares those with the ledger. Nothing here logs a line: statements name payers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from crossbay.money import Money
from crossbay.payments.errors import ProviderRefused

PAYMENT, REFUND = "payment", "refund"


class StatementUnreadable(ProviderRefused):
    """The provider's statement file is not in the layout we know, or was changed on the way."""

    code = "statement_unreadable"


@dataclass(frozen=True)
class StatementLine:
    """One payment or refund as the provider reports it; amounts are positive either way."""

    kind: str  # PAYMENT or REFUND
    reference: str  # what we know the payment by at the provider: out_trade_no, payment intent id
    amount: Money
    provider_id: str = ""  # the provider's own number: trade_no, transaction_id, ch_/re_ id
    refund_no: str | None = None  # the refund's request number (out_request_no, out_refund_no, re_…)
    at: datetime | None = None


def bill_line(
    bill: str,
    number: int,
    *,
    refund: bool,
    reference: str,
    amount: Money,
    provider_id: str,
    refund_no: str | None,
    at: datetime,
) -> StatementLine:
    """Line ``number`` of a downloaded bill; every line of ours names our payment and moves money."""
    if amount.amount <= 0 or not reference:
        raise StatementUnreadable(f"line {number} of the {bill} has no reference or amount")
    return StatementLine(
        kind=REFUND if refund else PAYMENT,
        reference=reference,
        amount=amount,
        provider_id=provider_id,
        refund_no=refund_no,
        at=at,
    )


@dataclass(frozen=True)
class Statement:
    provider: str
    day: date
    lines: tuple[StatementLine, ...]


@runtime_checkable
class StatementSource(Protocol):
    """A provider adapter that can fetch its statement for one Hong Kong (= China Standard Time) day."""

    name: str

    def download_statement(self, day: date) -> Statement: ...
