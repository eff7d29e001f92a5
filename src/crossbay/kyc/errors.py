"""Failures of real-name registration, each with a stable code the client can rely on."""

from __future__ import annotations

from crossbay.errors import CrossbayError


class InvalidDocumentNumber(CrossbayError):
    code = "invalid_document_number"
    status = 422


class GuardianRequired(CrossbayError):
    """Under-16s may only be registered by an adult (Cap. 106AI)."""

    code = "guardian_required"
    status = 422


class IdentityRequired(CrossbayError):
    code = "identity_required"
    status = 403


class IdentityQuotaExceeded(CrossbayError):
    """One document may hold at most 10 active eSIMs across all accounts."""

    code = "identity_quota_exceeded"
    status = 409


class IdentityLocked(CrossbayError):
    """An identity that already has eSIMs registered under it cannot be replaced."""

    code = "identity_locked"
    status = 409
