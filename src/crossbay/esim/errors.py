"""Failures of the SM-DP+ (GSMA ES2+), each carrying the SGP.22 status code it came from.

They all share the public code ``smdp_error``: a customer sees one "the profile
server refused" problem, while the fulfilment worker branches on the class and
on ``retryable``.
"""

from __future__ import annotations

from typing import ClassVar

from crossbay.errors import Conflict, CrossbayError


class Es2PlusError(CrossbayError):
    code = "smdp_error"
    status = 502
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        function: str | None = None,
        subject_code: str | None = None,
        reason_code: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(detail)
        self.function = function
        self.subject_code = subject_code
        self.reason_code = reason_code
        self.retryable = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        codes = f"{self.subject_code}/{self.reason_code}" if self.subject_code or self.reason_code else "-"
        return f"{type(self).__name__}({self.function or '-'} {codes}): {self.detail or self.code}"


class SmdpUnavailable(Es2PlusError):
    """Network failure, timeout or 5xx after the client's own retries: the same call id may be retried."""

    default_retryable = True


class FunctionExpired(Es2PlusError):
    """Status ``Expired``: the SM-DP+ did not execute the function in time, so it may be sent again."""

    default_retryable = True


class IccidUnknown(Es2PlusError):
    """8.2.1 / 3.9: no profile with this ICCID at the SM-DP+."""


class IccidBelongsToOtherEid(Es2PlusError):
    """8.2.1 / 3.10: the profile is already linked to a different eUICC."""


class ProfileNotAvailable(Es2PlusError):
    """8.2.1 / 3.3 (that ICCID is taken) or 8.2.5 / 3.7 (no more profiles of the profile type)."""


class InvalidTransition(Es2PlusError):
    """8.2.1 / 3.5: the profile is not in a state the function may move it from."""


class MatchingIdInUse(Es2PlusError):
    """8.2.6 / 3.3: the proposed matching id already belongs to another order."""


class TooManyDownloadAttempts(Es2PlusError):
    """8.8.5 / 6.4: the download order ran out of retries; it must be cancelled and reissued."""


class TooManyConfirmationAttempts(Es2PlusError):
    """8.2.7 / 6.4: too many wrong confirmation codes."""


class EidUnknown(Es2PlusError):
    """8.1.1 / 3.8: the SM-DP+ refuses the EID given."""


# SGP.22 (subject code, reason code) → the failure it denotes.
STATUS_CODE_ERRORS: dict[tuple[str, str], type[Es2PlusError]] = {
    ("8.2.1", "3.9"): IccidUnknown,
    ("8.2.1", "3.10"): IccidBelongsToOtherEid,
    ("8.2.1", "3.3"): ProfileNotAvailable,
    ("8.2.5", "3.7"): ProfileNotAvailable,
    ("8.2.1", "3.5"): InvalidTransition,
    ("8.2.6", "3.3"): MatchingIdInUse,
    ("8.8.5", "6.4"): TooManyDownloadAttempts,
    ("8.2.7", "6.4"): TooManyConfirmationAttempts,
    ("8.1.1", "3.8"): EidUnknown,
}


def error_for_status(
    status: str, subject_code: str | None, reason_code: str | None, *, function: str
) -> Es2PlusError:
    """The exception for a ``Failed`` or ``Expired`` function execution status.

    The SM-DP+'s free-text ``message`` is left out on purpose: it may name the
    ICCID or EID, and an error's detail can reach a customer.
    """
    if status == "Expired":
        return FunctionExpired(function=function, subject_code=subject_code, reason_code=reason_code)
    cls = STATUS_CODE_ERRORS.get((subject_code or "", reason_code or ""), Es2PlusError)
    # Reason codes 5.x are transport errors behind the SM-DP+ (SGP.22 reason code
    # table); whatever else is unlisted is a refusal that a retry will not change.
    retryable = True if cls is Es2PlusError and (reason_code or "").startswith("5.") else None
    return cls(function=function, subject_code=subject_code, reason_code=reason_code, retryable=retryable)


class EsimStatusConflict(Conflict):
    """A staff action the eSIM's status does not allow (resume an active eSIM, suspend a closed one)."""

    code = "esim_status_conflict"
