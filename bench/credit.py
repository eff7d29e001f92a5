"""Credit-control latency on PostgreSQL: reserve (CCR-I) and update (CCR-U) with 200 sessions open.

On a fresh schema, 200 credit sessions are opened and kept open on --esims eSIMs
(default 200: one session each; --esims 1 puts all 200 on one eSIM, every
request then queues on that eSIM's bundle lock). --workers threads drive them
with direct service calls (one database session per thread, the transaction
the HTTP route runs), round after round of updates, and finally terminate them.
Prints p50/p99 per operation (aim: p99 < 5 ms).

    make bench
    python bench/credit.py --esims 1 --workers 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--esims", type=int, default=SESSIONS)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    with postgres_schema() as url:
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        try:
            iccids = setup(engine, args.esims)
            now = datetime.now(UTC)
            timings: dict[str, list[float]] = {"reserve": [], "update": [], "terminate": []}
            lock = threading.Lock()

            def timed(kind: str, call: object) -> None:
                started = time.perf_counter()
                with sessions() as session, transaction(session):
                    call(session)  # type: ignore[operator]
                elapsed = time.perf_counter() - started
                with lock:
                    timings[kind].append(elapsed)

            def reserve(index: int) -> None:
                timed(
                    "reserve",
                    lambda s: credit.open_session(
                        s,
                        session_id=f"gy;{index}",
                        iccid=iccids[index % len(iccids)],
                        service="data",
                        region="hk",
                        requested=None,
                        policy=POLICY,
                        now=now,
                    ),
                )

            def update(index: int, number: int) -> None:
                timed(
                    "update",
                    lambda s: credit.update_session(
                        s,
                        session_id=f"gy;{index}",
                        request_number=number,
                        used=10 * MB,
                        requested=None,
                        policy=POLICY,
                        now=now,
                    ),
                )

            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(reserve, range(SESSIONS)))
                for number in range(1, args.rounds + 1):
                    list(pool.map(lambda i, n=number: update(i, n), range(SESSIONS)))
                list(
                    pool.map(
                        lambda i: timed(
                            "terminate",
                            lambda s: credit.terminate_session(
                                s, session_id=f"gy;{i}", request_number=args.rounds + 1, used=MB, now=now
                            ),
                        ),
                        range(SESSIONS),
                    )
                )
        finally:
            engine.dispose()
    print(
        f"credit control, {SESSIONS} open sessions on {args.esims} eSIM(s), {args.workers} worker threads,"
        " direct service calls (one transaction each):"
    )
    for kind, values in timings.items():
        print(
            f"  {kind:9s} n={len(values):5d}  p50 {statistics.median(values) * 1000:6.2f} ms"
            f"  p99 {percentile(values, 0.99) * 1000:6.2f} ms"
        )


if __name__ == "__main__":
    main()
