"""Bar charts as plain SVG geometry, drawn by the template: no script, no outside library."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 8, 22, 16


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day, under the bar
    value: str  # the amount, for the bar's tooltip
    show_label: bool


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    baseline: float
    top_value: str


def bar_chart(points: list[tuple[str, int, str]], *, top_value: str) -> Chart:
    """``points``: (label, minor units, formatted value); heights scale to the largest value."""
    if not points:
        return Chart(WIDTH, HEIGHT, [], HEIGHT - BOTTOM, top_value)
    peak = max((value for _, value, _ in points), default=0) or 1
    slot = (WIDTH - LEFT) / len(points)
    usable = HEIGHT - BOTTOM - TOP
    every = max(1, len(points) // 10)  # label about ten days so they never overlap
    bars = []
    for index, (label, value, shown) in enumerate(points):
        height = usable * max(value, 0) / peak
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.15, 2),
                y=round(HEIGHT - BOTTOM - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
                label=label,
                value=shown,
                show_label=index % every == 0,
            )
        )
    return Chart(WIDTH, HEIGHT, bars, HEIGHT - BOTTOM, top_value)
