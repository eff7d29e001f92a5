"""Rating and reservation on an eSIM's balances: pure, no database, no clock.

CGRateS-style: each bundle is a typed balance (data bytes, voice seconds) with a
priority (the one expiring first is used first; packs waiting for first use come
last, in purchase order), an expiry and an area filter. The services load the
balances of the eSIMs at hand under a row lock, run these functions over them,
and write back the ones that changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from crossbay.clock import add_days, hk_date, hk_end_of_day

Meter = Literal["data", "voice"]
DATA: Final = "data"
VOICE: Final = "voice"
ACTIVE, QUEUED, EXHAUSTED, EXPIRED = "active", "queued", "exhausted", "expired"

# Record results.
RATED, THROTTLED, OVER_QUOTA, NO_BUNDLE = "rated", "throttled", "over_quota", "no_bundle"
UNKNOWN_ICCID, DUPLICATE = "unknown_iccid", "duplicate"

# Used percentages that fire a "threshold" event: 20% left (the reminders' default) and 10% left.
ALERT_LEVELS: Final[tuple[int, ...]] = (80, 90)


def bundle_expiry(starts_at: datetime, validity_days: int) -> datetime:
    """Validity counts Hong Kong calendar days, the first included; it ends at 23:59:59 HK time."""
    # Bought within a day's last second, a one-day bundle still may not end before it starts.
    return max(hk_end_of_day(add_days(hk_date(starts_at), validity_days - 1)), starts_at)


def next_alert(used_percent: int) -> int | None:
    return next((level for level in ALERT_LEVELS if level > used_percent), None)


@dataclass(slots=True)
class Balance:
    """A bundle as rating sees it; mutated in place, ``changed`` tells the service what to write."""

    id: str
    esim_id: str
    status: str
    areas: int
    created_at: datetime
    starts_at: datetime | None
    expires_at: datetime | None
    validity_days: int
    throttle_kbps: int | None
    data_total: int | None
    data_remaining: int | None
    data_reserved: int
    voice_total: int | None
    voice_remaining: int | None
    voice_reserved: int
    next_alert_percent: int | None
    changed: bool = False
    events: list[tuple[str, int]] = field(default_factory=list)

    def remaining(self, meter: str) -> int:
        value = self.data_remaining if meter == DATA else self.voice_remaining
        return value or 0

    def reserved(self, meter: str) -> int:
        return self.data_reserved if meter == DATA else self.voice_reserved

    def available(self, meter: str) -> int:
        return self.remaining(meter) - self.reserved(meter)

    def covers(self, area: int, at: datetime) -> bool:
        """Bought by then, in its areas, not yet ended (a pack waiting for first use has no end yet)."""
        return (
            self.areas & area != 0
            and self.created_at <= at
            and (self.expires_at is None or at <= self.expires_at)
        )

    def usable(self, area: int, at: datetime) -> bool:
        return self.status in (ACTIVE, QUEUED) and self.covers(area, at)

    def priority(self) -> tuple[int, datetime, datetime, str]:
        if self.status == QUEUED or self.expires_at is None:
            return (1, self.created_at, self.created_at, self.id)
        return (0, self.expires_at, self.created_at, self.id)

    def start(self, at: datetime) -> None:
        """A pack waiting for first use starts its validity with the usage that first needs it."""
        self.status = ACTIVE
        self.starts_at = max(at, self.created_at)
        self.expires_at = bundle_expiry(self.starts_at, self.validity_days)
        self.changed = True

    def debit(self, meter: str, amount: int) -> None:
        if meter == DATA:
            self.data_remaining = self.remaining(DATA) - amount
        else:
            self.voice_remaining = self.remaining(VOICE) - amount
        self.changed = True
        self._after_debit()

    def reserve(self, meter: str, amount: int) -> None:
        if meter == DATA:
            self.data_reserved += amount
        else:
            self.voice_reserved += amount
        self.changed = True

    def release(self, meter: str, amount: int) -> None:
        # A withdrawn (refunded) bundle already dropped its reservations: never go below zero.
        if meter == DATA:
            self.data_reserved = max(0, self.data_reserved - amount)
        else:
            self.voice_reserved = max(0, self.voice_reserved - amount)
        self.changed = True

    def used_percent(self) -> int:
        percents = [
            (total - (remaining or 0)) * 100 // total
            for total, remaining in (
                (self.data_total, self.data_remaining),
                (self.voice_total, self.voice_remaining),
            )
            if total
        ]
        return max(percents, default=0)

    def _after_debit(self) -> None:
        # Called for every record rated: plain integer arithmetic, no lists.
        data_total, voice_total = self.data_total, self.voice_total
        data_empty = not data_total or (self.data_remaining or 0) <= 0
        voice_empty = not voice_total or (self.voice_remaining or 0) <= 0
        if self.status == ACTIVE and data_empty and voice_empty and (data_total or voice_total):
            self.status = EXHAUSTED
            self.next_alert_percent = None
            self.events.append(("exhausted", 100))
            return
        level = self.next_alert_percent
        if level is None:
            return
        reached = (data_total and (data_total - (self.data_remaining or 0)) * 100 >= level * data_total) or (
            voice_total and (voice_total - (self.voice_remaining or 0)) * 100 >= level * voice_total
        )
        if reached:
            used = self.used_percent()
            self.events.append(("threshold", used))
            self.next_alert_percent = next_alert(used)


def by_priority(balances: list[Balance]) -> list[Balance]:
    return sorted(balances, key=Balance.priority) if len(balances) > 1 else balances


def charge(
    balances: list[Balance], meter: str, amount: int, area: int, at: datetime
) -> list[tuple[str, int]]:
    """Debit ``amount`` from the usable balances in priority order; returns what each one paid.

    Reserved units belong to credit sessions and are never taken here.
    """
    parts: list[tuple[str, int]] = []
    left = amount
    for balance in by_priority(balances):
        if left <= 0:
            break
        if not balance.usable(area, at) or balance.available(meter) <= 0:
            continue
        if balance.status == QUEUED:
            balance.start(at)
        take = min(left, balance.available(meter))
        balance.debit(meter, take)
        parts.append((balance.id, take))
        left -= take
    return parts


def throttle_for(balances: list[Balance], area: int, at: datetime) -> int | None:
    """The fair-use speed data may carry on at once the quota is gone, if any covering bundle has one."""
    speeds = [
        b.throttle_kbps
        for b in balances
        if b.throttle_kbps and b.status in (ACTIVE, EXHAUSTED) and b.covers(area, at)
    ]
    return max(speeds) if speeds else None


def available_total(balances: list[Balance], meter: str, area: int, at: datetime) -> int:
    return sum(max(0, b.available(meter)) for b in balances if b.usable(area, at))


@dataclass(frozen=True, slots=True)
class Usage:
    started_at: datetime
    area: int
    data_bytes: int
    voice_seconds: int


@dataclass(slots=True)
class Rating:
    result: str
    charged_data: int = 0
    charged_voice: int = 0
    # [[bundle_id, data_bytes, voice_seconds], ...]
    charges: list[list[object]] = field(default_factory=list)


def rate(usage: Usage, balances: list[Balance]) -> Rating:
    """Charge one usage record to an eSIM's balances and say what became of it."""
    data_parts = (
        charge(balances, DATA, usage.data_bytes, usage.area, usage.started_at) if usage.data_bytes else []
    )
    voice_parts = (
        charge(balances, VOICE, usage.voice_seconds, usage.area, usage.started_at)
        if usage.voice_seconds
        else []
    )
    charged_data = sum(p[1] for p in data_parts)
    charged_voice = sum(p[1] for p in voice_parts)
    merged: dict[str, list[object]] = {}
    for bundle_id, units in data_parts:
        merged[bundle_id] = [bundle_id, units, 0]
    for bundle_id, units in voice_parts:
        merged.setdefault(bundle_id, [bundle_id, 0, 0])[2] = units
    short_data = usage.data_bytes - charged_data
    short_voice = usage.voice_seconds - charged_voice
    if not short_data and not short_voice:
        result = RATED
    elif not short_voice and throttle_for(balances, usage.area, usage.started_at):
        result = THROTTLED
    elif any(b.status != EXPIRED and b.covers(usage.area, usage.started_at) for b in balances):
        result = OVER_QUOTA
    else:
        result = NO_BUNDLE
    return Rating(result, charged_data, charged_voice, list(merged.values()))


def reserve(
    balances: list[Balance], meter: str, want: int, area: int, at: datetime
) -> tuple[Balance | None, int]:
    """Reserve up to ``want`` units from the first usable balance that has any (one grant, one bundle)."""
    for balance in by_priority(balances):
        if balance.usable(area, at) and balance.available(meter) > 0:
            if balance.status == QUEUED:
                balance.start(at)
            granted = min(want, balance.available(meter))
            balance.reserve(meter, granted)
            return balance, granted
    return None, 0
