"""Usage as customers see it: a remaining-data gauge per eSIM and a daily bar chart, drawn on the server.

Both are plain numbers and SVG coordinates here; the templates draw them and say the same
thing in words, so nothing depends on colour, on JavaScript or on seeing the picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from crossbay.catalog import service as catalog
from crossbay.catalog.catalog_file import covers
from crossbay.catalog.models import Package
from crossbay.clock import hk_date
from crossbay.esim.routes import EsimRead
from crossbay.usage import service as usage
from crossbay.web.views import PackageView, data_amount, package_view

USABLE = ("active", "queued")  # bundles whose data can still be used
LOW_PERCENT = 20  # at or below this share left the gauge says "running low"
GAUGE_RADIUS = 42
GAUGE_CIRCUMFERENCE = round(2 * math.pi * GAUGE_RADIUS, 2)
CHART_DAYS = 30


@dataclass(frozen=True)
class Gauge:
    """What is left on one eSIM across the bundles that can still be used."""

    left: str
    total: str
    percent: int  # share left, 0–100, rounded down so "100%" means nothing was used
    low: bool
    days_left: int | None  # Hong Kong days the data can still be used, today included; None if not started
    waiting: bool  # only packs that start on first use: nothing counts down yet
    arc: float  # length of the filled part of the ring, in SVG units

    @property
    def circumference(self) -> float:
        return GAUGE_CIRCUMFERENCE


def gauge_of(esim: EsimRead, *, now: datetime) -> Gauge | None:
    """None when the eSIM holds no data that can still be used (a top-up is the next step)."""
    bundles = [b for b in esim.bundles if b.status in USABLE and b.total_mb]
    total = sum(b.total_mb or 0 for b in bundles)
    if not total:
        return None
    left = sum(b.remaining_mb or 0 for b in bundles)
    percent = max(0, min(100, left * 100 // total))
    expiries = [b.expires_at for b in bundles if b.status == "active" and b.expires_at is not None]
    days_left = max((hk_date(at) - hk_date(now)).days + 1 for at in expiries) if expiries else None
    return Gauge(
        left=data_amount(left) or "0 MB",
        total=data_amount(total) or "0 MB",
        percent=percent,
        low=percent <= LOW_PERCENT,
        days_left=max(days_left, 1) if days_left is not None else None,
        waiting=not expiries,
        arc=round(GAUGE_CIRCUMFERENCE * left / total, 2),
    )


def _suggestion(last: Package, offered: Sequence[Package]) -> Package | None:
    """The pack bought last if it is sold as a top-up, else the first data pack covering the same places."""
    if any(p.id == last.id for p in offered):
        return last
    return next(
        (p for p in offered if p.kind == "data" and all(covers(p.regions, r) for r in last.regions)), None
    )


def quick_top_ups(session: Session, esims: Sequence[EsimRead], language: str) -> dict[str, PackageView]:
    """One tap from home to checkout: for each eSIM that can take a top-up, the pack to offer first."""
    offered = catalog.list_packages(session, purpose="topup")
    bought = catalog.get_packages(session, (e.bundles[-1].package_id for e in esims if e.bundles))
    suggestions = {}
    for esim in esims:
        if not esim.bundles:
            continue
        found = _suggestion(bought[esim.bundles[-1].package_id], offered)
        if found is not None:
            suggestions[esim.id] = package_view(found, language)
    return suggestions


# --- the daily bar chart -----------------------------------------------------------------------

# SVG user units; the picture scales with its box, and the text stays readable on a 390px phone.
CHART_WIDTH, CHART_HEIGHT = 340, 220
# Room on the right for half of today's date label, which sits under the last bar.
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 48, 318, 26, 174
LABEL_EVERY = 7  # days between date labels, counted back from today so today is labelled
_MB = 1024 * 1024


def usage_amount(data_bytes: int) -> str:
    """A day's usage: "0 MB", "0.4 MB", "12 MB", "1.2 GB"."""
    if data_bytes == 0:
        return "0 MB"
    mb = data_bytes / _MB
    if mb >= 1024:
        return f"{mb / 1024:.1f}".removesuffix(".0") + " GB"
    if mb < 0.1:
        return "0.1 MB"  # something was used: never show it as nothing
    return (f"{mb:.1f}".removesuffix(".0") if mb < 10 else f"{mb:.0f}") + " MB"


def nice_ceiling(mb: float) -> float:
    """The top of the axis in MB: 10, 20, 50 … 500 MB, then 1, 2, 5, 10 … GB, at or above the busiest day."""
    for top in (10, 20, 50, 100, 200, 500):
        if top >= mb:
            return top
    gb = 1
    while True:
        for factor in (1, 2, 5):
            if gb * factor * 1024 >= mb:
                return gb * factor * 1024
        gb *= 10


@dataclass(frozen=True)
class Bar:
    day: date
    data_bytes: int
    amount: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class AxisTick:
    position: float  # y for the value axis, x (the bar's middle) for the day axis
    label: str


@dataclass(frozen=True)
class UsageChart:
    bars: list[Bar]
    value_ticks: list[AxisTick]
    day_ticks: list[AxisTick]
    total: str
    busiest: Bar | None  # None when nothing was used
    first_day: date
    last_day: date
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = PLOT_LEFT
    right: int = PLOT_RIGHT
    top: int = PLOT_TOP
    bottom: int = PLOT_BOTTOM


def usage_chart(days: Sequence[usage.DailyUsage], short_day: dict[date, str]) -> UsageChart:
    """Bars for consecutive Hong Kong days, oldest first; ``short_day`` labels the day axis."""
    top_mb = nice_ceiling(max((d.data_bytes for d in days), default=0) / _MB)
    band = (PLOT_RIGHT - PLOT_LEFT) / len(days)
    width = round(band * 0.7, 2)
    span = PLOT_BOTTOM - PLOT_TOP
    bars = []
    for index, day in enumerate(days):
        height = round(span * day.data_bytes / (top_mb * _MB), 2)
        if day.data_bytes and height < 1:
            height = 1.0  # a day with any use shows a sliver, not an empty slot
        bars.append(
            Bar(
                day=day.day,
                data_bytes=day.data_bytes,
                amount=usage_amount(day.data_bytes),
                x=round(PLOT_LEFT + index * band + (band - width) / 2, 2),
                y=round(PLOT_BOTTOM - height, 2),
                width=width,
                height=height,
            )
        )
    value_ticks = [AxisTick(PLOT_BOTTOM, "0")] + [
        AxisTick(round(PLOT_BOTTOM - span * share, 2), usage_amount(round(top_mb * share * _MB)))
        for share in (0.5, 1)
    ]
    day_ticks = [
        AxisTick(round(bar.x + width / 2, 2), short_day[bar.day])
        for index, bar in enumerate(bars)
        if (len(bars) - 1 - index) % LABEL_EVERY == 0
    ]
    busiest = max(bars, key=lambda b: (b.data_bytes, b.day))
    return UsageChart(
        bars=bars,
        value_ticks=value_ticks,
        day_ticks=day_ticks,
        total=usage_amount(sum(d.data_bytes for d in days)),
        busiest=busiest if busiest.data_bytes else None,
        first_day=days[0].day,
        last_day=days[-1].day,
    )
