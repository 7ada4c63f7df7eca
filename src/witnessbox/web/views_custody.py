"""Custody log: entries with filters, one entry's inclusion proof (checked), ``verify``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InputError
from ..ledger.canonical import canonical_bytes
from ..ledger.verify import verify_inclusion_proof
from ..workspace import Workspace
from ..workspace.core import VerifyReport
from .views_items import EntryView

if TYPE_CHECKING:
    from .app import Ctx

PAGE = 200


@dataclass(frozen=True)
class ProofView:
    seq: int
    tree_size: int
    entry: EntryView
    proof_json: str
    verified: bool
    root_hash: str


def _entries(ws: Workspace, action: str, actor: str, obj: str) -> list[EntryView]:
    entries = ws.log(obj) if obj else ws.log()
    out = [EntryView.of(e) for e in entries
           if (not action or e.action.startswith(action)) and (not actor or e.actor == actor)]
    return out[-PAGE:][::-1]


async def custody_log(request: Request, ctx: Ctx) -> Response:
    q = request.query_params
    action, actor, obj = (str(q.get(k, ""))[:100].strip() for k in ("action", "actor", "object"))
    rows = await ctx.call(_entries, action, actor, obj)
    return ctx.render("custody.html", rows=rows, action=action, actor=actor, obj=obj, report=None)


def _proof(ws: Workspace, seq: int) -> ProofView:
    proof = ws.inclusion_proof(seq)
    data = canonical_bytes(proof.to_json())
    entry, cp = verify_inclusion_proof(data, ws.public_key_pem)
    return ProofView(seq, proof.tree_size, EntryView.of(entry), json.dumps(proof.to_json(), indent=1), True,
                     cp.root_hash)


async def custody_proof(request: Request, ctx: Ctx) -> Response:
    try:
        seq = int(request.path_params["seq"])
    except ValueError as e:
        raise InputError("an entry number is a whole number") from e
    view = await ctx.call(_proof, seq)
    return ctx.render("proof.html", proof=view)


async def custody_verify(request: Request, ctx: Ctx) -> Response:
    report: VerifyReport = await ctx.call(lambda ws: ws.verify())
    rows = await ctx.call(_entries, "", "", "")
    return ctx.render("custody.html", rows=rows, action="", actor="", obj="", report=report)
