"""Incidents: the table with filters and folded search, the form, the incident page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from ..catalog import Incident, IncidentFilter, IncidentInput, Status, make_timespan, region_slug
from ..errors import InputError
from ..publish.text import render_markdown
from ..workspace import Workspace
from ..workspace.access import Scope

if TYPE_CHECKING:
    from .app import Ctx


@dataclass(frozen=True)
class IncidentRow:
    id: str
    title: str
    when: str
    place: str
    region: str
    categories: str
    status: str
    items: int

    @classmethod
    def of(cls, i: Incident, regions: dict[str, str]) -> IncidentRow:
        # "start" or "start/end" (ISO 8601 interval); templates format it in the reader's language
        when = i.time.start.isoformat(timespec="minutes")
        if i.time.end is not None:
            when += "/" + i.time.end.isoformat(timespec="minutes")
        return cls(i.id, i.title, when, i.place, regions.get(i.region, i.region), ", ".join(i.categories),
                   i.status.value, len(i.links))


@dataclass(frozen=True)
class IncidentPage:
    row: IncidentRow
    description_html: Markup
    sources: tuple[str, ...]
    observations: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    statuses: tuple[str, ...]
    testimonies: tuple[tuple[int, str, str], ...]  # id, language, given on (editors only)


@dataclass(frozen=True)
class TableQuery:
    since: str = ""
    until: str = ""
    region: str = ""
    category: str = ""
    status: str = ""
    text: str = ""

    @classmethod
    def from_query(cls, q: Any) -> TableQuery:
        def get(k: str) -> str:
            return str(q.get(k, ""))[:200].strip()

        return cls(get("since"), get("until"), get("region"), get("category"), get("status"), get("q"))

    def filter(self) -> IncidentFilter:
        status = None
        if self.status:
            try:
                status = Status(self.status)
            except ValueError as e:
                raise InputError(f"unknown status {self.status[:40]!r}") from e
        return IncidentFilter(region=self.region, category=self.category, status=status, since=self.since,
                              until=self.until)


def _regions(ws: Workspace) -> dict[str, str]:
    return {r.slug: r.name for r in ws.incidents.regions()}


PAGE_SIZE = 100


def _table(ws: Workspace, scope: Scope, q: TableQuery, page: int) -> tuple[int, list[IncidentRow], Any, Any]:
    total, found = scope.incident_table(ws, q.filter(), q.text, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    rows = [IncidentRow(i.id, i.title, i.start + ("/" + i.end if i.end else ""),
                        i.place, i.region, ", ".join(i.categories), i.status, i.links) for i in found]
    cats = [(c.slug, c.label) for c in ws.incidents.categories()]
    return total, rows, scope.region_names(ws), cats


async def incidents_table(request: Request, ctx: Ctx) -> Response:
    q = TableQuery.from_query(request.query_params)
    try:
        page = max(0, int(request.query_params.get("page", "0")))
    except ValueError:
        page = 0
    total, rows, regions, cats = await ctx.call(_table, ctx.scope, q, page)
    pages = max(1, -(-total // PAGE_SIZE))
    params = {k: v for k, v in request.query_params.items() if k != "page"}
    return ctx.render("incidents.html", rows=rows, q=q, regions=regions, categories=cats, total=total, page=page,
                      pages=pages, params=params, statuses=[s.value for s in Status])


_FIELDS = ("title", "start", "end", "precision", "place", "region", "description", "sources")


async def incident_form(request: Request, ctx: Ctx, *, error: str = "", values: dict[str, Any] | None = None,
                        status: int = 200, action: str = "/incidents/new", preview: Markup | None = None) -> Response:
    def choices(ws: Workspace) -> tuple[Any, Any]:
        return ctx.scope.region_names(ws), [(c.slug, c.label) for c in ws.incidents.categories()]

    regions, cats = await ctx.call(choices)
    return ctx.render("incident_form.html", status=status, regions=regions, categories=cats, error=error,
                      values=values or {}, action=action, preview=preview)


def _form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(form.get(k, ""))[:20000] for k in _FIELDS}
    values["categories"] = [str(c)[:80] for c in form.getlist("categories")][:50]
    return values


def _preview(values: dict[str, Any]) -> Markup:
    return Markup(render_markdown(values["description"]))  # noqa: S704 - sanitised by render_markdown (nh3)


async def incident_edit_form(request: Request, ctx: Ctx) -> Response:
    inc_id = request.path_params["inc_id"]

    def load(ws: Workspace) -> dict[str, Any]:
        from ..catalog.models import format_time_text

        inc = ctx.scope.incident(ws, inc_id)
        t = inc.time
        return {"title": inc.title, "start": format_time_text(t.start, t.precision),
                "end": format_time_text(t.end, t.precision) if t.end else "", "precision": t.precision.value,
                "place": inc.place, "region": region_slug(inc.region), "description": inc.description,
                "sources": "\n".join(inc.sources), "categories": list(inc.categories)}

    values = await ctx.call(load)
    return await incident_form(request, ctx, values=values, action=f"/incidents/{inc_id}/edit")


async def incident_edit(request: Request, ctx: Ctx) -> Response:
    inc_id = request.path_params["inc_id"]
    form = await request.form()
    values = _form_values(form)
    action = f"/incidents/{inc_id}/edit"
    if form.get("preview") is not None:
        return await incident_form(request, ctx, values=values, action=action, preview=_preview(values))
    scope = ctx.scope

    def edit(ws: Workspace) -> None:
        if scope.regions and values["region"] not in scope.regions:
            raise InputError("choose one of your regions")
        ws.incidents.edit(inc_id, title=values["title"], start=values["start"], end=values["end"],
                          precision=values["precision"] or None, place=values["place"], region=values["region"],
                          categories=values["categories"], description=values["description"],
                          sources=[x.strip() for x in values["sources"].splitlines() if x.strip()])

    try:
        await ctx.call(edit)
    except InputError as e:
        return await incident_form(request, ctx, error=e.message, values=values, action=action, status=400)
    return ctx.redirect(f"/incidents/{inc_id}")


def _create(ws: Workspace, scope: Scope, form: dict[str, Any]) -> Incident:
    region = form["region"]
    if scope.regions and region not in scope.regions:
        raise InputError("choose one of your regions")
    inp = IncidentInput(
        title=form["title"], time=make_timespan(form["start"], form["end"], form["precision"]),
        place=form["place"], region=region, categories=tuple(form["categories"]),
        description=form["description"],
        sources=tuple(s.strip() for s in form["sources"].splitlines() if s.strip()),
    )
    return ws.incidents.add(inp)


async def incident_create(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    values = _form_values(form)
    if form.get("preview") is not None:
        return await incident_form(request, ctx, values=values, preview=_preview(values))
    try:
        inc = await ctx.call(_create, ctx.scope, values)
    except InputError as e:
        return await incident_form(request, ctx, error=e.message, values=values, status=400)
    return ctx.redirect(f"/incidents/{inc.id}")


def _page(ws: Workspace, scope: Scope, inc_id: str) -> IncidentPage:
    inc = scope.incident(ws, inc_id)
    allowed = scope.visible_items(ws)
    names = {}
    for link in inc.links:
        if allowed is None or link.item in allowed:
            names[link.item] = ws.item(link.item).name
    obs = tuple("; ".join(x for x in (o.unit, o.insignia, o.uniform,
                                       ", ".join(f"{v.type} {v.plate}".strip() for v in o.vehicles),
                                       f"{o.officers}" if o.officers else "") if x) for o in inc.observations)
    return IncidentPage(IncidentRow.of(inc, _regions(ws)), Markup(render_markdown(inc.description)),  # noqa: S704 - sanitised by render_markdown (nh3)
                        inc.sources, obs,
                        tuple((link.item, f"{names[link.item]} ({link.role.value})") for link in inc.links if link.item in names),
                        tuple(s.value for s in Status),
                        tuple((t.id, t.language, t.given_on) for t in ws.incidents.testimonies(inc.id))
                        if scope.allows("editor") else ())


async def incident_page(request: Request, ctx: Ctx) -> Response:
    page = await ctx.call(_page, ctx.scope, request.path_params["inc_id"])
    return ctx.render("incident.html", page=page)


async def incident_status(request: Request, ctx: Ctx) -> Response:
    inc_id = request.path_params["inc_id"]
    form = await request.form()
    await ctx.call(lambda ws: ws.incidents.set_status(inc_id, str(form.get("status", ""))[:20]))
    return ctx.redirect(f"/incidents/{inc_id}")


async def incident_link(request: Request, ctx: Ctx) -> Response:
    inc_id = request.path_params["inc_id"]
    form = await request.form()
    item = str(form.get("item", ""))[:64]
    role = str(form.get("role", "primary"))[:20]
    scope = ctx.scope

    def link(ws: Workspace) -> None:
        rec = ws.item(item)
        # An unrestricted editor may link any item; a region-limited one only items they see,
        # or an item linked nowhere yet (fresh intake).
        allowed = scope.visible_items(ws)
        if allowed is not None and rec.sha256 not in allowed and any(
                any(lk.item == rec.sha256 for lk in i.links) for i in ws.incidents.list()):
            from ..errors import NotFoundError

            raise NotFoundError(f"no item with an id starting {item}")
        ws.incidents.link(inc_id, rec.sha256, role)

    await ctx.call(link)
    return ctx.redirect(f"/incidents/{inc_id}")


async def incident_observe(request: Request, ctx: Ctx) -> Response:
    inc_id = request.path_params["inc_id"]
    form = await request.form()

    def field(k: str) -> str:
        return str(form.get(k, ""))[:500].strip()

    def observe(ws: Workspace) -> None:
        from ..catalog import Observation, Vehicle

        officers = field("officers")
        try:
            n = int(officers) if officers else None
        except ValueError as e:
            raise InputError("the number of officers is a whole number") from e
        vehicles = (Vehicle(field("vehicle_type"), field("vehicle_plate")),) if field("vehicle_type") else ()
        ws.incidents.observe(inc_id, Observation(field("unit"), field("insignia"), field("uniform"), vehicles, n))

    await ctx.call(observe)
    return ctx.redirect(f"/incidents/{inc_id}")


async def incident_testimony(request: Request, ctx: Ctx) -> Response:
    inc_id = request.path_params["inc_id"]
    form = await request.form()
    await ctx.call(lambda ws: ws.incidents.add_testimony(
        inc_id, str(form.get("text", ""))[:1_000_001], language=str(form.get("language", ""))[:16].strip(),
        given_on=str(form.get("given_on", ""))[:40].strip(), contact=str(form.get("contact", ""))[:500]))
    return ctx.redirect(f"/incidents/{inc_id}")


async def testimony_page(request: Request, ctx: Ctx) -> Response:
    """One decrypted testimony (the reading is logged by the library); contacts: admins only."""
    inc_id = request.path_params["inc_id"]
    try:
        tid = int(request.path_params["tid"])
    except ValueError as e:
        raise InputError("a testimony number is a whole number") from e
    scope = ctx.scope

    def read(ws: Workspace) -> Any:
        inc = scope.incident(ws, inc_id)
        if tid not in {t.id for t in ws.incidents.testimonies(inc.id)}:
            from ..errors import NotFoundError

            raise NotFoundError(f"no testimony {tid} in this incident")
        return ws.incidents.read_testimony(tid)

    t = await ctx.call(read)
    return ctx.render("testimony.html", inc_id=inc_id, testimony=t, show_contact=scope.allows("admin"))
