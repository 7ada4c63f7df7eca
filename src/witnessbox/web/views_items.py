"""Items: the table with filters and the item page. Handlers pass view objects, never records."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import InputError
from ..ledger.records import ItemRecord, LogEntry
from ..workspace import Workspace
from ..workspace.access import Scope

if TYPE_CHECKING:
    from .app import Ctx


@dataclass(frozen=True)
class ItemRow:
    sha256: str
    name: str
    media_type: str
    kind: str
    size: int
    received_at: str
    source: str
    derivative: bool

    @classmethod
    def of(cls, r: ItemRecord) -> ItemRow:
        return cls(r.sha256, r.name, r.media_type, r.metadata.kind, r.size, r.received_at, r.source or "",
                   r.parent is not None)


@dataclass(frozen=True)
class EntryView:
    seq: int
    time: str
    action: str
    actor: str
    objects: tuple[str, ...]
    details: str

    @classmethod
    def of(cls, e: LogEntry) -> EntryView:
        return cls(e.seq, e.time, e.action, e.actor, tuple(e.objects),
                   json.dumps(dict(e.details), ensure_ascii=False, sort_keys=True)[:500])


@dataclass(frozen=True)
class ItemPage:
    item: ItemRow
    facts: tuple[tuple[str, str], ...]
    sensitive: tuple[tuple[str, str], ...] | None
    history: tuple[EntryView, ...]
    derivatives: tuple[ItemRow, ...]
    parent: str | None
    incidents: tuple[tuple[str, str], ...]
    sidecars: tuple[str, ...]


@dataclass(frozen=True)
class ItemFilter:
    kind: str = ""
    received_from: str = ""
    received_to: str = ""
    source: str = ""
    incident: str = ""
    derivative: str = ""  # "", "original", "derivative"

    @classmethod
    def from_query(cls, q: Any) -> ItemFilter:
        def get(k: str) -> str:
            return str(q.get(k, ""))[:200].strip()

        return cls(get("kind"), get("from"), get("to"), get("source"), get("incident"), get("derivative"))


def _list_items(ws: Workspace, scope: Scope, flt: ItemFilter) -> list[ItemRow]:
    recs = scope.items(ws)
    if flt.incident:
        inc = scope.incident(ws, flt.incident)
        linked = {link.item for link in inc.links}
        recs = [r for r in recs if r.sha256 in linked]
    out = []
    src = flt.source.casefold()
    for r in recs:
        if flt.kind and r.metadata.kind != flt.kind:
            continue
        if flt.received_from and r.received_at[:10] < flt.received_from:
            continue
        if flt.received_to and r.received_at[:10] > flt.received_to:
            continue
        if src and src not in (r.source or "").casefold():
            continue
        if flt.derivative == "original" and r.parent is not None:
            continue
        if flt.derivative == "derivative" and r.parent is None:
            continue
        out.append(ItemRow.of(r))
    return out


async def items_table(request: Request, ctx: Ctx) -> Response:
    flt = ItemFilter.from_query(request.query_params)
    rows = await ctx.call(_list_items, ctx.scope, flt)
    return ctx.render("items.html", rows=rows, flt=flt)


def _item_page(ws: Workspace, scope: Scope, item_id: str) -> ItemPage:
    rec = scope.item(ws, item_id)
    m = rec.metadata
    facts: list[tuple[str, str]] = [
        ("sha256", rec.sha256), ("sha512", rec.sha512), ("size", str(rec.size)), ("media type", rec.media_type),
        ("received", rec.received_at), ("source", rec.source or ""), ("note", rec.note or ""),
        ("place", rec.place or ""), ("captured", rec.captured_at or m.capture_time or ""),
        ("kind", m.kind), ("container", m.container or ""),
        ("dimensions", f"{m.width}×{m.height}" if m.width and m.height else ""),
        ("duration", f"{m.duration_s:.1f} s" if m.duration_s else ""), ("codecs", ", ".join(m.codecs)),
        ("camera", " ".join(x for x in (m.camera_make, m.camera_model) if x)),
        ("warnings", "; ".join(m.warnings)),
    ]
    if rec.derivation is not None:
        facts.append(("derivation", json.dumps(rec.derivation.to_json(), ensure_ascii=False)[:300]))
    sensitive = None
    if scope.sees_gps:
        data = ws.sensitive_metadata(rec.sha256) or {}
        sensitive = tuple((str(k), json.dumps(v, ensure_ascii=False)[:300]) for k, v in sorted(data.items()))
    allowed = scope.visible_items(ws)
    kids = tuple(ItemRow.of(c) for c in ws.children(rec.sha256) if allowed is None or c.sha256 in allowed)
    incidents = tuple((i.id, i.title) for i in scope.incidents_of_item(ws, rec.sha256))
    history = tuple(EntryView.of(e) for e in ws.log(rec.sha256, exact=True))
    return ItemPage(ItemRow.of(rec), tuple((k, v) for k, v in facts if v), sensitive, history, kids, rec.parent,
                    incidents, tuple(sorted(rec.sidecars)))


async def item_page(request: Request, ctx: Ctx) -> Response:
    page = await ctx.call(_item_page, ctx.scope, request.path_params["item_id"])
    return ctx.render("item.html", page=page)


async def download_original(request: Request, ctx: Ctx) -> Response:
    """The unredacted original, decrypted on the fly; every download is in the custody log."""
    scope = ctx.scope

    def open_logged(ws: Workspace, item_id: str) -> tuple[ItemRecord, contextlib.ExitStack, Any]:
        rec = scope.item(ws, item_id)
        ws.log_action("web.download-original", [rec.sha256], {"user": scope.name})
        stack = contextlib.ExitStack()
        f = stack.enter_context(ws.open_original(rec.sha256))
        return rec, stack, f

    rec, stack, f = await ctx.call(open_logged, request.path_params["item_id"])

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await run_in_threadpool(f.read, 1 << 20)
                if not chunk:
                    break
                yield chunk
        finally:
            stack.close()

    safe = "".join(c for c in rec.name if c.isprintable() and c not in '"\\;')[:200] or "original"
    headers = {"content-disposition": f"attachment; filename*=UTF-8''{quote(safe)}",
               "content-length": str(rec.size)}
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


def _redact(ws: Workspace, scope: Scope, item_id: str, thorough: bool) -> str:
    """Redact an original with the library's defaults (``thorough``: and the second look), as
    ``witnessbox redact ID [--thorough]`` does.

    The custody entry carries the signed-in user: the session runs this under
    ``config.acting_as``. The copy is a draft: it goes out only once a reviewer approves it.
    """
    rec = scope.item(ws, item_id)
    if rec.parent is not None:
        raise InputError("this is already a redacted copy: redact its original")
    from ..redact.pipeline import RedactOptions  # numpy and the runtime: only when redacting

    opts = RedactOptions().thorough() if thorough else None
    return ws.redaction.redact_item(rec.sha256, options=opts).sha256


async def item_redact(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    sha = await ctx.call(_redact, ctx.scope, request.path_params["item_id"], form.get("thorough") == "1")
    return ctx.redirect(f"/items/{sha}")
