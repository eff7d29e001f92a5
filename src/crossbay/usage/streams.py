"""A long run of usage records rated on several connections at once (the import, the bench).

Rating one batch is client work (Python rates the records and formats their
rows) followed by server work (the COPY settling, the daily counters, the
bundles, the commit), and on one connection each side waits while the other
works. With two streams, one stream's Python runs while the other's statements
do. Every record of an eSIM goes to the same stream (chosen by its ICCID), in
the order it came, and two streams never share a bundle or a daily counter, so
they never wait on each other's locks. A network's file comes in time order, and
then each eSIM's records are rated exactly as on one connection (tested); where
one eSIM's records are out of time order, which of them a batch sorts together
depends on where the batches fall, as it does with another batch size. A record
id sent twice under two ICCIDs may land in both streams: the unique key lets one
of them in, as with two network requests at once.

Each stream holds at most one batch waiting and one being rated, so memory stays
bounded however long the file. The first error stops everything and is raised to
the caller; batches already committed stay (re-running the import skips them).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from queue import Queue
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from crossbay.clock import Clock
from crossbay.usage.records import RecordIn, tally_with_retry


class RatingStreams:
    """``add`` records, then ``close`` for how many got each result (also on leaving a ``with`` block)."""

    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Clock, streams: int = 2, batch_size: int = 20_000
    ) -> None:
        if streams < 1 or batch_size < 1:
            raise ValueError("streams and batch_size must be at least 1")
        self.results: Counter[str] = Counter()
        self._sessions, self._clock, self._batch_size = sessions, clock, batch_size
        self._pending: list[list[RecordIn]] = [[] for _ in range(streams)]
        # One batch waiting per stream: the reader never runs far ahead of the rating.
        self._queues: list[Queue[list[RecordIn] | None]] = [Queue(maxsize=1) for _ in range(streams)]
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, args=(queue,), name=f"rating-stream-{n}", daemon=True)
            for n, queue in enumerate(self._queues)
        ]
        for thread in self._threads:
            thread.start()
        self._closed = False

    def add(self, record: RecordIn) -> None:
        self.extend((record,))

    def extend(self, records: Iterable[RecordIn]) -> None:
        pending, size, count = self._pending, self._batch_size, len(self._pending)
        for record in records:
            stream = hash(record.iccid) % count if count > 1 else 0
            batch = pending[stream]
            batch.append(record)
            if len(batch) >= size:
                self._send(stream)

    def close(self) -> Counter[str]:
        """Rate what is left, wait for every stream, raise the first error if there was one."""
        if not self._closed:
            self._closed = True
            try:
                for stream, pending in enumerate(self._pending):
                    if pending and self._error is None:
                        self._send(stream)
            finally:  # a stream failing meanwhile must not leave the others waiting for work
                for queue in self._queues:
                    queue.put(None)
                for thread in self._threads:
                    thread.join()
        if self._error is not None:
            raise self._error
        return self.results

    def __enter__(self) -> RatingStreams:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None and self._error is None:
            self._error = error  # the streams drop what is queued and stop
        try:
            self.close()
        except BaseException:
            if error is None:
                raise

    def _send(self, stream: int) -> None:
        if self._error is not None:
            raise self._error
        self._queues[stream].put(self._pending[stream])
        self._pending[stream] = []

    def _work(self, queue: Queue[list[RecordIn] | None]) -> None:
        while (batch := queue.get()) is not None:
            if self._error is not None:
                continue  # keep taking batches so the reader never blocks, rate none
            try:
                tally = tally_with_retry(self._sessions, batch, clock=self._clock)
            except BaseException as error:  # handed to the caller's thread by close
                with self._lock:
                    self._error = self._error or error
                continue
            with self._lock:
                self.results.update(tally)
