"""Hand-drawn inline SVG charts for report.html: line charts (linear or log x) and bar charts, each
with labelled axes and ticks.

Why not matplotlib: it is not a dependency (a ~40 MB install with its own native libraries for a
page that needs lines and bars), its SVG output is ~10x larger per chart than these, and a chart
drawn here is plain text that a test can read. The page stays one file that opens offline.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

COLOURS = ["#1E93FF", "#F93C31", "#4FCC30", "#E53AA3", "#FF851B", "#87D8F1", "#921231", "#999999"]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 240, 58, 150, 14, 42


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    first = math.ceil(lo / step - 1e-9) * step
    out, t = [], first
    while t <= hi + 1e-9 * step:
        out.append(round(t, 12))
        t += step
    return out


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e9:
        return f"{int(v):,}"
    return f"{v:.3g}" if abs(v) < 1e5 else f"{v:.2e}"


def line_chart(series: dict[str, Sequence[tuple[float, float]]], xlabel: str, ylabel: str, *,
               log_x: bool = False, y_from_zero: bool = True, title: str = "", markers: bool = False) -> str:
    """Each series a polyline (legend on the right); x log10-scaled with log_x; non-finite points skipped."""
    good = {k: [(x, y) for x, y in v if math.isfinite(x) and math.isfinite(y) and (x > 0 or not log_x)]
            for k, v in series.items()}
    good = {k: v for k, v in good.items() if v}
    if not good:
        return f'<p class="none">{html.escape(title or ylabel)}: no data</p>'
    fx = (lambda x: math.log10(x)) if log_x else (lambda x: x)
    xs = [fx(x) for v in good.values() for x, _ in v]
    ys = [y for v in good.values() for _, y in v]
    x0, x1 = min(xs), max(xs)
    y0, y1 = (min(0.0, min(ys)) if y_from_zero else min(ys)), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + (abs(y0) or 1))
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(x: float) -> float:
        return PAD_L + (fx(x) - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return PAD_T + ph - (y - y0) / (y1 - y0) * ph

    parts = _frame(title, xlabel, ylabel)
    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    data_x = sorted({x for v in good.values() for x, _ in v})
    if log_x:  # the data's own x values when few (K = 1, 2, 5, 10 ...), else powers of ten
        xticks = data_x if len(data_x) <= 12 else [10 ** e for e in range(math.floor(x0), math.ceil(x1) + 1)]
    else:
        xticks = _ticks(x0, x1)
    for t in xticks:
        if fx(t) < x0 - 1e-9 or fx(t) > x1 + 1e-9:
            continue
        parts.append(f'<text x="{px(t):.1f}" y="{PAD_T + ph + 14}" text-anchor="middle">{_fmt(t)}</text>')
    for i, (name, pts) in enumerate(good.items()):
        c = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{coords}"/>')
        if markers or len(pts) == 1:
            parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{c}"/>' for x, y in pts]
        parts.append(f'<text x="{PAD_L + pw + 8}" y="{PAD_T + 12 + 14 * i}" fill="{c}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[tuple[str, float]], xlabel: str, ylabel: str, *, title: str = "") -> str:
    """Vertical bars with their value on top; category labels under each bar."""
    if not bars:
        return f'<p class="none">{html.escape(title or ylabel)}: no data</p>'
    top = max(v for _, v in bars) or 1.0
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    bw = pw / len(bars)
    parts = _frame(title, xlabel, ylabel)
    for t in _ticks(0.0, top):
        y = PAD_T + ph - t / top * ph
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    label_every = max(1, math.ceil(len(bars) / 16))
    for i, (label, v) in enumerate(bars):
        x, h = PAD_L + i * bw, v / top * ph
        parts.append(f'<rect x="{x + bw * 0.1:.1f}" y="{PAD_T + ph - h:.1f}" width="{bw * 0.8:.1f}" height="{h:.1f}" '
                     f'fill="{COLOURS[0]}"><title>{html.escape(label)}: {_fmt(v)}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{PAD_T + ph + 14}" text-anchor="middle">{html.escape(label)}</text>')
        if len(bars) <= 10:  # more: the value is in each bar's tooltip
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{PAD_T + ph - h - 3:.1f}" text-anchor="middle">{_fmt(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _frame(title: str, xlabel: str, ylabel: str) -> list[str]:
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    return [f'<svg width="{W}" height="{H}" class="chart" role="img" aria-label="{html.escape(title or ylabel)}">',
            f'<rect x="{PAD_L}" y="{PAD_T}" width="{pw}" height="{ph}" class="frame"/>',
            f'<text x="{PAD_L + pw / 2}" y="{H - 6}" text-anchor="middle" class="axis">{html.escape(xlabel)}</text>',
            f'<text transform="translate(12,{PAD_T + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">'
            f'{html.escape(ylabel)}</text>']
