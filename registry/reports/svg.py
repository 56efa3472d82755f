"""Small inline SVG charts (no JavaScript, no external files): the same markup on a page and in a
PDF, drawn from plain numbers. Text is escaped; nothing from the outside reaches the markup raw."""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup


def line_chart(points: list[tuple[date, int]], limit: int | None, *, title: str, forecast: date | None = None,
               width: int = 560, height: int = 200) -> Markup:
    """Cumulative use against a quota line (and a forecast marker), for a burn-down."""
    pad = 36
    if not points:
        return Markup(f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}"></svg>')
    first, last = points[0][0], (forecast if forecast and forecast > points[-1][0] else points[-1][0])
    span = max((last - first).days, 1)
    top = max([n for _, n in points] + [limit or 0, 1])

    def x(day: date) -> float:
        return pad + (width - 2 * pad) * (day - first).days / span

    def y(n: int) -> float:
        return height - pad - (height - 2 * pad) * n / top

    path = " ".join(f"{x(d):.1f},{y(n):.1f}" for d, n in points)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
             f"<title>{escape(title)}</title>",
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#505a5f"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#505a5f"/>',
             f'<polyline fill="none" stroke="#1d70b8" stroke-width="2" points="{path}"/>']
    if limit is not None:
        parts.append(f'<line x1="{pad}" y1="{y(limit):.1f}" x2="{width - pad}" y2="{y(limit):.1f}" '
                     f'stroke="#d4351c" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{width - pad}" y="{y(limit) - 4:.1f}" text-anchor="end" font-size="11">{limit}</text>')
    if forecast is not None and limit is not None:
        parts.append(f'<line x1="{x(points[-1][0]):.1f}" y1="{y(points[-1][1]):.1f}" x2="{x(forecast):.1f}" '
                     f'y2="{y(limit):.1f}" stroke="#1d70b8" stroke-dasharray="2 3"/>')
    parts.append(f'<text x="{pad}" y="{height - pad + 14}" font-size="11">{first.isoformat()}</text>')
    parts.append(f'<text x="{width - pad}" y="{height - pad + 14}" font-size="11" text-anchor="end">'
                 f"{last.isoformat()}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(bars: list[tuple[str, int]], *, title: str, width: int = 560, height: int = 180) -> Markup:
    """One bar per label (a month's completed studies, say)."""
    pad = 30
    top = max([n for _, n in bars] + [1])
    step = (width - 2 * pad) / max(len(bars), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
             f"<title>{escape(title)}</title>"]
    for i, (label, n) in enumerate(bars):
        h = (height - 2 * pad) * n / top
        bx = pad + i * step + step * 0.15
        parts.append(f'<rect x="{bx:.1f}" y="{height - pad - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="#1d70b8"><title>{escape(label)}: {n}</title></rect>')
        parts.append(f'<text x="{bx + step * 0.35:.1f}" y="{height - pad + 12}" font-size="10" '
                     f'text-anchor="middle">{escape(label)}</text>')
        parts.append(f'<text x="{bx + step * 0.35:.1f}" y="{height - pad - h - 3:.1f}" font-size="10" '
                     f'text-anchor="middle">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_chart(rows: list[tuple[str, float | None, float | None, float | None, float | None, bool]], *,
                   title: str, width: int = 640) -> Markup:
    """A forest plot of rates: per row (label, rate, interval low, interval high, the others'
    pooled rate, flagged) a dot at the rate on a line across its interval, and a dashed tick at
    the rate it is compared with. Flagged rows are drawn red; the caller puts the word in the label
    too, since colour alone tells nothing to someone who cannot see it."""
    # Labels right-aligned beside their rows: room for the longest (about 6.5 px a character at 11 px).
    label_w = min(320, 16 + int(6.5 * max([len(r[0]) for r in rows] + [10])))
    pad, row_h = 24, 22
    height = pad + row_h * max(len(rows), 1) + 30
    values = [v for r in rows for v in (r[3], r[4]) if v is not None]
    top = min(1.0, max(values + [0.05]) * 1.15)
    plot = width - label_w - pad

    def x(v: float) -> float:
        return label_w + plot * v / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
             f"<title>{escape(title)}</title>"]
    for i, (label, rate, low, high, reference, flagged) in enumerate(rows):
        y = pad + row_h * i + row_h / 2
        colour = "#d4351c" if flagged else "#1d70b8"
        weight = "700" if flagged else "400"
        parts.append(f'<text x="{label_w - 8}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                     f'font-weight="{weight}">{escape(label)}</text>')
        if low is not None and high is not None:
            parts.append(f'<line x1="{x(low):.1f}" y1="{y:.1f}" x2="{x(high):.1f}" y2="{y:.1f}" '
                         f'stroke="{colour}" stroke-width="2"/>')
        if rate is not None:
            parts.append(f'<circle cx="{x(rate):.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
        if reference is not None:
            parts.append(f'<line x1="{x(reference):.1f}" y1="{y - 8:.1f}" x2="{x(reference):.1f}" '
                         f'y2="{y + 8:.1f}" stroke="#505a5f" stroke-dasharray="3 2"/>')
    axis_y = pad + row_h * max(len(rows), 1) + 6
    parts.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot}" y2="{axis_y}" stroke="#505a5f"/>')
    for tick in (0, top / 2, top):
        parts.append(f'<text x="{x(tick):.1f}" y="{axis_y + 14}" font-size="10" text-anchor="middle">'
                     f"{tick * 100:.0f} %</text>")
    parts.append("</svg>")
    return Markup("".join(parts))
