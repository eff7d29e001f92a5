"""Back-office errors, each with a stable code (titles in api/problems.py)."""

from __future__ import annotations

from crossbay.errors import Conflict, CrossbayError, NotFound


class StaffSignInFailed(CrossbayError):
    """Wrong email, password or code: one answer for all three, so none of them can be probed alone."""

    code = "staff_sign_in_failed"
    status = 401
    keeps_changes = True  # the failure counts toward the lockout


class StaffLocked(CrossbayError):
    code = "too_many_attempts"
    status = 429


class StaffSignInRequired(CrossbayError):
    code = "staff_sign_in_required"
    status = 401


class StaffForbidden(CrossbayError):
    code = "staff_forbidden"
    status = 403


class StaffExists(Conflict):
    code = "staff_exists"


class StaffNotFound(NotFound):
    code = "staff_not_found"


class RetryNotPossible(Conflict):
    code = "fulfilment_retry_not_possible"


class ReasonRequired(CrossbayError):
    code = "reason_required"
    status = 422
