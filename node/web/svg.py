"""Pictures drawn on the server as inline SVG: no script, no request elsewhere.

Every text that goes into a picture is escaped here (names come from the log, so from
any member). Colours are presentation attributes, not ``style`` attributes, which the
page's Content-Security-Policy would block; the rest of the look is in style.css.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
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
#: the pictures' font sizes in their own units, as style.css sets them (``svg text.name``,
#: ``svg text.age``, ``svg text.tick``)
NAME_SIZE, AGE_SIZE, TICK_SIZE = 13.0, 12.0, 11.0


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


def weekly_chart(
    series: list[Series],
    labels: list[str],
    title: str,
    number: Callable[[int], str] = str,
) -> Markup:
    """Stacked bars: one per week, one colour per collective. ``labels`` names each
    week (a short date); every fourth is written under the axis. The scale's ticks
    are round numbers (:func:`scale`) written by ``number`` (the page's language:
    12,500 / 12.500)."""
    width, height = 760, 260
    weeks = len(labels)
    totals = [sum(s.counts[w] for s in series) for w in range(weeks)]
    step, scale_max = scale(max([*totals, 1]))
    steps = scale_max // step
    ticks = [number(n * step) for n in range(steps + 1)]
    # room on the left for the widest tick (1,25,000 in Hindi)
    left = max(44.0, max(text_width(t, TICK_SIZE) for t in ticks) + 10)
    right, top, bottom = 12, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(weeks, 1)
    bar = max(2.0, slot * 0.7)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for n in range(steps + 1):
        y = top + plot_h - plot_h * n / steps
        parts.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(_text(left - 6, y + 4, ticks[n], "tick", "end"))
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
        f'<line x1="{left:.1f}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'class="axis"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


#: the steps of a scale, times a power of ten: round numbers a reader adds up at a glance
STEPS = (1, 2, 2.5, 5)
#: at most this many steps up the scale (and as few as the data needs)
MAX_STEPS = 5


def scale(peak: int) -> tuple[int, int]:
    """The step and the top of a scale of counts that holds ``peak``: a step of 1, 2,
    2.5 or 5 times a power of ten (never a fraction: 2.5 from 25 up), and at most
    :data:`MAX_STEPS` of them to the top, the first step that many reach."""
    peak = max(peak, 1)
    magnitude = 1
    while True:
        for factor in STEPS:
            step = factor * magnitude
            if step != int(step):
                continue  # 2.5: counts are whole
            if step * MAX_STEPS >= peak:
                step = int(step)
                return step, step * math.ceil(peak / step)
        magnitude *= 10


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


#: the radius of this node's dot, a direct link's and a member's reached through others
ME_R, LINK_R, OTHER_R = 16.0, 11.0, 8.0
#: the graph's smallest size (its viewBox grows beyond to hold long names or many nodes)
GRAPH_W, GRAPH_H = 760.0, 400.0
#: the rings, as the ellipse's half height (its half width is ASPECT times as much)
ASPECT = 1.7
FIRST_RING, OUTER = 105.0, 1.5
#: room kept between two things of the graph, and around it
GAP, MARGIN = 4.0, 8.0


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """How wide ``text`` can be at font size ``size``, at most: an estimate that errs on
    the wide side for the fonts a browser picks for any script (the server cannot
    measure, and a label must never reach past the picture's edge)."""
    em = 0.0
    for char in text:
        if unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue  # marks over or under a letter, and joiners: no width of their own
        if unicodedata.east_asian_width(char) in ("W", "F"):
            em += 1.05
        elif char in "mwMW@%…—":
            em += 1.0
        elif char.isspace():
            em += 0.35
        elif char.isupper() or "\u0900" <= char <= "\u0dff":  # capitals, Indic scripts
            em += 0.82
        else:
            em += 0.66
    return em * size * (1.1 if bold else 1.0)


@dataclass(frozen=True, slots=True)
class _Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def meets(self, other: _Box) -> bool:
        return (
            self.x0 < other.x1 + GAP
            and other.x0 < self.x1 + GAP
            and self.y0 < other.y1 + GAP
            and other.y0 < self.y1 + GAP
        )


def _dot_box(x: float, y: float, r: float) -> _Box:
    return _Box(x - r, y - r, x + r, y + r)


@dataclass(frozen=True, slots=True)
class _Text:
    """A label of the graph, set at baseline ``y``."""

    x: float
    y: float
    text: str
    cls: str
    anchor: str = "middle"
    size: float = NAME_SIZE

    def box(self) -> _Box:
        """Where the text can reach (the ascent and descent of the tallest scripts:
        Devanagari's marks above its headline, descenders)."""
        w = text_width(self.text, self.size, bold="strong" in self.cls)
        x0 = self.x - (w if self.anchor == "end" else w / 2 if self.anchor == "middle" else 0)
        return _Box(x0, self.y - 1.15 * self.size, x0 + w, self.y + 0.4 * self.size)


def _label_at(x: float, y: float, angle: float, r: float) -> tuple[float, float, str]:
    """Where a node's label goes: beyond the node, away from the middle; beside it on
    the sides, above or below it at the top and the bottom."""
    dx, dy = math.cos(angle), math.sin(angle)
    if dx > 0.35:
        return x + r + 6, y + NAME_SIZE * 0.35, "start"
    if dx < -0.35:
        return x - r - 6, y + NAME_SIZE * 0.35, "end"
    if dy < 0:
        return x, y - r - 6 - 0.4 * NAME_SIZE, "middle"
    return x, y + r + 6 + 1.15 * NAME_SIZE, "middle"


def _places(links: int, others: int) -> list[int]:
    """The slots (of ``links + others`` round the middle) of the direct links, spread
    evenly; the members reached through others take the slots between."""
    total = links + others
    return sorted({round(i * total / links) % total for i in range(links)}) if links else []


def _from_middle(px: float, py: float, bx: float, by: float) -> float:
    """How far the point p is from the line drawn from the middle (0, 0) to b."""
    length = bx * bx + by * by
    t = 0.0 if not length else max(0.0, min(1.0, (px * bx + py * by) / length))
    return math.hypot(px - t * bx, py - t * by)


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    link: Link | None
    angle: float


@dataclass(frozen=True, slots=True)
class _Dot:
    x: float
    y: float
    r: float
    #: None: this node, in the middle
    node: _Node | None


@dataclass(slots=True)
class _Layout:
    """Every dot, label and line of the graph, at one size of its rings; the lines go
    from the middle to a direct link's dot."""

    dots: list[_Dot]
    texts: list[_Text]

    def boxes(self) -> list[_Box]:
        return [_dot_box(d.x, d.y, d.r) for d in self.dots] + [t.box() for t in self.texts]

    def clear(self) -> bool:
        """No two things overlap, and no line passes over a dot it does not join."""
        boxes = self.boxes()
        for i, a in enumerate(boxes):
            if any(a.meets(b) for b in boxes[i + 1 :]):
                return False
        ends = [d for d in self.dots if d.node is not None and d.node.link is not None]
        return not any(
            _from_middle(d.x, d.y, end.x, end.y) < d.r + GAP
            for end in ends
            for d in self.dots
            if d.node is not None and d is not end
        )


def _layout(centre: str, nodes: list[_Node], ring: float) -> _Layout:
    """The graph with its direct links on the ellipse of half height ``ring`` and the
    others on one further out, around this node at (0, 0)."""
    layout = _Layout(
        [_Dot(0.0, 0.0, ME_R, None)],
        [_Text(0.0, ME_R + 6 + 1.15 * NAME_SIZE, centre, "name strong")],
    )
    for node in nodes:
        r = ring if node.link is not None else ring * OUTER
        x, y = ASPECT * r * math.cos(node.angle), r * math.sin(node.angle)
        dot = LINK_R if node.link is not None else OTHER_R
        layout.dots.append(_Dot(x, y, dot, node))
        lx, ly, anchor = _label_at(x, y, node.angle, dot)
        cls = "name" if node.link is not None else "name muted"
        layout.texts.append(_Text(lx, ly, node.name, cls, anchor))
        if node.link is not None:
            at_y = 0.55 * y + AGE_SIZE * 0.35
            layout.texts.append(_Text(0.55 * x, at_y, node.link.label, "age", size=AGE_SIZE))
    return layout


def peer_graph(centre: str, links: list[Link], others: list[str], title: str) -> Markup:
    """This node in the middle, its direct links around it coloured and labelled by
    the age of their last good sync; members reached only through others further out,
    in grey, without a line. Each node has a direction of its own (no two on one
    line from the middle); the rings grow until no label, dot or line overlaps
    another, and the picture grows to hold every label whole."""
    total = len(links) + len(others)
    placed = set(_places(len(links), len(others)))
    pending_links, pending_others = iter(links), iter(others)
    nodes = []
    for slot in range(total):
        angle = -math.pi / 2 + 2 * math.pi * slot / max(total, 1)
        if slot in placed:
            link = next(pending_links)
            nodes.append(_Node(link.name, link, angle))
        else:
            nodes.append(_Node(next(pending_others), None, angle))
    ring = FIRST_RING
    layout = _layout(centre, nodes, ring)
    for _ in range(60):
        if layout.clear():
            break
        ring *= 1.1
        layout = _layout(centre, nodes, ring)
    boxes = layout.boxes()
    x0 = min(b.x0 for b in boxes) - MARGIN
    x1 = max(b.x1 for b in boxes) + MARGIN
    y0 = min(b.y0 for b in boxes) - MARGIN
    y1 = max(b.y1 for b in boxes) + MARGIN
    # at least the usual size, this node in the middle of it
    half_w = max(GRAPH_W / 2, -x0, x1)
    half_h = max(GRAPH_H / 2, -y0, y1)
    parts = [
        f'<svg class="graph" viewBox="{-half_w:.1f} {-half_h:.1f} {2 * half_w:.1f} '
        f'{2 * half_h:.1f}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for d in layout.dots:
        joined = d.node.link if d.node is not None else None
        if joined is not None:
            old = joined.age is None or joined.age >= DAY
            dash = ' stroke-dasharray="6 4"' if old else ""
            parts.append(
                f'<line x1="0" y1="0" x2="{d.x:.1f}" y2="{d.y:.1f}" '
                f'stroke="{age_colour(joined.age)}" class="link"{dash}/>'
            )
    for d in layout.dots:
        if d.node is None:
            parts.append(f'<circle cx="0" cy="0" r="{d.r:g}" class="me"/>')
        elif d.node.link is not None:
            parts.append(
                f'<circle cx="{d.x:.1f}" cy="{d.y:.1f}" r="{d.r:g}" '
                f'fill="{age_colour(d.node.link.age)}" class="peer"/>'
            )
        else:
            parts.append(f'<circle cx="{d.x:.1f}" cy="{d.y:.1f}" r="{d.r:g}" class="other"/>')
    parts.extend(_halo(t.x, t.y, t.text, t.cls, t.anchor) for t in layout.texts)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
