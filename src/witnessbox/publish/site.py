"""Pages and open-data files of the public site, rendered from typed views.

Views are frozen dataclasses holding only public text; templates are Jinja2 with autoescape
on (HTML and XML), so every catalog field is escaped unless it is a description that went
through :func:`.text.render_markdown`. Every link is relative (``root`` is ``""`` or
``"../"``), so the site works from ``file://`` and on any static host.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2

from ..catalog import Category, Incident, Region, format_time_text
from .charts import Chart, monthly_chart
from .text import (
    CATEGORY_LABELS,
    PRECISION_NOTES,
    ROLE_LABELS,
    excerpt_of_html,
    format_day,
    format_span,
    plain_excerpt,
    render_markdown,
    translations,
)

SITE_FORMAT = "witnessbox-site-1"


@dataclass(frozen=True, slots=True)
class SiteOptions:
    """How the site looks: interface language, title, public base URL (for the feed), feed size."""

    lang: str = "en"
    title: str = ""
    base_url: str = ""
    feed_size: int = 50
    languages: tuple[str, ...] = ()
    """Languages built side by side under ``../<lang>/`` (``--all-languages``): the language switch."""


@dataclass(frozen=True, slots=True)
class PublishedMedia:
    """One re-encoded medium as it lies in the site (``path`` relative to the site root)."""

    path: str
    sha256: str
    media_type: str
    width: int
    height: int
    role: str


@dataclass(frozen=True, slots=True)
class CatView:
    slug: str
    label: str


@dataclass(frozen=True, slots=True)
class MediaView:
    url: str
    is_video: bool
    role: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class VehicleView:
    type: str
    plate: str


@dataclass(frozen=True, slots=True)
class ObsView:
    unit: str
    unit_name: str  # name of the vocabulary unit in the page language ("" when none is published)
    unit_url: str
    insignia: str
    uniform: str
    vehicles: tuple[VehicleView, ...]
    officers: str


@dataclass(frozen=True, slots=True)
class SourceView:
    text: str
    url: str


@dataclass(frozen=True, slots=True)
class IncidentView:
    """Everything the incident page shows (its fingerprint decides incremental rebuilds)."""

    id: str
    url: str
    title: str
    when: str
    day: str
    precision: str
    place: str
    coordinates: str
    region: str
    region_url: str
    categories: tuple[CatView, ...]
    category_slugs: tuple[str, ...]
    description_html: str
    observations: tuple[ObsView, ...]
    media: tuple[MediaView, ...]
    sources: tuple[SourceView, ...]
    search: str


@dataclass(frozen=True, slots=True)
class RegionView:
    name: str
    slug: str
    url: str
    count: int


@dataclass(frozen=True, slots=True)
class UnitRef:
    """A link to a unit page."""

    slug: str
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class CountView:
    """A labelled count, with a link when there is a page for it."""

    label: str
    url: str
    count: int


@dataclass(frozen=True, slots=True)
class UnitView:
    """Everything the unit page and the units index show of one unit (public fields only)."""

    slug: str
    url: str
    name: str
    other_names: tuple[str, ...]
    kind: str
    kind_slug: str
    chain: tuple[UnitRef, ...]  # the chain of command above it, top first
    sub_units: tuple[UnitRef, ...]
    insignia: str
    notes_html: str
    sources: tuple[SourceView, ...]
    count: int
    regions: tuple[CountView, ...]
    region_slugs: tuple[str, ...]
    categories: tuple[CountView, ...]
    search: str


def unit_path(slug: str) -> str:
    """Site path of a unit page (slugs are ``[a-z0-9-]``)."""
    return f"units/{slug}.html"


UNITS_INDEX = "units/index.html"
LANGUAGE_NAMES = {"be": "Беларуская", "ru": "Русский", "en": "English"}
"""Each language by its own name (the switch reads the same in every page language)."""


def incident_path(inc_id: str) -> str:
    """Site path of an incident page (ids are restricted to ``[A-Za-z0-9_-]``)."""
    return f"incidents/{inc_id}.html"


def region_path(slug: str) -> str:
    """Site path of a region page (slugs are ASCII, derived, never the raw name)."""
    return f"regions/{slug}.html"


def fingerprint(*parts: Any) -> str:
    """A stable hash of views and settings (decides whether a page must be re-rendered)."""
    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        raise TypeError(type(o))

    blob = json.dumps(parts, default=default, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _source_view(s: str) -> SourceView:
    u = urlsplit(s)
    ok = u.scheme in ("http", "https") and bool(u.netloc) and " " not in s
    return SourceView(s, s if ok else "")


class Renderer:
    """Renders views to bytes in one interface language.

    Raises:
        UsageError: (constructor) the language has no catalog.
    """

    def __init__(self, options: SiteOptions, categories: Sequence[Category]) -> None:
        self.options = options
        self._tr = translations(options.lang)
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("witnessbox.publish", "templates"),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "atom", "xml"), default=True),
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            keep_trailing_newline=True,
        )
        self._env.install_gettext_translations(self._tr, newstyle=True)  # type: ignore[attr-defined]
        self.site_title = options.title.strip() or self._tr.gettext("Incident registry")
        self._cat_labels = {c.slug: self.category_label(c) for c in categories}
        self.template_hash = self._template_hash()

    def _template_hash(self) -> str:
        h = hashlib.sha256(SITE_FORMAT.encode())
        base = resources.files("witnessbox.publish")
        for folder in ("templates", "static"):
            for f in sorted(base.joinpath(folder).iterdir(), key=lambda p: p.name):
                h.update(f.name.encode() + b"\0" + f.read_bytes())
        po = base.joinpath("locale", self.options.lang, "LC_MESSAGES", "messages.po")
        h.update(po.read_bytes())
        h.update(fingerprint(self.options, self.site_title).encode())
        return h.hexdigest()

    def gettext(self, msg: str) -> str:
        """Translate one interface message."""
        return self._tr.gettext(msg)

    def category_label(self, c: Category) -> str:
        """Translated label of a default category, or the custom label as written."""
        return self._tr.gettext(CATEGORY_LABELS[c.slug]) if c.slug in CATEGORY_LABELS else c.label

    def cat_views(self, slugs: Sequence[str]) -> tuple[CatView, ...]:
        return tuple(CatView(s, self._cat_labels.get(s, s)) for s in slugs)

    def incident_view(self, inc: Incident, region_slug: str, media: Sequence[PublishedMedia],
                      unit_names: Mapping[str, str] | None = None) -> IncidentView:
        """Build the public view of a published incident (only public fields exist in it).

        ``unit_names``: published unit slug -> name in the page language; observations of other
        units show their free text only.
        """
        lang = self.options.lang
        cats = self.cat_views(inc.categories)
        names = unit_names or {}
        obs = tuple(
            ObsView(
                o.unit, names.get(o.unit_slug, ""), unit_path(o.unit_slug) if o.unit_slug in names else "",
                o.insignia, o.uniform, tuple(VehicleView(v.type, v.plate) for v in o.vehicles),
                "" if o.officers is None else str(o.officers),
            )
            for o in inc.observations
        )
        description_html = render_markdown(inc.description) if inc.description.strip() else ""
        excerpt = excerpt_of_html(description_html)
        search = " ".join([inc.id, inc.title, inc.place, inc.region, *(c.label for c in cats), excerpt])
        return IncidentView(
            id=inc.id,
            url=incident_path(inc.id),
            title=inc.title,
            when=format_span(inc.time, lang),
            day=format_day(inc.time.start, lang),
            precision=self._tr.gettext(PRECISION_NOTES[inc.time.precision.value]),
            place=inc.place,
            coordinates=f"{inc.coordinates.lat:.5f}, {inc.coordinates.lon:.5f}" if inc.coordinates else "",
            region=inc.region,
            region_url=region_path(region_slug),
            categories=cats,
            category_slugs=tuple(inc.categories),
            description_html=description_html,
            observations=obs,
            media=tuple(
                MediaView(m.path, m.media_type.startswith("video/"), self._tr.gettext(ROLE_LABELS[m.role]), m.width, m.height)
                for m in media
            ),
            sources=tuple(_source_view(s) for s in inc.sources),
            search=" ".join(search.casefold().split()),
        )

    def _render(self, template: str, root: str, path: str = "", **ctx: Any) -> bytes:
        t = self._env.get_template(template)
        switch = [
            {"lang": lang, "name": LANGUAGE_NAMES.get(lang, lang), "url": f"{root}../{lang}/{path}",
             "current": lang == self.options.lang}
            for lang in self.options.languages
        ] if path else []
        return t.render(lang=self.options.lang, root=root, site_title=self.site_title, switch=switch, **ctx).encode("utf-8")

    def incident_page(self, view: IncidentView) -> bytes:
        return self._render("incident.html", "../", view.url, inc=view)

    def region_page(self, region: Region, views: Sequence[IncidentView], categories: Sequence[CatView],
                    units: Sequence[CountView] = (), chart: Chart | None = None) -> bytes:
        return self._render("region.html", "../", region_path(region.slug), region=region, incidents=views,
                            categories=categories, units=units, chart=chart)

    def index_page(self, regions: Sequence[RegionView], categories: Sequence[tuple[CatView, int]], latest: Sequence[IncidentView],
                   total: int, chart: Chart | None = None, n_units: int = 0) -> bytes:
        cats = [{"slug": c.slug, "label": c.label, "count": n} for c, n in categories]
        return self._render("index.html", "", "index.html", regions=regions, categories=cats, latest=latest, total=total,
                            chart=chart, n_units=n_units)

    def search_page(self, regions: Sequence[RegionView], categories: Sequence[CatView]) -> bytes:
        return self._render("search.html", "", "search.html", regions=regions, categories=categories)

    def methodology_page(self) -> bytes:
        return self._render("methodology.html", "", "methodology.html")

    def unit_page(self, unit: UnitView, incidents: Sequence[IncidentView], chart: Chart | None) -> bytes:
        return self._render("unit.html", "../", unit.url, unit=unit, incidents=incidents, chart=chart)

    def units_index_page(self, units: Sequence[UnitView], kinds: Sequence[CatView], regions: Sequence[RegionView]) -> bytes:
        return self._render("units.html", "../", UNITS_INDEX, units=units, kinds=kinds, regions=regions)

    def chart(self, incidents: Sequence[Incident], chart_id: str, title: str) -> Chart | None:
        """Incidents per month stacked by category, in the page language (None when empty)."""
        cats = [(slug, label) for slug, label in self._cat_labels.items()]
        return monthly_chart(incidents, cats, lang=self.options.lang, chart_id=chart_id, title=title)

    def feed_incidents(self, incidents: Sequence[Incident]) -> list[Incident]:
        """The incidents the Atom feed lists: the most recently updated ones, newest first."""
        return sorted(incidents, key=lambda i: (i.updated_at, i.id), reverse=True)[: self.options.feed_size]

    def feed(self, incidents: Sequence[Incident], views: Mapping[str, IncidentView]) -> bytes:
        """Atom feed of the most recently updated published incidents."""
        recent = self.feed_incidents(incidents)
        base = self.options.base_url.rstrip("/") + "/" if self.options.base_url.strip() else ""
        ns = uuid.uuid5(uuid.NAMESPACE_URL, "witnessbox:" + (base or self.site_title))
        entries = [
            {
                "title": i.title,
                "entry_id": f"urn:uuid:{uuid.uuid5(ns, i.id)}",
                "updated": _rfc3339(i.updated_at),
                "url": views[i.id].url,
                "summary": plain_excerpt(i.description, 500),
                "categories": views[i.id].categories,
            }
            for i in recent
        ]
        updated = max((str(e["updated"]) for e in entries), default="1970-01-01T00:00:00Z")
        return self._render("feed.atom", "", feed_id=f"urn:uuid:{ns}", updated=updated, base=base, entries=entries)


def _rfc3339(ts: str) -> str:
    return ts.replace("+00:00", "Z") if ts else "1970-01-01T00:00:00Z"


def open_data_records(incidents: Sequence[Incident], views: Mapping[str, IncidentView], media: Mapping[str, Sequence[PublishedMedia]]) -> list[dict[str, Any]]:
    """The public open-data record of each published incident (never testimonies or links to originals)."""
    out = []
    for inc in incidents:
        out.append(
            {
                "id": inc.id,
                "url": views[inc.id].url,
                "title": inc.title,
                "start": format_time_text(inc.time.start, inc.time.precision),
                "end": format_time_text(inc.time.end, inc.time.precision) if inc.time.end else "",
                "precision": inc.time.precision.value,
                "place": inc.place,
                "region": inc.region,
                "coordinates": {"lat": inc.coordinates.lat, "lon": inc.coordinates.lon} if inc.coordinates else None,
                "categories": list(inc.categories),
                "description": inc.description,
                "observations": [
                    {
                        "unit": o.unit, "insignia": o.insignia, "uniform": o.uniform,
                        "vehicles": [{"type": v.type, "plate": v.plate} for v in o.vehicles],
                        "officers": o.officers,
                        # only published units are named by published incidents (unit_pages)
                        **({"unit_slug": o.unit_slug} if o.unit_slug else {}),
                    }
                    for o in inc.observations
                ],
                "sources": list(inc.sources),
                "media": [{"url": m.path, "type": m.media_type, "role": m.role, "sha256": m.sha256} for m in media.get(inc.id, ())],
            }
        )
    return out


def incidents_json(records: Sequence[Mapping[str, Any]]) -> bytes:
    """A JSON array with one incident per line (the C encoder: ``indent`` would be 10x slower)."""
    lines = ",\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records)
    return ("[\n" + lines + "\n]\n" if records else "[]\n").encode("utf-8")


def _csv_safe(v: str) -> str:
    # Spreadsheets run cells starting with these as formulas: neutralise for people opening the CSV.
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def incidents_csv(records: Sequence[Mapping[str, Any]]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    cols = ["id", "url", "title", "start", "end", "precision", "place", "region", "lat", "lon", "categories", "description", "sources", "media"]
    w.writerow(cols)
    for r in records:
        c = r["coordinates"] or {}
        text = [_csv_safe(str(v)) for v in (r["id"], r["url"], r["title"], r["start"], r["end"], r["precision"], r["place"], r["region"])]
        # Coordinates are numbers we format ourselves: a quote before "-53.9" would turn them into text.
        coords = [str(c.get("lat", "")), str(c.get("lon", ""))]
        rest = [_csv_safe(str(v)) for v in (";".join(r["categories"]), r["description"], "\n".join(r["sources"]),
                                            ";".join(m["url"] for m in r["media"]))]
        w.writerow([*text, *coords, *rest])
    return buf.getvalue().encode("utf-8")


def search_index_js(views: Sequence[IncidentView], incidents: Mapping[str, Incident], regions: Mapping[str, str], cat_labels: Mapping[str, str], region_slugs: Mapping[str, str]) -> bytes:
    """``window.WB_INDEX``: a script, not JSON, because ``fetch`` of local files fails from ``file://``."""
    items = []
    for v in views:
        inc = incidents[v.id]
        items.append(
            {
                "u": v.url, "t": v.title, "w": v.day, "p": v.place, "r": region_slugs[v.id],
                "c": list(v.category_slugs), "k": inc.time.sort_key(), "e": inc.time.end_key(), "s": v.search,
            }
        )
    payload = {"regions": dict(regions), "categories": dict(cat_labels), "items": items}
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # Keep the script inert if ever inlined: no "</script" or HTML comment openers survive.
    blob = blob.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return ("window.WB_INDEX = " + blob + ";\n").encode("utf-8")
