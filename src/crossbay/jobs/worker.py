"""The worker loop: claim a batch, run each job outside any transaction, record the outcome."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.db import transaction
from crossbay.jobs import service
from crossbay.jobs.service import ClaimedJob
from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.worker")

# A job that gave up schedules its give-up hook as a job of its own, in the same
# transaction, so a crash right after the last failure cannot lose the hook.
GIVE_UP_PREFIX = "give_up:"
SWEEP_PREFIX = "sweep:"

Handler = Callable[[Runtime, dict[str, Any]], None]
GiveUp = Callable[[Runtime, dict[str, Any]], None]


@dataclass(frozen=True)
class JobKind:
    handle: Handler
    # Called once, in the worker, when the last attempt failed (e.g. fail the order and refund).
    give_up: GiveUp | None = None
    # A sweep: the workers run it once per period (reminders, watches, daily reconciliation).
    # Its payload carries the period's start as `period` (ISO 8601, UTC).
    every: timedelta | None = None


def period_start(now: datetime, every: timedelta) -> datetime:
    """Periods are aligned on the Unix epoch, so every worker agrees on them without talking."""
    seconds = every.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)


class Worker:
    def __init__(self, runtime: Runtime, kinds: dict[str, JobKind], *, worker_id: str | None = None) -> None:
        self.runtime = runtime
        self.kinds = kinds
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}"
        self._stop = threading.Event()
        self._swept: dict[str, datetime] = {}

    def run_once(self) -> int:
        """Claim and run one batch; returns how many jobs were claimed."""
        settings, clock = self.runtime.settings, self.runtime.clock
        self._schedule_sweeps()
        with self.runtime.sessions() as session, transaction(session):
            now = clock.now()
            for dead in service.fail_abandoned(session, now=now, limit=settings.job_batch_size):
                self._schedule_give_up(session, dead)
            batch = service.claim_batch(
                session,
                worker_id=self.worker_id,
                now=now,
                limit=settings.job_batch_size,
                lease=timedelta(seconds=settings.job_lease_seconds),
            )
        if len(batch) > 1 and settings.worker_threads > 1:
            # A slow partner call must not hold up the jobs claimed with it.
            with ThreadPoolExecutor(min(settings.worker_threads, len(batch))) as pool:
                list(pool.map(self._run, batch))
        else:
            for job in batch:
                self._run(job)
        return len(batch)

    def run_until_idle(self, max_rounds: int = 100) -> None:
        for _ in range(max_rounds):
            if not self.run_once():
                return

    def run_forever(self) -> None:
        log.info("worker started", extra={"worker_id": self.worker_id})
        while not self._stop.is_set():
            try:
                claimed = self.run_once()
            except Exception:
                log.exception("worker round failed")
                claimed = 0
            if not claimed:
                self._stop.wait(self.runtime.settings.worker_poll_seconds)

    def stop(self) -> None:
        self._stop.set()

    def _run(self, job: ClaimedJob) -> None:
        settings, clock = self.runtime.settings, self.runtime.clock
        with self.runtime.sessions() as session, transaction(session):
            # The batch's lease started when it was claimed; each job's own run gets a fresh one.
            owned = service.renew_lease(
                session,
                job,
                worker_id=self.worker_id,
                now=clock.now(),
                lease=timedelta(seconds=settings.job_lease_seconds),
            )
        if not owned:
            return
        handler = self._handler(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind}")
            handler(self.runtime, job.payload)
        except Exception as error:
            retryable = getattr(error, "retryable", True)
            log.warning(
                "job failed",
                extra={
                    "job_id": job.id,
                    "kind": job.kind,
                    "attempt": job.attempt,
                    "error": type(error).__name__,
                    "code": getattr(error, "code", None),
                },
            )
            with self.runtime.sessions() as session, transaction(session):
                status = service.fail(
                    session,
                    job,
                    worker_id=self.worker_id,
                    now=clock.now(),
                    error=type(error).__name__,
                    base=settings.job_backoff_seconds,
                    cap=settings.job_backoff_max_seconds,
                    retryable=retryable,
                )
                if status == service.FAILED:
                    self._schedule_give_up(session, job)
            return
        with self.runtime.sessions() as session, transaction(session):
            service.complete(session, job, worker_id=self.worker_id, now=clock.now())
        log.info("job done", extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempt})

    def _schedule_sweeps(self) -> None:
        now = self.runtime.clock.now()
        for name, kind in self.kinds.items():
            if kind.every is None:
                continue
            period = period_start(now, kind.every)
            if self._swept.get(name) == period:
                continue
            try:
                with self.runtime.sessions() as session, transaction(session):
                    service.enqueue(
                        session,
                        name,
                        {"period": period.isoformat()},
                        now=now,
                        max_attempts=self.runtime.settings.job_max_attempts,
                        dedupe_key=f"{SWEEP_PREFIX}{name}:{period.isoformat()}",
                    )
            except IntegrityError:
                pass  # another worker scheduled this period first
            self._swept[name] = period

    def _schedule_give_up(self, session: Session, job: ClaimedJob) -> None:
        kind = self.kinds.get(job.kind)
        if kind is not None and kind.give_up is not None:
            service.enqueue(
                session,
                GIVE_UP_PREFIX + job.kind,
                job.payload,
                now=self.runtime.clock.now(),
                max_attempts=self.runtime.settings.job_max_attempts,
                dedupe_key=GIVE_UP_PREFIX + job.id,
            )

    def _handler(self, kind_name: str) -> Handler | None:
        if kind_name.startswith(GIVE_UP_PREFIX):
            # The give-up hook itself is retried like any job but has no hook of its own.
            original = self.kinds.get(kind_name.removeprefix(GIVE_UP_PREFIX))
            return original.give_up if original else None
        kind = self.kinds.get(kind_name)
        return kind.handle if kind else None
