"""Which units the public site shows, their views and their open data.

Fail closed by construction: a unit is published only when an observation of a *published*
incident names it (the incidents handed here are those that passed the gate), plus the units
above it in the chain of command (public institutions, shown so the chain reads whole). A
unit observed only in drafts or verified incidents, and every sub-unit that is not itself
published, appear nowhere on the site: not in pages, counts, open data or the search index.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog import Incident, Unit, ancestors_of
from .site import CountView, Renderer, UnitRef, UnitView, _csv_safe, _source_view, region_path, unit_path
from .text import KIND_LABELS, render_markdown


@dataclass(frozen=True, slots=True)
class PublishedUnits:
    """The units of the site and, per unit, the ids of its published incidents (time order)."""

    units: Mapping[str, Unit]
    incidents: Mapping[str, tuple[str, ...]]


def select_units(incidents: Sequence[Incident], vocabulary: Sequence[Unit]) -> PublishedUnits:
    """Units named by observations of ``incidents`` (already gated), with their chains of command."""
    by_slug = {u.slug: u for u in vocabulary}
    parents = {u.slug: u.parent for u in vocabulary}
    seen: dict[str, list[str]] = defaultdict(list)
    for inc in incidents:
        for slug in dict.fromkeys(o.unit_slug for o in inc.observations if o.unit_slug):
            if slug in by_slug:
                seen[slug].append(inc.id)
    keep = set(seen)
    for slug in list(seen):
        keep.update(a for a in ancestors_of(slug, parents) if a in by_slug)
    return PublishedUnits({s: by_slug[s] for s in sorted(keep)}, {s: tuple(seen.get(s, ())) for s in sorted(keep)})


def kind_label(r: Renderer, slug: str, labels: Mapping[str, str]) -> str:
    """Translated label of a default kind, or the custom label as written."""
    return r.gettext(KIND_LABELS[slug]) if slug in KIND_LABELS else labels.get(slug, slug)


def unit_views(
    r: Renderer, pub: PublishedUnits, incidents: Mapping[str, Incident], region_slugs: Mapping[str, str],
    kind_labels: Mapping[str, str],
) -> dict[str, UnitView]:
    """The view of every published unit in the renderer's language."""
    lang = r.options.lang
    units = pub.units
    children: dict[str, list[str]] = defaultdict(list)
    for u in units.values():
        if u.parent in units:
            children[u.parent].append(u.slug)
    parents = {u.slug: u.parent for u in units.values()}

    def ref(slug: str) -> UnitRef:
        return UnitRef(slug, units[slug].name(lang), unit_path(slug))

    cat_label = {c.slug: c.label for c in r.cat_views(sorted({c for i in incidents.values() for c in i.categories}))}
    out: dict[str, UnitView] = {}
    for slug, u in units.items():
        ids = pub.incidents.get(slug, ())
        regions = Counter(incidents[i].region for i in ids)
        region_slug_of = {incidents[i].region: region_slugs[i] for i in ids}
        cats = Counter(c for i in ids for c in incidents[i].categories)
        name = u.name(lang)
        chain = tuple(ref(a) for a in reversed(ancestors_of(slug, parents)) if a in units)
        subs = tuple(sorted((ref(c) for c in children.get(slug, ())), key=lambda x: (x.name.casefold(), x.slug)))
        kind = kind_label(r, u.kind, kind_labels)
        others = tuple(n for n in u.names() if n != name)
        out[slug] = UnitView(
            slug=slug, url=unit_path(slug), name=name, other_names=others, kind=kind, kind_slug=u.kind,
            chain=chain, sub_units=subs, insignia=u.insignia,
            notes_html=render_markdown(u.notes) if u.notes.strip() else "",
            sources=tuple(_source_view(s) for s in u.sources),
            count=len(ids),
            regions=tuple(CountView(n, region_path(region_slug_of[n]), c)
                          for n, c in sorted(regions.items(), key=lambda kv: (-kv[1], kv[0].casefold()))),
            region_slugs=tuple(sorted(set(region_slug_of.values()))),
            categories=tuple(CountView(cat_label.get(c, c), "", n) for c, n in sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))),
            search=" ".join(unicodedata.normalize("NFC", " ".join([slug, *u.names(), kind, u.insignia])).casefold().split()),
        )
    return out


def region_units(views: Mapping[str, UnitView], incidents: Sequence[Incident], pub: PublishedUnits) -> tuple[CountView, ...]:
    """Units observed in a region's published incidents (``incidents``), with how many incidents each."""
    ids = {i.id for i in incidents}
    counts = {s: sum(1 for i in pub.incidents.get(s, ()) if i in ids) for s in views}
    rows = [CountView(views[s].name, views[s].url, n) for s, n in counts.items() if n]
    return tuple(sorted(rows, key=lambda c: (-c.count, c.label.casefold())))


def unit_records(pub: PublishedUnits, site_url: Mapping[str, str]) -> list[dict[str, Any]]:
    """Open-data records of the published units, with the observation links to incidents."""
    out = []
    for slug, u in pub.units.items():
        out.append({
            "slug": slug, "url": unit_path(slug), "name_be": u.name_be, "name_ru": u.name_ru, "name_en": u.name_en,
            "kind": u.kind, "parent": u.parent if u.parent in pub.units else "", "insignia": u.insignia,
            "notes": u.notes, "sources": list(u.sources),
            "incidents": [{"id": i, "url": site_url[i]} for i in pub.incidents.get(slug, ())],
        })
    return out


def units_json(records: Sequence[Mapping[str, Any]]) -> bytes:
    """A JSON array with one unit per line."""
    lines = ",\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records)
    return ("[\n" + lines + "\n]\n" if records else "[]\n").encode("utf-8")


def units_csv(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The same, flat (incident ids separated by ``;``); formula-like cells neutralised."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    cols = ["slug", "url", "name_be", "name_ru", "name_en", "kind", "parent", "insignia", "notes", "sources", "incidents"]
    w.writerow(cols)
    for r in records:
        vals = [r["slug"], r["url"], r["name_be"], r["name_ru"], r["name_en"], r["kind"], r["parent"], r["insignia"],
                r["notes"], "\n".join(r["sources"]), ";".join(i["id"] for i in r["incidents"])]
        w.writerow([_csv_safe(str(v)) for v in vals])
    return buf.getvalue().encode("utf-8")
