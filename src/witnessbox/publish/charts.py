"""Incidents per month, stacked by category: static SVG drawn at build time, plus the same numbers as a table.

No JavaScript and no remote library: the SVG is text written here, inline in the page (only
presentation attributes, no ``style``, so the site's Content-Security-Policy holds). Each
incident counts once, in the month it started (as recorded) and under its first category, so
a bar's height is the number of incidents of that month and the table's total column equals
the incident count. Colours are Paul Tol's "muted" scheme, designed to stay distinct for the
common colour-vision deficiencies, assigned by the category's position in the taxonomy (the
same category has the same colour on every page); categories past the ninth share a grey.
Every bar segment carries ``data-month``, ``data-category`` and ``data-count`` so tests compare
the drawing with the table and the catalog.
"""

from __future__ import annotations

import functools
import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from babel.core import Locale
from babel.dates import format_date

from ..catalog import Incident

PALETTE = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499")
OTHER_COLOUR = "#BBBBBB"


@dataclass(frozen=True, slots=True)
class Series:
    """One category of the stack."""

    slug: str
    label: str
    colour: str


@dataclass(frozen=True, slots=True)
class MonthRow:
    """One month: its key (``YYYY-MM``), its name in the page's language and the counts per series."""

    key: str
    label: str
    counts: tuple[int, ...]
    total: int


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart and its table (``svg`` is markup built here with every text escaped)."""

    id: str
    title: str
    series: tuple[Series, ...]
    counts: tuple[tuple[str, str, int], ...]  # (month, category, n), sorted, n > 0: all the chart says
    lang: str

    @property
    def rows(self) -> tuple[MonthRow, ...]:
        """One row per month from the first to the last (empty months too), names in the page language.

        Built on use, like :attr:`svg`: deciding whether a page changed needs only ``counts``.
        """
        get = {(m, c): n for m, c, n in self.counts}.get
        slugs = [s.slug for s in self.series]
        rows = []
        for m in _months(self.counts[0][0], self.counts[-1][0]):
            row = tuple([get((m, slug), 0) for slug in slugs])
            rows.append(MonthRow(m, month_name(m, self.lang), row, sum(row)))
        return tuple(rows)

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.counts)

    @property
    def svg(self) -> str:
        """The drawing (built on use: a page whose chart did not change is not re-rendered)."""
        return _svg(self.id, self.title, self.series, self.rows)

    def fingerprint(self) -> tuple[object, ...]:
        """Everything the chart and its table show (month names follow from ``lang``)."""
        return (self.id, self.title, tuple((s.slug, s.label, s.colour) for s in self.series), self.counts, self.lang)


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@functools.lru_cache(maxsize=4096)
def month_name(month: str, lang: str) -> str:
    """``YYYY-MM`` as the month's name and year in ``lang`` (standalone form: "жнівень 2020")."""
    return format_date(date(int(month[:4]), int(month[5:]), 1), "LLLL y", locale=Locale.parse(lang))


def colour_of(position: int) -> str:
    """Colour of the category at ``position`` in the taxonomy."""
    return PALETTE[position] if 0 <= position < len(PALETTE) else OTHER_COLOUR


def monthly_chart(
    incidents: Sequence[Incident], categories: Sequence[tuple[str, str]], *, lang: str, chart_id: str, title: str,
) -> Chart | None:
    """Build the chart of ``incidents`` (None when there are none).

    Args:
        incidents: The incidents to count.
        categories: (slug, translated label) of the whole taxonomy, in order (fixes the colours).
        lang: Page language (month names).
        chart_id: Unique id in the page (``[a-z0-9-]``).
        title: Accessible title of the chart.
    """
    if not incidents:
        return None
    position = {slug: i for i, (slug, _) in enumerate(categories)}
    labels = dict(categories)
    counts: Counter[tuple[str, str]] = Counter()
    for inc in incidents:
        start = inc.time.start
        counts[(f"{start.year:04d}-{start.month:02d}", inc.categories[0] if inc.categories else "other")] += 1
    used = sorted({c for _, c in counts}, key=lambda c: (position.get(c, len(position)), c))
    series = tuple(Series(c, labels.get(c, c), colour_of(position.get(c, len(PALETTE)))) for c in used)
    return Chart(chart_id, title, series, tuple(sorted((m, c, n) for (m, c), n in counts.items())), lang)


def _nice_max(n: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if n <= step * 4:
            return ((n + step - 1) // step) * step if n else step
    return n


def _svg(chart_id: str, title: str, series: Sequence[Series], rows: Sequence[MonthRow]) -> str:
    e = html.escape
    n = len(rows)
    bar = max(4, min(28, 720 // max(n, 1)))
    gap = max(1, bar // 5)
    left, top, plot_h = 44, 12, 200
    cols = 1 if len(series) == 1 else 2
    # Wide enough for the legend too (labels are user text of any length: 260 px per column).
    width = max(left + n * (bar + gap) + 12, left + cols * 260)
    legend_rows = (len(series) + cols - 1) // cols
    height = top + plot_h + 40 + legend_rows * 20
    peak = _nice_max(max(r.total for r in rows))
    scale = plot_h / peak
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" id="{chart_id}-svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-title" '
        f'aria-describedby="{chart_id}-table" font-family="sans-serif" font-size="11">',
        f'<title id="{chart_id}-title">{e(title)}</title>',
    ]
    for frac in (0, 0.5, 1):
        gy = top + plot_h - round(peak * frac * scale)
        out.append(f'<line x1="{left}" x2="{width - 8}" y1="{gy}" y2="{gy}" stroke="#999999" stroke-width="0.5"/>')
        out.append(f'<text x="{left - 4}" y="{gy + 4}" text-anchor="end" fill="#333333">{int(peak * frac)}</text>')
    for i, r in enumerate(rows):
        x = left + i * (bar + gap)
        y = float(top + plot_h)
        for s, c in zip(series, r.counts, strict=True):
            if not c:
                continue
            h = c * scale
            y -= h
            out.append(
                f'<rect x="{x}" y="{y:.2f}" width="{bar}" height="{h:.2f}" fill="{s.colour}" data-month="{r.key}" '
                f'data-category="{e(s.slug)}" data-count="{c}"><title>{e(r.label)} · {e(s.label)}: {c}</title></rect>'
            )
        if r.key.endswith("-01") or i == 0:
            out.append(f'<text x="{x}" y="{top + plot_h + 14}" fill="#333333">{e(r.key[:4])}</text>')
    ly = top + plot_h + 30
    for i, s in enumerate(series):
        lx = left + (i % cols) * 260
        yy = ly + (i // cols) * 20
        out.append(f'<rect x="{lx}" y="{yy - 9}" width="12" height="12" fill="{s.colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{yy + 1}" fill="#222222">{e(s.label)}</text>')
    out.append("</svg>")
    return "".join(out)
