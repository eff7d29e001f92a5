"""What the worker does for notify: send email, and the reminder sweep (once a minute)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from crossbay.db import transaction
from crossbay.notify import reminders
from crossbay.notify.delivery import EMAIL_JOB
from crossbay.notify.email import mailer_for
from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.notify")

REMINDERS_JOB = "notify.reminders"
__all__ = ["EMAIL_JOB", "REMINDERS_JOB", "SWEEP_EVERY", "send_email", "sweep_reminders"]
SWEEP_EVERY = timedelta(minutes=1)
_BATCH = 200


def send_email(runtime: Runtime, payload: dict[str, Any]) -> None:
    mailer = mailer_for(runtime.settings, runtime.clock)
    mailer.send(to=str(payload["to"]), subject=str(payload["subject"]), body=str(payload["body"]))


def sweep_reminders(runtime: Runtime, _payload: dict[str, Any]) -> None:
    """Bundle events one short transaction each (a renewal places an order), then the scans."""
    run_reminders(runtime)


def run_reminders(runtime: Runtime) -> None:
    settings, clock = runtime.settings, runtime.clock
    while True:
        with runtime.sessions() as session, transaction(session):
            batch = reminders.pending_events(session, limit=_BATCH)
        for event_id in batch:
            with runtime.sessions() as session, transaction(session):
                reminders.process_event(session, event_id, settings=settings, now=clock.now())
        if len(batch) < _BATCH:
            break
    with runtime.sessions() as session, transaction(session):
        reminders.remind_expiring(session, now=clock.now())
    with runtime.sessions() as session, transaction(session):
        reminders.remind_low_balance(session, now=clock.now())
