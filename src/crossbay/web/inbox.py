"""The header's unread-notifications badge, looked up from the session cookie."""

from __future__ import annotations

from crossbay.db import transaction
from crossbay.identity import service as identity
from crossbay.identity.errors import InvalidToken
from crossbay.notify import service as notifications
from crossbay.runtime import Runtime


def unread_for_cookie(runtime: Runtime, token: str | None) -> int:
    if not token:
        return 0
    with runtime.sessions() as session, transaction(session):
        try:
            customer = identity.authenticate(session, access_token=token, now=runtime.clock.now())
        except InvalidToken:
            return 0
        return notifications.unread_count(session, customer_id=customer.id)
