"""How sandbox providers notify us: at least once, repeated, retried on failure, as real providers do."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.sandbox")
ATTEMPTS_PER_DELIVERY = 4


def deliver_at_least_once(
    runtime: Runtime, attempt: Callable[[], bool], *, label: str, first_now: bool
) -> None:
    """Call ``attempt`` (one signed POST, True on 2xx) now if asked, then again from a thread.

    The first delivery happens before the caller answers, so a payer returns to
    an order that already knows it is paid; the repeats show that the receiver
    applies a notification once however often it comes.
    """
    failed_first = first_now and not attempt()
    deliveries = runtime.settings.sandbox_webhook_repeats + (0 if first_now else 1)
    if deliveries or failed_first:
        threading.Thread(
            target=_deliver_later,
            args=(runtime, attempt, label, failed_first, deliveries),
            name="sandbox-notifier",
            daemon=True,
        ).start()


def _deliver_later(
    runtime: Runtime, attempt: Callable[[], bool], label: str, retry_first: bool, deliveries: int
) -> None:
    delay = runtime.settings.sandbox_webhook_repeat_delay_seconds
    if retry_first:
        _with_retries(attempt, label, delay, ATTEMPTS_PER_DELIVERY - 1)
    for _ in range(deliveries):
        _with_retries(attempt, label, delay, ATTEMPTS_PER_DELIVERY)


def _with_retries(attempt: Callable[[], bool], label: str, delay: float, attempts: int) -> None:
    for number in range(attempts):
        # The provider's own retry schedule, compressed: this is a timer, not a wait for a result.
        time.sleep(delay * 2**number)
        if attempt():
            return
    log.warning("sandbox notification not accepted", extra={"event_id": label})
