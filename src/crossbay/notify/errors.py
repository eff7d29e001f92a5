"""Notification failures with a stable code."""

from __future__ import annotations

from crossbay.errors import CrossbayError


class SmsGatewayError(CrossbayError):
    """The SMS gateway did not take the message; ``retryable`` says whether trying again may help."""

    code = "sms_gateway_error"
    status = 502

    def __init__(self, detail: str | None = None, *, retryable: bool = False) -> None:
        super().__init__(detail)
        self.retryable = retryable


class EmailError(CrossbayError):
    """The mail relay did not take the message; ``retryable`` says whether trying again may help."""

    code = "email_error"
    status = 502

    def __init__(self, detail: str | None = None, *, retryable: bool = False) -> None:
        super().__init__(detail)
        self.retryable = retryable


class InvalidEmail(CrossbayError):
    code = "invalid_email"
    status = 422


class NotificationNotFound(CrossbayError):
    code = "not_found"
    status = 404
