"""The one source of time. Tests move a ``FrozenClock``; nothing else calls ``datetime.now``."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

HONG_KONG = ZoneInfo("Asia/Hong_Kong")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime | None = None) -> None:
        self._at = at or datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._at += delta

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at


def hk_date(at: datetime) -> date:
    """The Hong Kong calendar day of an instant: days, caps and expiry follow it."""
    return at.astimezone(HONG_KONG).date()


def hk_day_start(at: datetime) -> datetime:
    """The UTC instant of the Hong Kong midnight that began the day of ``at``."""
    return datetime.combine(hk_date(at), time.min, tzinfo=HONG_KONG).astimezone(UTC)


def hk_end_of_day(day: date) -> datetime:
    """23:59:59 Hong Kong time on ``day``, as UTC."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=HONG_KONG).astimezone(UTC)


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


class ShiftedClock:
    """Real time plus an offset that tests can move forward: a running server keeps ticking."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
