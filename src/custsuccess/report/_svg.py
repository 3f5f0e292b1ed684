"""Small inline SVG charts for the report: each one an ``<svg role="img">`` with a title
and a description, its values written on it, so it reads without colour and with a
screen reader (the report also gives every chart's numbers in a table)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["bars", "stacked_columns", "step_curve"]


def _open(width: int, height: int, title: str, desc: str, ident: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )


def bars(
    labels: Sequence[str], values: Sequence[float], *, title: str, ident: str,
    colors: Sequence[str] | None = None, fmt: str = "{:,.0f}", width: int = 520,
) -> str:
    """Horizontal bars, one per label, each with its value written at its end."""
    row, left, right = 26, 150, 70
    height = row * len(labels) + 10
    finite = [v for v in values if math.isfinite(v)]
    top = max([*finite, 0.0]) or 1.0
    scale = (width - left - right) / top
    desc = "; ".join(f"{label}: {fmt.format(v) if math.isfinite(v) else 'n/a'}"
                     for label, v in zip(labels, values, strict=True))
    out = [_open(width, height, title, desc, ident)]
    for k, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = 5 + k * row
        w = max(v, 0.0) * scale if math.isfinite(v) else 0.0
        color = colors[k] if colors else "var(--accent)"
        text = fmt.format(v) if math.isfinite(v) else "n/a"
        out.append(
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}"/>'
            f'<text x="{left + w + 4:.1f}" y="{y + 16}">{escape(text)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def stacked_columns(
    periods: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], *, title: str,
    ident: str, width: int = 560, height: int = 240,
) -> str:
    """One column per period, stacked by series (name, values, colour), with a legend."""
    left, bottom, top_pad = 40, 40, 28
    totals = [sum(s[1][i] for s in series) for i in range(len(periods))]
    top = max([*totals, 0.0]) or 1.0
    plot_h = height - bottom - top_pad
    step = (width - left - 10) / max(len(periods), 1)
    desc = "; ".join(
        f"{p}: " + ", ".join(f"{name} {values[i]:,.0f}" for name, values, _ in series)
        for i, p in enumerate(periods)
    )
    out = [_open(width, height, title, desc, ident)]
    x_legend = left
    for name, _, color in series:
        out.append(f'<rect x="{x_legend}" y="4" width="12" height="12" fill="{color}"/>'
                   f'<text x="{x_legend + 16}" y="15">{escape(name)}</text>')
        x_legend += 16 + 8 * len(name) + 18
    out.append(f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - 5}" '
               f'y2="{height - bottom}"/>')
    for i, p in enumerate(periods):
        x = left + i * step + step * 0.15
        y = float(height - bottom)
        for _, values, color in series:
            h = values[i] / top * plot_h
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                       f'height="{h:.1f}" fill="{color}"/>')
        out.append(f'<text x="{x + step * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle">'
                   f'{totals[i]:,.0f}</text>')
        out.append(f'<text x="{x + step * 0.35:.1f}" y="{height - bottom + 16}" '
                   f'text-anchor="middle">{escape(p)}</text>')
    out.append("</svg>")
    return "".join(out)


def step_curve(
    times: Sequence[float], values: Sequence[float], *, title: str, ident: str,
    x_label: str, y_label: str, width: int = 520, height: int = 240,
) -> str:
    """A right-continuous step curve (a survival function) from 1 at time 0, with axes."""
    left, bottom, top_pad, right = 48, 40, 12, 12
    end = max([*times, 1.0])
    plot_w, plot_h = width - left - right, height - bottom - top_pad

    def xy(t: float, v: float) -> tuple[float, float]:
        return left + t / end * plot_w, top_pad + (1 - v) * plot_h

    points = [xy(0.0, 1.0)]
    level = 1.0
    for t, v in zip(times, values, strict=True):
        points.append(xy(t, level))
        level = v
        points.append(xy(t, level))
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    last = f"{values[-1]:.0%}" if values else "n/a"
    desc = f"{y_label} from 100% at 0 to {last} at {end:,.0f} {x_label}"
    out = [_open(width, height, title, desc, ident)]
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(0.0, q)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" '
                   f'y2="{y:.1f}"/><text x="{left - 4}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{q:.0%}</text>')
    for k in range(5):
        t = end * k / 4
        x, _ = xy(t, 0.0)
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                   f'{t:,.0f}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<polyline points="{path}" fill="none" stroke="var(--accent)" '
               'stroke-width="2"/>')
    out.append("</svg>")
    return "".join(out)
