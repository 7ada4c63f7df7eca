"""Publish preview (what the public site would contain, and what is left out and why) and
export (an evidence package, after re-authentication, downloaded and then removed)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import InputError, PublishError
from ..publish.builder import published_incident_pages
from ..publish.site import incident_path
from ..workspace import Workspace
from ..workspace.access import Scope
from .sessions import REAUTH_VALID

if TYPE_CHECKING:
    from .app import Ctx


@dataclass(frozen=True)
class PreviewIncident:
    id: str
    title: str
    media: tuple[tuple[str, str, str], ...]  # derivative sha256, media type, role


@dataclass(frozen=True)
class Preview:
    incidents: tuple[PreviewIncident, ...]
    left_out: tuple[tuple[str, str, str], ...]  # incident, item, reason


def _preview(ws: Workspace) -> Preview:
    gate, _originals = ws.publishing.gate()
    incs = tuple(PreviewIncident(i.id, i.title, tuple((m.derivative.sha256, m.derivative.media_type, m.role.value)
                                                      for m in gate.media.get(i.id, ())))
                 for i in gate.incidents)
    return Preview(incs, tuple((lo.incident_id, lo.item, lo.reason) for lo in gate.left_out))


def _reauth_fresh(ctx: Ctx) -> bool:
    return ctx.session is not None and ctx.state.sessions.clock() - ctx.session.reauth_at <= REAUTH_VALID


def _removals(ws: Workspace, site: Path) -> tuple[str, ...]:
    """Incidents the site publishes now that a build from today's gate would remove."""
    gate, _originals = ws.publishing.gate()
    keep = {incident_path(i.id) for i in gate.incidents}
    return tuple(p.removeprefix("incidents/").removesuffix(".html")
                 for p in published_incident_pages(site) if p not in keep)


async def _publish_page(ctx: Ctx, status: int = 200, error: str = "", removals: tuple[str, ...] = (),
                        done: str = "") -> Response:
    preview = await ctx.call(_preview)
    site = ctx.state.config.site
    return ctx.render("publish.html", status=status, preview=preview, site=str(site) if site else "",
                      reauth_fresh=_reauth_fresh(ctx), error=error, removals=removals, done=done)


async def publish_preview(request: Request, ctx: Ctx) -> Response:
    return await _publish_page(ctx)


async def publish_site(request: Request, ctx: Ctx) -> Response:
    """Build the public site into the server's ``--site`` folder, as ``witnessbox publish`` does.

    The library's gate decides what goes out (published incidents, approved redacted copies
    only), so this handler adds nothing to it. Removing pages of incidents the site publishes
    now needs the explicit confirmation box (``allow_removals``), like ``--allow-removals``.
    """
    site = ctx.state.config.site
    if site is None:
        raise InputError("no site folder is set: start the server with witnessbox serve --site DIR")
    form = await request.form()
    allow_removals = form.get("allow_removals") == "on"
    try:
        report = await ctx.call(lambda ws: ws.publishing.publish(site, allow_removals=allow_removals))
    except PublishError as e:
        # Refused (nothing written). When pages would be removed, list them and offer the
        # explicit confirmation box; any other refusal is shown as it is.
        removals = () if allow_removals else await ctx.call(_removals, site)
        return await _publish_page(ctx, status=e.http_status, error=e.message, removals=removals)
    done = ctx.ngettext("Published: %(num)d incident", "Published: %(num)d incidents", report.incidents) % {
        "num": report.incidents}
    return await _publish_page(ctx, done=done)


async def export_form(request: Request, ctx: Ctx) -> Response:
    incidents = await ctx.call(lambda ws: [(i.id, i.title) for i in ctx.scope.incident_table(ws)[1]])
    return ctx.render("export.html", incidents=incidents, error="")


def _export(ws: Workspace, scope: Scope, incidents: list[str], items: list[str], recipient: str,
            testimonies: bool) -> Path:
    """Write the package as one zip in a staging folder (the caller streams it, then removes it)."""
    selectors = []
    for inc in incidents:
        selectors.append(scope.incident(ws, inc).id)
    for item in items:
        selectors.append(scope.item(ws, item).sha256)
    if not selectors:
        raise InputError("choose at least one incident or item")
    staging = ws.root / "tmp" / f"plain-{os.getpid()}-web-export-{secrets.token_hex(8)}"
    staging.mkdir(mode=0o700)
    out = staging / "evidence-package.zip"
    try:
        ws.exports.export(selectors, out, zip_output=True, recipient=recipient or None,
                          include_testimonies=testimonies)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


async def export_download(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    incidents = [str(x)[:100] for x in form.getlist("incidents")][:500]
    items = [s.strip() for s in str(form.get("items", ""))[:20000].split() if s.strip()][:500]
    recipient = str(form.get("recipient", ""))[:200].strip()
    testimonies = form.get("testimonies") == "on"
    try:
        path = await ctx.call(_export, ctx.scope, incidents, items, recipient, testimonies)
    except InputError as e:
        listed = await ctx.call(lambda ws: [(i.id, i.title) for i in ctx.scope.incident_table(ws)[1]])
        return ctx.render("export.html", status=400, incidents=listed, error=e.message)
    f = open(path, "rb")  # noqa: SIM115 - closed when the body ends

    async def body() -> AsyncIterator[bytes]:
        try:
            while chunk := await run_in_threadpool(f.read, 1 << 20):
                yield chunk
        finally:
            f.close()
            shutil.rmtree(path.parent, ignore_errors=True)

    return StreamingResponse(body(), media_type="application/zip",
                             headers={"content-disposition": 'attachment; filename="evidence-package.zip"',
                                      "content-length": str(path.stat().st_size)})
