"""Intake: many files at once, streamed to disk, each sealed as ``witnessbox add`` does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..workspace.intake import IntakeFields, seal_files
from .uploads import receive_upload

if TYPE_CHECKING:
    from .app import Ctx

#: Largest single upload (a long phone video fits; a disk image does not).
MAX_FILE_SIZE = 8 * 1024**3


async def intake_form(request: Request, ctx: Ctx) -> Response:
    incidents = await ctx.call(lambda ws: [(i.id, i.title) for i in ctx.scope.incident_table(ws)[1]])
    return ctx.render("intake.html", results=None, incidents=incidents)


async def intake_upload(request: Request, ctx: Ctx) -> Response:
    staging = await receive_upload(request, ctx.state.config.archive, max_file_size=MAX_FILE_SIZE)
    try:
        f = staging.fields
        fields = IntakeFields(source=f.get("source", "").strip(), note=f.get("note", "").strip(),
                              place=f.get("place", "").strip(), captured_at=f.get("captured_at", "").strip(),
                              incident=f.get("incident", "").strip())
        files = [(s.path, s.name) for s in staging.files]
        results = await ctx.call(seal_files, ctx.scope, files, fields)
    finally:
        staging.cleanup()
    if "application/json" in request.headers.get("accept", ""):
        return ctx.finish(JSONResponse({"results": [r.to_json() for r in results]}))
    incidents = await ctx.call(lambda ws: [(i.id, i.title) for i in ctx.scope.incident_table(ws)[1]])
    return ctx.render("intake.html", results=results, incidents=incidents)
