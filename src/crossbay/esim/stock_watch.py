"""The low-stock watch: a sweep that tells staff when an SM-DP+'s profile stock runs low, once per crossing.

A warning log line when stock falls to ``profile_stock_low_threshold`` (and an info line when a new batch
lifts it above again); ``crossbay_profile_stock_low`` and ``crossbay_profile_stock_low_alerts_total``
on /metrics are read from the alert rows at scrape time, so they agree whichever process serves them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from crossbay.db import transaction
from crossbay.esim import inventory
from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.esim.stock")

STOCK_WATCH_JOB = "esim.profile_stock_watch"
SWEEP_EVERY = timedelta(minutes=1)


def watch_profile_stock(runtime: Runtime, payload: dict[str, Any]) -> None:
    threshold = runtime.settings.profile_stock_low_threshold
    with runtime.sessions() as session, transaction(session):
        changes = inventory.note_stock_levels(session, threshold=threshold, now=runtime.clock.now())
    for change in changes:
        if change.low:
            log.warning(
                "eSIM profile stock is low: load a new batch",
                extra={"smdp": change.smdp, "available": change.available, "threshold": threshold},
            )
        else:
            log.info(
                "eSIM profile stock restocked above the threshold",
                extra={"smdp": change.smdp, "available": change.available, "threshold": threshold},
            )
