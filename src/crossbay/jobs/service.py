"""The outbox: enqueue in the business transaction, claim with a lease, retry with backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from crossbay.db import is_postgresql, new_id
from crossbay.jobs.models import Job

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    max_attempts: int,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Job:
    """Write a job in the caller's transaction; it exists only if that transaction commits."""
    if dedupe_key is not None:
        existing = session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    job = Job(
        id=new_id("job"),
        kind=kind,
        payload=payload,
        status=PENDING,
        attempts=0,
        max_attempts=max_attempts,
        run_at=run_at or now,
        dedupe_key=dedupe_key,
        created_at=now,
    )
    session.add(job)
    return job


def claim_batch(
    session: Session, *, worker_id: str, now: datetime, limit: int, lease: timedelta
) -> list[ClaimedJob]:
    """Take due jobs and jobs whose worker's lease ran out (that worker is presumed dead)."""
    due = or_(
        (Job.status == PENDING) & (Job.run_at <= now),
        (Job.status == RUNNING) & (Job.lease_until < now) & (Job.attempts < Job.max_attempts),
    )
    query = select(Job).where(due).order_by(Job.run_at).limit(limit)
    if is_postgresql(session):
        # Any number of workers: each skips rows another has locked.
        query = query.with_for_update(skip_locked=True)
    # On SQLite the transaction began with BEGIN IMMEDIATE: one claimer at a time.
    claimed = []
    for job in session.scalars(query):
        job.status = RUNNING
        job.attempts += 1
        job.locked_by = worker_id
        job.lease_until = now + lease
        claimed.append(ClaimedJob(job.id, job.kind, dict(job.payload), job.attempts, job.max_attempts))
    return claimed


def renew_lease(
    session: Session, job: ClaimedJob, *, worker_id: str, now: datetime, lease: timedelta
) -> bool:
    """Extend the lease just before running a job of a batch; False if another worker has taken it over."""
    result = session.execute(
        update(Job).where(_owned(job.id, worker_id, job.attempt)).values(lease_until=now + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fail_abandoned(session: Session, *, now: datetime, limit: int) -> list[ClaimedJob]:
    """Jobs whose worker died during their last attempt: failed, not run again (they may kill workers)."""
    query = (
        select(Job)
        .where((Job.status == RUNNING) & (Job.lease_until < now) & (Job.attempts >= Job.max_attempts))
        .limit(limit)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    abandoned = []
    for job in session.scalars(query):
        job.status, job.finished_at, job.lease_until = FAILED, now, None
        job.last_error = "lease expired on the last attempt"
        abandoned.append(ClaimedJob(job.id, job.kind, dict(job.payload), job.attempts, job.max_attempts))
    return abandoned


def _owned(job_id: str, worker_id: str, attempt: int) -> Any:
    # Fencing: a worker whose lease expired and whose job was re-claimed must not overwrite the new owner.
    return (
        (Job.id == job_id)
        & (Job.locked_by == worker_id)
        & (Job.attempts == attempt)
        & (Job.status == RUNNING)
    )


def complete(session: Session, job: ClaimedJob, *, worker_id: str, now: datetime) -> bool:
    result = session.execute(
        update(Job)
        .where(_owned(job.id, worker_id, job.attempt))
        .values(status=DONE, finished_at=now, lease_until=None, last_error=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: spreads retries of many jobs that failed together."""
    return random.uniform(base, min(cap, base * 2 ** (attempt - 1)))


def fail(
    session: Session,
    job: ClaimedJob,
    *,
    worker_id: str,
    now: datetime,
    error: str,
    base: float,
    cap: float,
    retryable: bool = True,
) -> str | None:
    """Schedule the next attempt, or mark the job failed after its last one. Returns the new status."""
    final = not retryable or job.attempt >= job.max_attempts
    values: dict[str, Any] = {"last_error": error[:500], "lease_until": None}
    if final:
        values.update(status=FAILED, finished_at=now)
    else:
        values.update(
            status=PENDING, run_at=now + timedelta(seconds=retry_delay(job.attempt, base=base, cap=cap))
        )
    result = session.execute(update(Job).where(_owned(job.id, worker_id, job.attempt)).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return str(values["status"])


def queue_depth(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: count for status, count in rows}
