"""Errors of usage records and credit control, each with a stable code."""

from __future__ import annotations

from crossbay.errors import Conflict, NotFound, Unauthenticated


class InvalidApiKey(Unauthenticated):
    code = "invalid_api_key"


class UnknownIccid(NotFound):
    """Gy's DIAMETER_USER_UNKNOWN (5030): no eSIM of ours has this ICCID."""

    code = "unknown_iccid"


class CreditSessionNotFound(NotFound):
    """Gy's DIAMETER_UNKNOWN_SESSION_ID (5002)."""

    code = "credit_session_not_found"


class CreditSessionClosed(Conflict):
    code = "credit_session_closed"


class CreditSessionExists(Conflict):
    """A CCR-I for a session id that has already moved on, or belongs to another ICCID."""

    code = "credit_session_exists"


class CreditRequestOutOfOrder(Conflict):
    """A request number older than the last one answered: a stale retransmission."""

    code = "credit_request_out_of_order"
