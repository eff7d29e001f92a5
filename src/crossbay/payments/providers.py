"""What every payment provider adapter offers the rest of crossbay.

Orders and the worker speak only this Protocol; each provider module
(``card.py``, ``alipay.py``, ``wechatpay.py``) speaks its own wire protocol
behind it. A new provider is one adapter, one sandbox and one line in
``Runtime.providers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from crossbay.money import Money
from crossbay.payments.service import PaymentNotice


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: str  # our id for the payment: the provider's idempotency key / out_trade_no
    amount: Money
    description: str
    return_url: str  # where the payer's browser comes back to
    notify_url: str  # where the provider sends its notifications


@dataclass(frozen=True)
class Checkout:
    reference: str  # what the provider knows the payment by
    redirect_url: str  # the provider's cashier


@dataclass(frozen=True)
class RefundResult:
    """What the provider said to a refund request: done, or taken and to be confirmed by notification."""

    status: Literal["succeeded", "pending"]


REFUND_SUCCEEDED, REFUND_PENDING = RefundResult("succeeded"), RefundResult("pending")


@dataclass(frozen=True)
class Acknowledgement:
    """What the provider expects back when a notification was taken (or was a repeat)."""

    status: int
    body: bytes
    media_type: str


class PaymentProvider(Protocol):
    name: str

    def open_checkout(self, request: CheckoutRequest) -> Checkout:
        """Create the payment at the provider; repeating it for one payment_id must not create another."""
        ...

    def close(self, *, reference: str, payment_id: str) -> None:
        """Stop the payer from paying (order expired or cancelled); refusal by the provider raises."""
        ...

    def refund(self, *, reference: str, refund_id: str, amount: Money) -> RefundResult:
        """Give the money back; idempotent per refund_id (our id for this refund attempt).

        A refusal raises; a refund the provider will finish later answers pending, and
        its refund notification (a notice of kind ``refund``) settles it.
        """
        ...

    def query_refund(self, *, reference: str, refund_id: str, amount: Money) -> PaymentNotice | None:
        """Ask how a pending refund ended (its notification may have been lost).

        Returns a refund notice (kind ``refund``) with a stable event id once it is final,
        None while the provider is still working on it.
        """
        ...

    def query(self, *, reference: str, payment_id: str) -> PaymentNotice | None:
        """Ask the provider where the payment stands (a notification may have been lost).

        Returns a notice with a stable event id for a final state, None while undecided.
        """
        ...

    def read_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> PaymentNotice | None:
        """Verify a notification exactly as the provider specifies, then reduce it to a notice.

        Raises a CrossbayError for anything not genuine; returns None for a
        genuine notification that needs no action.
        """
        ...

    def acknowledgement(self) -> Acknowledgement: ...
