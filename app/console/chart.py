"""The tenant page's chart, drawn on the server as SVG: runs per hour over the last 24 hours
(failed runs in red on top), and items written per hour as a line on its own scale.

No script, no library: a few rectangles and a polyline a browser draws as it is. Only numbers
and escaped labels go into the markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from zoneinfo import ZoneInfo

from app.console.queries import Hour

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 36, 44, 14, 26


def _top(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 5, 10, 20, 50 …)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= max(1, value):
                return step * factor
        step *= 10


def hourly_svg(hours: Sequence[Hour], zone: ZoneInfo, labels: dict[str, str]) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    runs_top = _top(max((h.runs for h in hours), default=0))
    items_top = _top(max((h.items for h in hours), default=0))
    slot = plot_w / max(1, len(hours))
    bar = slot * 0.7
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-label="{escape(labels["title"])}">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'class="axis"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" class="tick" text-anchor="end">{runs_top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" class="tick" text-anchor="end">0</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + 4}" class="tick items">{items_top}</text>',
    ]
    points = []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot + (slot - bar) / 2
        ok_h = plot_h * (hour.runs - hour.failed) / runs_top
        bad_h = plot_h * hour.failed / runs_top
        base = TOP + plot_h
        if hour.runs:
            parts.append(f'<rect x="{x:.1f}" y="{base - ok_h:.1f}" width="{bar:.1f}" '
                         f'height="{ok_h:.1f}" class="runs"><title>{hour.runs}</title></rect>')
        if hour.failed:
            parts.append(f'<rect x="{x:.1f}" y="{base - ok_h - bad_h:.1f}" width="{bar:.1f}" '
                         f'height="{bad_h:.1f}" class="failed"><title>{hour.failed}</title>'
                         '</rect>')
        cx = LEFT + index * slot + slot / 2
        points.append(f"{cx:.1f},{base - plot_h * hour.items / items_top:.1f}")
        local = hour.start.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
        if index % 3 == 0:
            parts.append(f'<text x="{cx:.1f}" y="{HEIGHT - 8}" class="tick" '
                         f'text-anchor="middle">{local:%H}:00</text>')
    parts.append(f'<polyline points="{" ".join(points)}" class="items"/>')
    parts.append("</svg>")
    return "".join(parts)
