"""Domain errors. Every failure a client can cause has a stable ``code``.

They are turned into RFC 9457 problem+json in exactly one place
(``crossbay.api.problems``); nothing below the routes knows about HTTP beyond
the status number carried here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldProblem:
    field: str
    code: str
    message: str


class CrossbayError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    # Some failures must still be recorded (a wrong OTP code counts as an
    # attempt): the unit of work commits before re-raising these.
    keeps_changes: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldProblem] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.errors = errors or []
        self.retry_after = retry_after


class NotFound(CrossbayError):
    code = "not_found"
    status = 404


class ValidationFailed(CrossbayError):
    code = "validation_failed"
    status = 422


class Unauthenticated(CrossbayError):
    code = "unauthenticated"
    status = 401


class RateLimited(CrossbayError):
    code = "rate_limited"
    status = 429


class TooManyAttempts(CrossbayError):
    code = "too_many_attempts"
    status = 429


class Conflict(CrossbayError):
    code = "conflict"
    status = 409
