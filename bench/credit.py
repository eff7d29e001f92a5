"""Credit-control latency on PostgreSQL: reserve (CCR-I) and update (CCR-U) with 200 sessions open.

On a fresh schema, 200 credit sessions are opened and kept open on --esims eSIMs
(default 200: one session each; --esims 1 puts all 200 on one eSIM, every
request then queues on that eSIM's bundle lock), driven round after round of
updates, and finally terminated.

The requests come from --clients separate processes (default 2, one per core:
with more, clients and server backends queue for the CPU, and the floor below
rises with the rest), each single-threaded with its own database connection, so no request waits for a Python
thread or a pooled connection: each one is the service call the HTTP route makes
(`with transaction(session): credit.update_session(...)`: locking read, Python,
one write, COMMIT), timed in the process that makes it from its first statement
to the end of its COMMIT. That is the latency a network request sees inside the
server; HTTP parsing is not included.

Each client first warms up (untimed) with a session of its own: one CCR-I, two
CCR-U and a CCR-T, so the server has planned each statement once on its
connection, as in steady state.

The floor, measured in the same run by the same clients through the same
session and transaction machinery, is the least a request can cost: one
`SELECT … FOR UPDATE` of a row and one `UPDATE` of it, then COMMIT. Prints
p50/p99 per operation (aim: p99 < 5 ms), the floor, their ratio and the load
average (the machine is shared: other engineers run tests).

    make bench
    python bench/credit.py --esims 1 --clients 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rating import setup
from crossbay.db import make_engine, make_session_factory, transaction
from crossbay.migrate import upgrade
from crossbay.usage import credit
from tests.support.servers import postgres_schema

SESSIONS = 200
MB = 1024 * 1024
POLICY = credit.CreditPolicy(
    slice_bytes=15 * MB, slice_seconds=300, validity_seconds=600, timeout_seconds=900
)
KINDS = ("floor", "reserve", "update", "terminate")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def client(
    index: int,
    clients: int,
    url: str,
    iccids: list[str],
    rounds: int,
    now: datetime,
    barrier: Barrier,
    results: Any,
) -> None:
    """One client process: its share of the sessions, one connection, one request at a time."""
    # As the server's engine (crossbay.db.make_engine: pre-ping on checkout), with one connection.
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=0, hide_parameters=True)
    sessions = make_session_factory(engine)
    mine = [i for i in range(SESSIONS) if i % clients == index]
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}

    def timed(kind: str, call: Callable[..., object], *more: int) -> None:
        started = time.perf_counter()
        with sessions() as session, transaction(session):
            call(session, *more)
        timings[kind].append(time.perf_counter() - started)

    def floor(session: Session, i: int) -> None:
        session.execute(sa.text("SELECT n FROM bench_floor WHERE id = :id FOR UPDATE"), {"id": i})
        session.execute(sa.text("UPDATE bench_floor SET n = n + 1 WHERE id = :id"), {"id": i})

    def reserve(session: Session, i: int) -> None:
        credit.open_session(
            session,
            session_id=f"gy;{i}",
            iccid=iccids[i % len(iccids)],
            service="data",
            region="hk",
            requested=None,
            policy=POLICY,
            now=now,
        )

    def update(session: Session, i: int, number: int) -> None:
        credit.update_session(
            session,
            session_id=f"gy;{i}",
            request_number=number,
            used=10 * MB,
            requested=None,
            policy=POLICY,
            now=now,
        )

    def terminate(session: Session, i: int) -> None:
        credit.terminate_session(session, session_id=f"gy;{i}", request_number=rounds + 1, used=MB, now=now)

    try:
        # Warm up, untimed: connect, and let the server plan each statement once on this connection,
        # as a server in steady state has; on a session of its own, on one of the 200 eSIMs.
        warm = f"warm;{index}"
        with sessions() as session, transaction(session):
            credit.open_session(
                session,
                session_id=warm,
                iccid=iccids[index % len(iccids)],
                service="data",
                region="hk",
                requested=None,
                policy=POLICY,
                now=now,
            )
        for number in (1, 2):
            with sessions() as session, transaction(session):
                credit.update_session(
                    session,
                    session_id=warm,
                    request_number=number,
                    used=MB,
                    requested=None,
                    policy=POLICY,
                    now=now,
                )
        with sessions() as session, transaction(session):
            credit.terminate_session(session, session_id=warm, request_number=3, used=0, now=now)
            floor(session, index)
        barrier.wait()
        for _ in range(rounds):
            for i in mine:
                timed("floor", floor, i)
        barrier.wait()
        for i in mine:
            timed("reserve", reserve, i)
        barrier.wait()
        for number in range(1, rounds + 1):
            for i in mine:
                timed("update", update, i, number)
        barrier.wait()
        for i in mine:
            timed("terminate", terminate, i)
        results.put(timings)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--esims", type=int, default=SESSIONS)
    parser.add_argument("--clients", type=int, default=2, help="client processes, one connection each")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    with postgres_schema() as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            iccids = setup(engine, args.esims)
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE bench_floor (id integer PRIMARY KEY, n bigint)")
                connection.exec_driver_sql(
                    f"INSERT INTO bench_floor SELECT g, 0 FROM generate_series(0, {SESSIONS - 1}) g"
                )
        finally:
            engine.dispose()
        barrier = context.Barrier(args.clients, timeout=300)
        results = context.Queue()
        now = datetime.now(UTC)
        load_before = os.getloadavg()
        started = time.perf_counter()
        processes = [
            context.Process(
                target=client,
                args=(index, args.clients, url, iccids, args.rounds, now, barrier, results),
            )
            for index in range(args.clients)
        ]
        for process in processes:
            process.start()
        gathered: list[dict[str, list[float]]] = []
        deadline = time.monotonic() + 600
        while len(gathered) < len(processes):
            if time.monotonic() > deadline or any(p.exitcode not in (None, 0) for p in processes):
                for process in processes:
                    process.kill()
                raise SystemExit("a client process failed or took too long")
            try:
                gathered.append(results.get(timeout=1))
            except queue.Empty:
                continue
        for process in processes:
            process.join(timeout=60)
        elapsed = time.perf_counter() - started
        load_after = os.getloadavg()
    timings = {kind: [t for one in gathered for t in one[kind]] for kind in KINDS}
    print(
        f"credit control, {SESSIONS} open sessions on {args.esims} eSIM(s), {args.clients} client processes"
        f" (one connection each, one request at a time), {elapsed:.1f}s;"
        f" load average before {_load(load_before)}, after {_load(load_after)} (2 cores)"
    )
    print("latency of one service call in the process making it: first statement to end of COMMIT")
    floor_p99 = percentile(timings["floor"], 0.99)
    for kind, values in timings.items():
        label = "floor" if kind == "floor" else kind
        p99 = percentile(values, 0.99)
        ratio = "" if kind == "floor" else f"  p99/floor {p99 / floor_p99:4.1f}"
        print(
            f"  {label:9s} n={len(values):5d}  p50 {statistics.median(values) * 1000:6.2f} ms"
            f"  p99 {p99 * 1000:6.2f} ms{ratio}"
        )
    print("  (floor: SELECT … FOR UPDATE + UPDATE of one row + COMMIT; aim: reserve/update p99 < 5 ms)")


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
