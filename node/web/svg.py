"""Pictures drawn on the server as inline SVG: no script, no request elsewhere.

Every text that goes into a picture is escaped here (names come from the log, so from
any member). Colours are presentation attributes, not ``style`` attributes, which the
page's Content-Security-Policy would block; the rest of the look is in style.css.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

#: Okabe-Ito: told apart by most colour-blind readers
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#8C6D1F",
    "#000000",
)
FRESH, STALE, OLD = "#1a7f37", "#b58100", "#c62828"
HOUR, DAY = 3600.0, 86400.0


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def age_colour(age: float | None) -> str:
    if age is None or age >= DAY:
        return OLD
    return FRESH if age < HOUR else STALE


def _text(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}" '
        f'unicode-bidi="plaintext">{escape(text)}</text>'
    )


@dataclass(frozen=True, slots=True)
class Series:
    """One collective's events per week, oldest week first."""

    name: str
    colour: str
    counts: tuple[int, ...]


def weekly_chart(series: list[Series], labels: list[str], title: str) -> Markup:
    """Stacked bars: one per week, one colour per collective. ``labels`` names each
    week (a short date); every fourth is written under the axis."""
    width, height = 760, 260
    left, right, top, bottom = 44, 12, 12, 36
    weeks = len(labels)
    totals = [sum(s.counts[w] for s in series) for w in range(weeks)]
    peak = max([*totals, 1])
    scale_max = _nice(peak)
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(weeks, 1)
    bar = max(2.0, slot * 0.7)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):
        value = scale_max * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{value:g}", "tick", "end"))
    for w in range(weeks):
        x = left + slot * w + (slot - bar) / 2
        y = top + plot_h
        for s in series:
            n = s.counts[w]
            if not n:
                continue
            h = plot_h * n / scale_max
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(s.name)}: {n}</title></rect>'
            )
        if w % 4 == 0 or (w == weeks - 1 and w % 4 >= 2):
            parts.append(_text(x + bar / 2, height - bottom + 16, labels[w], "tick"))
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'class="axis"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _nice(value: int) -> float:
    """A round number at least ``value``, for the top of a scale."""
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * magnitude >= value:
            return step * magnitude
    return 10.0 * magnitude


@dataclass(frozen=True, slots=True)
class Link:
    """A peer this node syncs with directly."""

    name: str
    #: seconds since the last good sync over this link, or None if never
    age: float | None
    label: str


def _halo(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    """Text with a white outline, readable over the lines it may cross."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}" '
        f'unicode-bidi="plaintext" stroke="#ffffff" stroke-width="4" '
        f'paint-order="stroke">{escape(text)}</text>'
    )


def _outward(x: float, y: float, angle: float, gap: float) -> tuple[float, float, str]:
    """Where a node's label goes: beyond the node, away from the middle."""
    dx, dy = math.cos(angle), math.sin(angle)
    anchor = "start" if dx > 0.35 else "end" if dx < -0.35 else "middle"
    ly = y + dy * gap + (5 if abs(dy) < 0.5 else 14 if dy > 0 else -4)
    return x + dx * gap, ly, anchor


def peer_graph(centre: str, links: list[Link], others: list[str], title: str) -> Markup:
    """This node in the middle, its direct links around it coloured and labelled by
    the age of their last good sync; members reached only through others further out,
    in grey, without a line."""
    width, height = 760, 400
    cx, cy = width / 2, height / 2
    parts = [
        f'<svg class="graph" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    nodes = []
    labels = []
    for i, link in enumerate(links):
        angle = -math.pi / 2 + 2 * math.pi * i / len(links)
        x, y = cx + 210 * math.cos(angle), cy + 115 * math.sin(angle)
        dash = ' stroke-dasharray="6 4"' if link.age is None or link.age >= DAY else ""
        parts.append(
            f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
            f'stroke="{age_colour(link.age)}" class="link"{dash}/>'
        )
        labels.append(_halo((cx + x) / 2, (cy + y) / 2 + 4, link.label, "age"))
        nodes.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="11" fill="{age_colour(link.age)}" class="peer"/>'
        )
        lx, ly, anchor = _outward(x, y, angle, 18)
        labels.append(_halo(lx, ly, link.name, "name", anchor))
    for i, name in enumerate(others):
        angle = -math.pi / 2 + math.pi / len(others) + 2 * math.pi * i / len(others)
        x, y = cx + 330 * math.cos(angle), cy + 165 * math.sin(angle)
        nodes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" class="other"/>')
        lx, ly, anchor = _outward(x, y, angle, 14)
        labels.append(_halo(lx, ly, name, "name muted", anchor))
    parts.extend(nodes)
    parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="16" class="me"/>')
    parts.extend(labels)
    parts.append(_halo(cx, cy + 36, centre, "name strong"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
