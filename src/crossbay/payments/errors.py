"""Payment failures with a stable code: the provider's answers and the notifications we refuse."""

from __future__ import annotations

from typing import ClassVar

from crossbay.errors import CrossbayError


class ProviderRefused(CrossbayError):
    """A payment provider understood the request and refused it; sending it again will not help."""

    code = "payment_provider_error"
    status = 502
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, *, provider_code: str | None = None) -> None:
        super().__init__(detail)
        # The provider's own code (``card_declined``, ``ACQ.TRADE_NOT_EXIST``, ``ORDERPAID``) to branch on.
        self.provider_code = provider_code


class ProviderUnavailable(CrossbayError):
    """A payment provider could not answer (5xx, timeout, connection, rate limit): try again later."""

    code = "payment_provider_unavailable"
    status = 503
    retryable: ClassVar[bool] = True


class NotificationInvalid(CrossbayError):
    """Genuinely signed but not for us (another merchant or app), or not readable."""

    code = "invalid_notification"
    status = 400


class CardProviderError(ProviderRefused):
    pass


class CardProviderUnavailable(ProviderUnavailable):
    pass


class WebhookSignatureInvalid(CrossbayError):
    code = "invalid_signature"
    status = 401


class WebhookTimestampStale(CrossbayError):
    code = "stale_timestamp"
    status = 401


class WebhookMalformed(CrossbayError):
    code = "malformed_request"
    status = 400


class UnknownPayment(CrossbayError):
    code = "unknown_payment"
    status = 400


class AmountMismatch(CrossbayError):
    code = "amount_mismatch"
    status = 400


class RefundBeforePayment(CrossbayError):
    """A refund notification for a payment we have not seen captured: refused, so the provider retries."""

    code = "refund_before_payment"
    status = 409
