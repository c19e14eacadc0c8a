"""Server-side layout of the dashboard's charts: counts in, the geometry of an inline SVG out.

No JavaScript and nothing fetched: many sites run the hub without internet access, and the
page must read the same in a browser, a screen reader (titles and a table of the same
numbers) and a printout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

# the pills' colours on the verdict table, darker so that bars stand apart on white
ACTION_COLOURS = {
    "block": "#c62828",
    "warn": "#ef6c00",
    "confirm": "#f9a825",
    "acknowledged": "#8d6e63",
    "exempted": "#2e7d32",
    "log": "#0277bd",
    "allow": "#90a4ae",
}
# Okabe and Ito's palette, which colour-blind readers can tell apart, then greys
CATEGORY_COLOURS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f6b00", "#444444"]
OTHER_COLOUR = "#b0bec5"
# bucket sizes a window may be cut into (seconds), smallest first
BUCKETS = (300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
MAX_BARS = 31


def pick_bucket(since: float, until: float) -> tuple[float, float, int]:
    """(origin, bucket size, number of bars) for a window: the smallest bucket that keeps it to
    at most MAX_BARS bars, the origin on a bucket boundary (a day starts at 00:00 UTC)."""
    span = max(until - since, 1.0)
    bucket = next((b for b in BUCKETS if span / b <= MAX_BARS - 1), BUCKETS[-1])
    start = math.floor(since / bucket) * bucket
    return float(start), float(bucket), max(1, math.ceil((until - start) / bucket))


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    total: int


@dataclass
class StackedBars:
    """One stacked bar per bucket, a segment per series; `rows` is the same as a table."""

    title: str
    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, width, height of the plotting area
    series: list[Series]
    segments: list[Segment] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    rows: list[tuple[str, list[int], int]] = field(default_factory=list)  # bucket label, per series, total
    total: int = 0


def bucket_label(t: float, bucket: float) -> str:
    dt = datetime.fromtimestamp(t, UTC)
    if bucket >= 86400:
        return dt.strftime("%b %d")
    return dt.strftime("%b %d %H:%M")


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (the y axis' top)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def stacked_bars(
    title: str,
    counts: dict[str, dict[int, int]],
    start: float,
    bucket: float,
    bars: int,
    colours: dict[str, str] | None = None,
    max_series: int = 8,
    width: int = 600,
    height: int = 220,
) -> StackedBars:
    """Lay out `counts` (series -> bucket index -> count) as stacked bars. With `colours` the
    series keep its order (the actions from the most severe, at the bottom, so a block always
    sits on the axis); otherwise the largest comes first. Past `max_series` the rest are summed
    as "other"."""
    rank = {name: i for i, name in enumerate(colours or ())}
    totals = sorted(
        ((sum(by.values()), name) for name, by in counts.items()),
        key=lambda t: (rank.get(t[1], len(rank)), -t[0], t[1]),
    )
    kept = [name for _, name in totals[:max_series]]
    merged: dict[str, dict[int, int]] = {name: dict(counts[name]) for name in kept}
    if len(totals) > max_series:
        other: dict[int, int] = {}
        for _, name in totals[max_series:]:
            for i, n in counts[name].items():
                other[i] = other.get(i, 0) + n
        merged["other"] = other
    names = list(merged)
    palette = iter(CATEGORY_COLOURS)

    def colour(name: str) -> str:
        if name == "other":
            return OTHER_COLOUR
        if colours is not None:
            return colours.get(name, OTHER_COLOUR)
        return next(palette, OTHER_COLOUR)

    series = [Series(name, colour(name), sum(merged[name].values())) for name in names]
    left, top, right, bottom = 40.0, 8.0, 8.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    chart = StackedBars(title, width, height, (left, top, plot_w, plot_h), series)
    stacks = [sum(merged[name].get(i, 0) for name in names) for i in range(bars)]
    chart.total = sum(stacks)
    ymax = nice_ceiling(max(stacks, default=0))
    slot = plot_w / bars
    bar_w = max(slot * 0.78, 1.0)
    for k in range(5):  # 0, 1/4, ... of the axis, labelled only where the value is whole
        value = ymax * k / 4
        if value == int(value):
            chart.y_ticks.append((top + plot_h - plot_h * k / 4, f"{int(value):,}"))
    every = max(1, math.ceil(bars / 6))  # at most about six dates under the axis
    for i in range(bars):
        t = start + i * bucket
        label = bucket_label(t, bucket)
        x = left + i * slot + (slot - bar_w) / 2
        if i % every == 0:
            chart.x_labels.append((x + bar_w / 2, label))
        base = top + plot_h
        per_series = []
        for s in series:
            n = merged[s.name].get(i, 0)
            per_series.append(n)
            if not n:
                continue
            h = plot_h * n / ymax
            base -= h
            chart.segments.append(Segment(x, base, bar_w, h, s.colour, f"{label}: {n:,} {s.name}"))
        chart.rows.append((label, per_series, stacks[i]))
    return chart
