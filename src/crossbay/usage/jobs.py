"""Sweeps the worker runs every minute: bundle expiry and abandoned credit sessions."""

from __future__ import annotations

from typing import Any

from crossbay.db import transaction
from crossbay.runtime import Runtime
from crossbay.usage import credit, service

EXPIRE_BUNDLES_JOB = "usage.expire_bundles"
CLOSE_ABANDONED_JOB = "usage.close_abandoned_sessions"
_BATCH = 1000


def expire_bundles(runtime: Runtime, _payload: dict[str, Any]) -> None:
    """Expire in batches of short transactions until none is due."""
    while True:
        with runtime.sessions() as session, transaction(session):
            done = service.expire_bundles(session, now=runtime.clock.now(), limit=_BATCH)
        if done < _BATCH:
            return


def close_abandoned_sessions(runtime: Runtime, _payload: dict[str, Any]) -> None:
    while True:
        with runtime.sessions() as session, transaction(session):
            done = credit.close_abandoned_sessions(session, now=runtime.clock.now(), limit=_BATCH)
        if done < _BATCH:
            return
