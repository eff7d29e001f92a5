from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock
from crossbay.db import transaction
from crossbay.jobs import service as jobs
from crossbay.jobs.models import Job
from crossbay.jobs.service import ClaimedJob
from crossbay.jobs.worker import GIVE_UP_PREFIX, JobKind, Worker, period_start
from crossbay.runtime import Runtime
from tests.conftest import test_settings as settings_for

LEASE = timedelta(seconds=60)
MINUTE = timedelta(minutes=1)
BASE, CAP = 2.0, 600.0


def enqueue(
    session: Session, clock: FrozenClock, *, kind: str = "test.kind", max_attempts: int = 3, **kwargs: Any
) -> Job:
    with transaction(session):
        return jobs.enqueue(session, kind, {"n": 1}, now=clock.now(), max_attempts=max_attempts, **kwargs)


def claim(session: Session, clock: FrozenClock, worker_id: str, limit: int = 10) -> list[ClaimedJob]:
    with transaction(session):
        return jobs.claim_batch(session, worker_id=worker_id, now=clock.now(), limit=limit, lease=LEASE)


def job_row(session: Session, job_id: str) -> Job:
    with transaction(session):
        job = session.get(Job, job_id, populate_existing=True)
        assert job is not None
        return job


class TestEnqueueClaimComplete:
    def test_a_claimed_job_runs_once_and_completes(self, session: Session, clock: FrozenClock) -> None:
        job = enqueue(session, clock)
        [claimed] = claim(session, clock, "w1")
        assert (claimed.id, claimed.kind, claimed.payload, claimed.attempt) == (
            job.id,
            "test.kind",
            {"n": 1},
            1,
        )
        with transaction(session):
            assert jobs.complete(session, claimed, worker_id="w1", now=clock.now())
        row = job_row(session, job.id)
        assert (row.status, row.finished_at, row.lease_until) == (jobs.DONE, clock.now(), None)
        clock.advance(timedelta(hours=1))
        assert claim(session, clock, "w2") == []

    def test_a_job_is_not_claimed_before_its_run_at(self, session: Session, clock: FrozenClock) -> None:
        enqueue(session, clock, run_at=clock.now() + timedelta(minutes=5))
        assert claim(session, clock, "w1") == []
        clock.advance(timedelta(minutes=5))
        assert len(claim(session, clock, "w1")) == 1

    def test_claims_at_most_the_batch_size_oldest_first(self, session: Session, clock: FrozenClock) -> None:
        ids = []
        for _ in range(3):
            ids.append(enqueue(session, clock).id)
            clock.advance(timedelta(seconds=1))
        assert [c.id for c in claim(session, clock, "w1", limit=2)] == ids[:2]
        assert [c.id for c in claim(session, clock, "w2", limit=2)] == ids[2:]

    def test_an_enqueued_job_exists_only_if_its_transaction_commits(
        self, session: Session, clock: FrozenClock
    ) -> None:
        with pytest.raises(RuntimeError), transaction(session):
            jobs.enqueue(session, "test.kind", {}, now=clock.now(), max_attempts=3)
            raise RuntimeError("the business transaction failed")
        assert claim(session, clock, "w1") == []


class TestLease:
    def test_a_claimed_job_is_not_claimed_again_while_its_lease_lasts(
        self, session: Session, clock: FrozenClock
    ) -> None:
        enqueue(session, clock)
        claim(session, clock, "w1")
        clock.advance(LEASE)
        assert claim(session, clock, "w2") == []

    def test_a_job_whose_lease_ran_out_is_claimed_again_and_the_old_worker_is_fenced_off(
        self, session: Session, clock: FrozenClock
    ) -> None:
        job = enqueue(session, clock)
        [old] = claim(session, clock, "w1")
        clock.advance(LEASE + timedelta(seconds=1))
        [new] = claim(session, clock, "w2")
        assert (new.id, new.attempt) == (job.id, 2)
        with transaction(session):
            assert not jobs.complete(session, old, worker_id="w1", now=clock.now())
            assert (
                jobs.fail(session, old, worker_id="w1", now=clock.now(), error="late", base=BASE, cap=CAP)
                is None
            )
        row = job_row(session, job.id)
        assert (row.status, row.locked_by, row.attempts) == (jobs.RUNNING, "w2", 2)
        with transaction(session):
            assert jobs.complete(session, new, worker_id="w2", now=clock.now())
        assert job_row(session, job.id).status == jobs.DONE

    def test_a_batch_mate_renews_its_lease_before_running_unless_it_was_taken_over(
        self, session: Session, clock: FrozenClock
    ) -> None:
        first, second = enqueue(session, clock), enqueue(session, clock)
        batch = claim(session, clock, "w1")
        assert {j.id for j in batch} == {first.id, second.id}
        # The first job ran long: the second's lease, started at the claim, has run out.
        clock.advance(LEASE + timedelta(seconds=1))
        [taken] = claim(session, clock, "w2", limit=1)
        stale = next(j for j in batch if j.id == taken.id)
        still_mine = next(j for j in batch if j.id != taken.id)
        with transaction(session):
            assert not jobs.renew_lease(session, stale, worker_id="w1", now=clock.now(), lease=LEASE)
            assert jobs.renew_lease(session, still_mine, worker_id="w1", now=clock.now(), lease=LEASE)
        assert job_row(session, still_mine.id).lease_until == clock.now() + LEASE

    def test_a_worker_that_reclaims_its_own_job_cannot_complete_the_stale_attempt(
        self, session: Session, clock: FrozenClock
    ) -> None:
        enqueue(session, clock)
        [stale] = claim(session, clock, "w1")
        clock.advance(LEASE + timedelta(seconds=1))
        claim(session, clock, "w1")
        with transaction(session):
            assert not jobs.complete(session, stale, worker_id="w1", now=clock.now())

    def test_a_job_whose_last_attempt_lost_its_lease_is_not_run_again(
        self, session: Session, clock: FrozenClock
    ) -> None:
        enqueue(session, clock, max_attempts=3)
        for attempt in range(1, 4):
            [claimed] = claim(session, clock, f"w{attempt}")
            assert claimed.attempt == attempt
            clock.advance(LEASE + timedelta(seconds=1))  # the worker died mid-job
        assert claim(session, clock, "w4") == []


class TestFail:
    def test_schedules_a_retry_after_a_backoff_between_base_and_cap(
        self, session: Session, clock: FrozenClock
    ) -> None:
        job = enqueue(session, clock, max_attempts=3)
        [claimed] = claim(session, clock, "w1")
        with transaction(session):
            status = jobs.fail(
                session, claimed, worker_id="w1", now=clock.now(), error="Boom", base=BASE, cap=CAP
            )
        assert status == jobs.PENDING
        row = job_row(session, job.id)
        assert BASE <= (row.run_at - clock.now()).total_seconds() <= CAP
        assert (row.last_error, row.lease_until) == ("Boom", None)
        assert claim(session, clock, "w1") == []
        clock.advance(timedelta(seconds=CAP))
        assert [c.attempt for c in claim(session, clock, "w1")] == [2]

    @given(attempt=st.integers(1, 40), base=st.floats(0.01, 100), spread=st.floats(1, 1000))
    def test_retry_delay_stays_within_base_and_cap(self, attempt: int, base: float, spread: float) -> None:
        cap = base * spread
        assert base <= jobs.retry_delay(attempt, base=base, cap=cap) <= cap

    def test_retry_delay_grows_with_the_attempt_until_the_cap(self) -> None:
        # Full jitter draws from [base, min(cap, base * 2**(attempt-1))]: the first retry waits exactly base.
        assert jobs.retry_delay(1, base=BASE, cap=CAP) == BASE
        assert max(jobs.retry_delay(4, base=BASE, cap=CAP) for _ in range(200)) <= BASE * 8

    def test_marks_the_job_failed_after_its_last_attempt(self, session: Session, clock: FrozenClock) -> None:
        job = enqueue(session, clock, max_attempts=2)
        for attempt, expected in ((1, jobs.PENDING), (2, jobs.FAILED)):
            [claimed] = claim(session, clock, "w1")
            assert claimed.attempt == attempt
            with transaction(session):
                status = jobs.fail(
                    session, claimed, worker_id="w1", now=clock.now(), error="Boom", base=BASE, cap=CAP
                )
            assert status == expected
            clock.advance(timedelta(seconds=CAP))
        row = job_row(session, job.id)
        assert (row.status, row.attempts, row.finished_at) == (
            jobs.FAILED,
            2,
            clock.now() - timedelta(seconds=CAP),
        )
        assert claim(session, clock, "w1") == []

    def test_a_non_retryable_error_fails_the_job_at_once(self, session: Session, clock: FrozenClock) -> None:
        job = enqueue(session, clock, max_attempts=5)
        [claimed] = claim(session, clock, "w1")
        with transaction(session):
            status = jobs.fail(
                session,
                claimed,
                worker_id="w1",
                now=clock.now(),
                error="Refused",
                base=BASE,
                cap=CAP,
                retryable=False,
            )
        assert status == jobs.FAILED
        assert job_row(session, job.id).status == jobs.FAILED


class TestDedupe:
    def test_a_dedupe_key_enqueues_once(self, session: Session, clock: FrozenClock) -> None:
        first = enqueue(session, clock, dedupe_key="fulfil:ord_1")
        second = enqueue(session, clock, dedupe_key="fulfil:ord_1")
        assert second.id == first.id
        with transaction(session):
            assert session.scalars(select(Job.id)).all() == [first.id]

    def test_a_dedupe_key_enqueues_once_within_one_transaction(
        self, session: Session, clock: FrozenClock
    ) -> None:
        with transaction(session):
            first = jobs.enqueue(session, "k", {}, now=clock.now(), max_attempts=3, dedupe_key="refund:pay_1")
            second = jobs.enqueue(
                session, "k", {}, now=clock.now(), max_attempts=3, dedupe_key="refund:pay_1"
            )
        assert first is second
        assert len(claim(session, clock, "w1")) == 1

    def test_different_keys_and_no_key_enqueue_separately(self, session: Session, clock: FrozenClock) -> None:
        enqueue(session, clock, dedupe_key="a")
        enqueue(session, clock, dedupe_key="b")
        enqueue(session, clock)
        enqueue(session, clock)
        assert len(claim(session, clock, "w1")) == 4


# --- the worker loop: it opens its own sessions, so these tests commit for real ---------------------


class Flaky:
    """A handler that raises ``failures`` times, then succeeds; it records every payload it saw."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[dict[str, Any]] = []

    def __call__(self, runtime: Runtime, payload: dict[str, Any]) -> None:
        self.calls.append(payload)
        if len(self.calls) <= self.failures:
            raise ConnectionError("partner down")


class Refusal(Exception):
    retryable = False


@pytest.fixture
def runtime(committed: sa.Engine, database_url: str) -> Iterator[Runtime]:
    yield Runtime(settings=settings_for(database_url), engine=committed, clock=FrozenClock())


def enqueue_committed(runtime: Runtime, kind: str, *, max_attempts: int) -> str:
    with runtime.sessions() as session, transaction(session):
        return jobs.enqueue(
            session, kind, {"order_id": "ord_1"}, now=runtime.clock.now(), max_attempts=max_attempts
        ).id


def run_rounds(worker: Worker, rounds: int) -> None:
    """Run the worker, moving the frozen clock past any backoff between rounds."""
    clock = worker.runtime.clock
    assert isinstance(clock, FrozenClock)
    for _ in range(rounds):
        worker.run_until_idle()
        clock.advance(timedelta(seconds=1))


def jobs_by_kind(runtime: Runtime) -> dict[str, Job]:
    with runtime.sessions() as session, transaction(session):
        return {job.kind: job for job in session.scalars(select(Job))}


class TestWorker:
    def test_a_job_that_fails_then_succeeds_ends_done(self, runtime: Runtime) -> None:
        handler = Flaky(failures=2)
        job_id = enqueue_committed(runtime, "test.flaky", max_attempts=5)
        run_rounds(Worker(runtime, {"test.flaky": JobKind(handler)}, worker_id="w1"), rounds=5)
        assert len(handler.calls) == 3
        job = jobs_by_kind(runtime)["test.flaky"]
        assert (job.id, job.status, job.attempts, job.last_error) == (job_id, jobs.DONE, 3, None)

    def test_a_job_that_always_fails_ends_failed_and_gives_up_once(self, runtime: Runtime) -> None:
        handler, given_up = Flaky(failures=10**6), Flaky(failures=0)
        enqueue_committed(runtime, "test.doomed", max_attempts=3)
        worker = Worker(runtime, {"test.doomed": JobKind(handler, give_up=given_up)}, worker_id="w1")
        run_rounds(worker, rounds=6)
        assert len(handler.calls) == 3
        assert given_up.calls == [{"order_id": "ord_1"}]
        by_kind = jobs_by_kind(runtime)
        assert (by_kind["test.doomed"].status, by_kind["test.doomed"].last_error) == (
            jobs.FAILED,
            "ConnectionError",
        )
        assert by_kind[GIVE_UP_PREFIX + "test.doomed"].status == jobs.DONE
        assert len(by_kind) == 2

    def test_a_non_retryable_error_gives_up_after_one_attempt(self, runtime: Runtime) -> None:
        calls: list[int] = []

        def refuse(runtime: Runtime, payload: dict[str, Any]) -> None:
            calls.append(1)
            raise Refusal()

        given_up = Flaky(failures=0)
        enqueue_committed(runtime, "test.refused", max_attempts=5)
        run_rounds(
            Worker(runtime, {"test.refused": JobKind(refuse, give_up=given_up)}, worker_id="w1"), rounds=3
        )
        assert len(calls) == 1
        assert len(given_up.calls) == 1
        assert jobs_by_kind(runtime)["test.refused"].status == jobs.FAILED

    def test_a_job_of_an_unknown_kind_fails_without_a_hook(self, runtime: Runtime) -> None:
        enqueue_committed(runtime, "test.unknown", max_attempts=2)
        run_rounds(Worker(runtime, {}, worker_id="w1"), rounds=3)
        by_kind = jobs_by_kind(runtime)
        assert (by_kind["test.unknown"].status, by_kind["test.unknown"].last_error) == (
            jobs.FAILED,
            "LookupError",
        )
        assert len(by_kind) == 1


class TestSweeps:
    def test_a_sweep_runs_once_per_period_however_many_workers_poll(self, runtime: Runtime) -> None:
        clock = runtime.clock
        assert isinstance(clock, FrozenClock)
        periods: list[str] = []
        kinds = {
            "test.sweep": JobKind(lambda _runtime, payload: periods.append(payload["period"]), every=MINUTE)
        }
        first, second = Worker(runtime, kinds, worker_id="w1"), Worker(runtime, kinds, worker_id="w2")
        for _ in range(3):
            for _ in range(4):
                first.run_until_idle()
                second.run_until_idle()
                clock.advance(timedelta(seconds=10))
            clock.advance(timedelta(seconds=20))
        assert len(periods) == len(set(periods)) == 3
        assert all(
            period_start(datetime.fromisoformat(p), MINUTE) == datetime.fromisoformat(p) for p in periods
        )

    def test_periods_are_aligned_on_the_epoch(self) -> None:
        now = datetime(2026, 11, 26, 15, 7, 38, tzinfo=UTC)
        assert period_start(now, MINUTE) == datetime(2026, 11, 26, 15, 7, tzinfo=UTC)
        assert period_start(now, timedelta(days=1)) == datetime(2026, 11, 26, tzinfo=UTC)
