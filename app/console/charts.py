"""Chart geometry for the SVG the templates draw (``_macros.html``): bars against a target line,
and rates over time. Drawn on the server: nothing to load, readable with scripts off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

BAR_HEIGHT = 18
BAR_GAP = 6


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    met: bool
    y: float
    length: float
    height: float = BAR_HEIGHT


@dataclass(frozen=True, slots=True)
class BarChart:
    bars: list[Bar]
    target: float | None
    target_x: float | None
    width: int
    height: int
    label_width: int

    @property
    def label_chars(self) -> int:
        """How many characters of a label fit left of the bars at the chart's font size."""
        return self.label_width // 7


def bar_chart(
    rows: Sequence[tuple[str, float | None]],
    target: float | None,
    *,
    width: int = 720,
    label_width: int = 280,
) -> BarChart:
    """One horizontal bar per (label, rate in [0, 1]); a row without a rate draws at 0."""
    plot = width - label_width - 90  # room for the value written after the longest bar
    top = max([value or 0.0 for _, value in rows] + [target or 0.0, 0.05])
    scale = plot / top
    bars = [
        Bar(
            label=label,
            value=value or 0.0,
            met=target is None or (value or 0.0) >= target,
            y=index * (BAR_HEIGHT + BAR_GAP),
            length=round((value or 0.0) * scale, 1),
        )
        for index, (label, value) in enumerate(rows)
    ]
    height = len(bars) * (BAR_HEIGHT + BAR_GAP) + 18
    target_x = None if target is None else round(label_width + target * scale, 1)
    return BarChart(bars, target, target_x, width, height, label_width)


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    value: float
    x: float
    y: float

    @property
    def xy(self) -> str:
        return f"{self.x},{self.y}"


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    marker: str  # a shape in the legend, beside the colour
    points: list[Point]


@dataclass(frozen=True, slots=True)
class Tick:
    value: float
    y: float


@dataclass(frozen=True, slots=True)
class XLabel:
    text: str
    x: float


@dataclass(frozen=True, slots=True)
class TrendChart:
    series: list[Series]
    ticks: list[Tick]
    x_labels: list[XLabel]
    target: float | None
    target_y: float | None
    width: int
    height: int
    left: int = 44
    notes: list[str] = field(default_factory=list)


MARKERS = ("●", "■", "▲", "◆")


def trend_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    target: float | None,
    *,
    width: int = 720,
    height: int = 220,
) -> TrendChart:
    """Lines of rates over ``x_labels`` (runs or days); a missing value leaves a gap."""
    left, bottom, top_margin = 44, 20, 16
    values = [v for _, line in series for v in line if v is not None]
    top = min(1.0, max([*values, target or 0.0, 0.05]) * 1.15)
    plot_h = height - bottom - top_margin
    step = (width - left - 24) / max(len(x_labels) - 1, 1)

    def y_of(value: float) -> float:
        return round(top_margin + plot_h * (1 - value / top), 1)

    def x_of(index: int) -> float:
        return round(left + 12 + index * step, 1)

    lines = [
        Series(
            label,
            MARKERS[number % len(MARKERS)],
            [
                Point(x_labels[i], value, x_of(i), y_of(value))
                for i, value in enumerate(line)
                if value is not None
            ],
        )
        for number, (label, line) in enumerate(series)
    ]
    ticks = [Tick(top * k / 4, y_of(top * k / 4)) for k in range(5)]
    # At most eight labels under the axis, evenly spread, the last always shown.
    every = max(1, len(x_labels) // 8)
    shown = [
        XLabel(text, x_of(i))
        for i, text in enumerate(x_labels)
        if i % every == 0 or i == len(x_labels) - 1
    ]
    target_y = None if target is None else y_of(target)
    return TrendChart(lines, ticks, shown, target, target_y, width, height, left)
