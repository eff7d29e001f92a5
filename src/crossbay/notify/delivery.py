"""Sending one notification: the in-app inbox, SMS and email, in the customer's language.

Everything is written in the caller's transaction (the inbox row, the outbox jobs); the worker
talks to the SMS gateway and the mail relay later. Quiet hours: no SMS between 23:00 and 08:00
Hong Kong time, except the urgent kinds (a pack used up, a renewal that failed, so the line is
dark) and answers to what was just done (a refund, like a receipt): an SMS due in quiet hours is
deferred to 08:00, not dropped. In-app and email are silent and go at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crossbay.clock import HONG_KONG
from crossbay.db import new_id
from crossbay.i18n import translate
from crossbay.identity.models import Customer
from crossbay.jobs import service as jobs
from crossbay.notify import messages
from crossbay.notify.models import Notification
from crossbay.notify.preferences import EMAIL, IN_APP, SMS

SMS_JOB, EMAIL_JOB = "notify.sms", "notify.email"
# Sent in quiet hours too: the line is dark (a pack used up, a renewal that failed), or it answers
# what was just done (a refund, like a receipt).
AT_ONCE = frozenset({messages.DATA_EXHAUSTED, messages.AUTO_RENEW_FAILED, messages.ORDER_REFUNDED})
QUIET_FROM, QUIET_UNTIL = time(23, 0), time(8, 0)
_MAX_ATTEMPTS = 8


def sms_time(now: datetime, *, urgent: bool) -> datetime:
    """When an SMS may go: now, or 08:00 Hong Kong time if now is in quiet hours."""
    if urgent:
        return now
    local = now.astimezone(HONG_KONG)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return now
    day = local.date() + timedelta(days=1) if local.time() >= QUIET_FROM else local.date()
    return datetime.combine(day, QUIET_UNTIL, tzinfo=HONG_KONG).astimezone(now.tzinfo)


def deliver(
    session: Session,
    *,
    customer: Customer,
    kind: str,
    values: dict[str, Any],
    channels: Iterable[str],
    now: datetime,
) -> Notification | None:
    """Queue one notification on the chosen channels (email only if the customer gave an address)."""
    chosen = set(channels)
    title, body = messages.render(kind, values, customer.language)
    inbox = None
    if IN_APP in chosen:
        inbox = Notification(id=new_id("ntf"), customer_id=customer.id, kind=kind, values=values, at=now)
        session.add(inbox)
    if SMS in chosen:
        jobs.enqueue(
            session,
            SMS_JOB,
            {"to": customer.phone, "body": messages.SMS_FORMAT.format(title=title, body=body)},
            now=now,
            run_at=sms_time(now, urgent=kind in AT_ONCE),
            max_attempts=_MAX_ATTEMPTS,
        )
    if EMAIL in chosen and customer.email:
        footer = translate(customer.language, messages.EMAIL_FOOTER)
        jobs.enqueue(
            session,
            EMAIL_JOB,
            {"to": customer.email, "subject": title, "body": f"{body}\n\n--\n{footer}\n"},
            now=now,
            max_attempts=_MAX_ATTEMPTS,
        )
    return inbox
