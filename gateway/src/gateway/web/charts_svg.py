"""The ticket charts (SPEC T11) as inline SVG drawn on the server: readable without JavaScript, with text labels
and a legend in the drawing and the same figures in a table beside it.

Only presentation attributes (fill, stroke, …) are used: the pages' CSP allows no inline style.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# Distinguishable for common colour-vision deficiencies (Okabe–Ito), each labelled in text as well.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


class Slice(NamedTuple):
    label: str
    count: int
    percent: int
    colour: str
    # The SVG path of the slice (a full circle when it is the only one).
    path: str
    # Where its percentage is written, on the slice.
    text_x: float
    text_y: float


class Pie(NamedTuple):
    slices: list[Slice]
    total: int
    size: int
    radius: int


def pie(items: list[tuple[str, int]], *, size: int = 240) -> Pie:
    """Slices clockwise from twelve o'clock, in the given order."""
    total = sum(n for _, n in items if n > 0)
    r = size // 2 - 8
    c = size / 2
    slices: list[Slice] = []
    angle = -math.pi / 2
    for i, (label, n) in enumerate(i for i in items if i[1] > 0):
        share = n / total
        end = angle + share * 2 * math.pi
        colour = PALETTE[i % len(PALETTE)]
        if share >= 0.9999:
            path = f"M {c:.2f} {c - r:.2f} A {r} {r} 0 1 1 {c - 0.01:.2f} {c - r:.2f} Z"
        else:
            x0, y0 = c + r * math.cos(angle), c + r * math.sin(angle)
            x1, y1 = c + r * math.cos(end), c + r * math.sin(end)
            large = 1 if share > 0.5 else 0
            path = f"M {c:.2f} {c:.2f} L {x0:.2f} {y0:.2f} A {r} {r} 0 {large} 1 {x1:.2f} {y1:.2f} Z"
        mid = (angle + end) / 2
        # A lone slice is the whole disc: its figure goes in the middle.
        spread = 0.0 if share >= 0.9999 else r * 0.62
        tx, ty = c + spread * math.cos(mid), c + spread * math.sin(mid)
        slices.append(Slice(label, n, round(share * 100), colour, path, round(tx, 2), round(ty, 2)))
        angle = end
    return Pie(slices, total, size, r)


class Point(NamedTuple):
    label: str
    value: float
    text: str
    x: float
    y: float


class Tick(NamedTuple):
    y: float
    text: str


class Line(NamedTuple):
    points: list[Point]
    ticks: list[Tick]
    polyline: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int


def _nice_step(span: float) -> float:
    raw = span / 4 or 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def line(items: list[tuple[str, float, str]], *, width: int = 520, height: int = 260, decimal: str = ".") -> Line:
    """Points for (label, value, value as text) in the given order along the x axis, the y axis from 0 to at
    least 1 (a scale of millionths of an hour would only be noise)."""
    left, right, top, bottom = 56, 20, 24, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _, v, _ in items), default=0.0)
    step = _nice_step(max(peak, 1.0))
    y_max = step * max(math.ceil(peak / step), 4)
    ticks = []
    k = 0
    while k * step <= y_max + 1e-9:
        value = k * step
        ticks.append(Tick(round(top + plot_h - value / y_max * plot_h, 2), f"{value:g}".replace(".", decimal)))
        k += 1
    n = len(items)
    points = []
    for i, (label, value, text) in enumerate(items):
        x = left + (plot_w * (i + 0.5) / n if n else 0)
        y = top + plot_h - value / y_max * plot_h
        points.append(Point(label, value, text, round(x, 2), round(y, 2)))
    polyline = " ".join(f"{p.x},{p.y}" for p in points)
    return Line(points, ticks, polyline, width, height, left, right, top, bottom)
