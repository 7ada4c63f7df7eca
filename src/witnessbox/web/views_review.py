"""The redaction review screen (issue 12): a thin shell over ``ws.review``.

The page shows the original with every region drawn over it (``static/review.js`` draws;
the lists and the decide / save / approve forms work without JavaScript). Frames are served
by index, one request each, as JPEG decoded in memory from the decrypted stream; every frame
of the original served is recorded as shown (``Review.show``), which approval requires.
Opening the review is logged by the library (``review.open``, the reviewer as actor).

Safety (docs/web-security.md, docs/review.md):

* Every route needs the reviewer role (editors and admins include it) and is scoped by
  ``item_id``; the frame route is a POST with the session's CSRF token, because serving a
  frame changes the review (it is recorded as shown), and so that no link, image tag or
  prefetch of another site can pull a frame.
* Responses carry ``Cache-Control: no-store`` (the app's security headers).
* One open review and one frame reader per signed-in session (so stepping continues decoding
  instead of starting over), which decodes and encodes the next ``PREFETCH_AHEAD`` frames in
  the background while a frame is on screen (bounded, in memory; a jump cancels it). The reader holds the
  decrypted stream in memory only; it is closed (and its decoding ahead stopped) when the
  session opens another review, and swept when its session ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import InputError, NotFoundError, ReviewError, UsageError, WitnessboxError
from ..workspace import Workspace
from ..workspace.access import Scope
from ..workspace.review import WINDOW_RADIUS, Review

if TYPE_CHECKING:
    from .app import Ctx
    from .sessions import Session

_ASSETS = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}
SHOW_BATCH = 10
SHOW_EVERY = 1.0
PREFETCH_AHEAD = 8
"""Frames decoded ahead of the one on screen while the reviewer looks at it (media/prefetch.py)."""


# -- one live review per session -------------------------------------------------------------------


@dataclass(eq=False)
class _Live:
    """An open review and, once a frame was asked for, its frame reader (kept open)."""

    item: str
    review: Review
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    send: Callable[[int], bytes] | None = None
    unrecorded: set[int] = field(default_factory=set)
    recorded_at: float = 0.0

    def shown(self, n: int) -> None:
        """Frame ``n`` was served. Recorded through ``Review.show`` in batches: each call
        rewrites the review's draft (all its edits), which per frame would cost more than the
        frame itself on long reviews. Frames not yet recorded when a server dies simply count
        as not shown (fail closed)."""
        self.unrecorded.add(n)
        if len(self.unrecorded) >= SHOW_BATCH or time.monotonic() - self.recorded_at > SHOW_EVERY:
            self.flush()

    def flush(self) -> None:
        """Record the frames served so far (before anything reads the status)."""
        if self.unrecorded:
            self.review.show(sorted(self.unrecorded))
            self.unrecorded.clear()
        self.recorded_at = time.monotonic()

    def close(self) -> None:
        self.send = None
        self.stack.close()


_LIVE: dict[str, tuple[Session, _Live]] = {}
_LIVE_LOCK = threading.Lock()


def _sweep() -> None:
    """Close the readers of sessions that ended (their keys are gone; so must the plaintext)."""
    with _LIVE_LOCK:
        dead = [k for k, (s, _) in _LIVE.items() if s.ws is None]
        gone = [_LIVE.pop(k)[1] for k in dead]
    for live in gone:
        with contextlib.suppress(Exception):
            live.close()


def _session(ctx: Ctx) -> Session:
    from ..errors import NotSignedInError

    if ctx.session is None:
        raise NotSignedInError()
    return ctx.session


def _live(ws: Workspace, session: Session, scope: Scope, item_id: str, *, fresh: bool) -> _Live:
    """The session's open review of ``item_id`` (opened, and logged, when ``fresh`` or when the
    session has none of it). Runs under the session's lock (``Ctx.call``)."""
    rec = scope.item(ws, item_id)
    with _LIVE_LOCK:
        cur = _LIVE.get(session.id_hash)
    if cur is not None and cur[1].item == rec.sha256 and not fresh:
        return cur[1]
    if cur is not None:
        cur[1].flush()
    review = ws.review.open(rec.sha256, scope.name, log=True)
    live = _Live(rec.sha256, review)
    with _LIVE_LOCK:
        old = _LIVE.pop(session.id_hash, None)
        _LIVE[session.id_hash] = (session, live)
    if old is not None:
        old[1].close()
    return live


# -- views ---------------------------------------------------------------------------------------


def state_json(rv: Review, around: int = 0) -> dict[str, Any]:
    """Everything the screen draws, with the keys of the frames around ``around`` only
    (``Review.state_doc``; the script asks for other windows through ``review/keys``)."""
    return rv.state_doc(around)


@dataclass(frozen=True)
class ReviewPage:
    item: str
    name: str
    kind: str
    state: dict[str, Any]
    state_text: str


def _page(ws: Workspace, session: Session, scope: Scope, item_id: str) -> ReviewPage:
    live = _live(ws, session, scope, item_id, fresh=True)
    st = state_json(live.review)
    return ReviewPage(item_id, live.review.derivative.name, live.review.kind, st, json.dumps(st, separators=(",", ":")))


async def review_page(request: Request, ctx: Ctx, *, message: str = "", status: int = 200) -> Response:
    _sweep()
    item_id = request.path_params["item_id"]
    try:
        page = await ctx.call(_page, _session(ctx), ctx.scope, item_id)
    except (NotFoundError, InputError) as e:
        # Nothing to review (no redacted copy yet, not a photo or video) or a copy refused
        # (regions of another original): say so on the page. The item's own scoping was
        # checked before the handler, so this is not an answer about someone else's item.
        return ctx.render("review_none.html", status=200 if isinstance(e, NotFoundError) else e.http_status,
                          item_id=item_id, message=e.message)
    done = "" if message else request.query_params.get("done", "")
    msg = message or {"saved": ctx.gettext("Saved: a new redacted copy was sealed; the review continues on it."),
                      "approved": ctx.gettext("Approved.")}.get(done, "")
    return ctx.render("review.html", status=status, page=page, message=msg, ok=bool(done) and bool(msg))


async def _body(request: Request) -> tuple[dict[str, Any], bool]:
    """The request's fields and whether it came from the script (JSON) or a plain form."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        raw = await request.body()
        if len(raw) > 1 << 20:
            raise UsageError("request too large")
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError as e:
            raise UsageError("malformed request") from e
        if not isinstance(data, dict):
            raise UsageError("malformed request")
        return data, True
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}, False


def _int(d: Mapping[str, Any], k: str, default: int | None = None) -> int:
    v = d.get(k, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        raise UsageError(f"{k} must be a whole number") from None


def _box(d: Mapping[str, Any]) -> tuple[float, float, float, float]:
    v = d.get("box")
    if isinstance(v, str):
        v = v.split(",")
    if not isinstance(v, list) or len(v) != 4:
        raise UsageError("box must be four numbers x0,y0,x1,y1")
    try:
        x0, y0, x1, y1 = (float(x) for x in v)
    except (TypeError, ValueError):
        raise UsageError("box must be four numbers x0,y0,x1,y1") from None
    return (x0, y0, x1, y1)


def _str(d: Mapping[str, Any], k: str) -> str:
    v = d.get(k, "")
    if not isinstance(v, str):
        raise UsageError(f"{k} must be text")
    return v[:2000]


def _apply(rv: Review, d: Mapping[str, Any]) -> None:
    op = _str(d, "op")
    track = _str(d, "track")
    if op == "add_region":
        shape = _str(d, "shape") or "box"
        rv.add_region(_int(d, "frame", 0), _box(d), shape)
    elif op == "set_key":
        rv.set_key(track, _int(d, "frame", 0), _box(d), _str(d, "shape") or None)
    elif op == "extend":
        rv.extend(track, _int(d, "frame"))
    elif op == "delete_frame":
        rv.delete_frame(track, _int(d, "frame"), _str(d, "reason"))
    elif op == "delete_track":
        rv.delete_track(track, _str(d, "reason"))
    elif op == "accept":
        rv.accept(track)
    elif op == "reject":
        rv.reject(track, _str(d, "reason"))
    elif op == "split":
        rv.split(track, _int(d, "frame"))
    elif op == "merge":
        rv.merge(track, _str(d, "other"))
    elif op == "make_static":
        rv.make_static(track, _int(d, "frame"))
    elif op == "hide_suggestion":
        rv.hide_suggestion(_str(d, "suggestion"))
    elif op == "dismiss_suggestion":
        rv.dismiss_suggestion(_str(d, "suggestion"), _str(d, "reason"))
    elif op == "undo":
        rv.undo()
    elif op == "redo":
        rv.redo()
    else:
        raise UsageError(f"unknown edit {op[:40]!r}")


def _edit(ws: Workspace, session: Session, scope: Scope, item_id: str, d: Mapping[str, Any]) -> dict[str, Any]:
    live = _live(ws, session, scope, item_id, fresh=False)
    live.flush()
    _apply(live.review, d)
    return state_json(live.review, _int(d, "at", 0))


def _error_json(e: WitnessboxError) -> Response:
    return JSONResponse({"error": e.message}, status_code=e.http_status)


async def review_op(request: Request, ctx: Ctx) -> Response:
    """One edit (JSON from the script: answers the new state; a form: back to the page)."""
    item_id = request.path_params["item_id"]
    d, is_json = await _body(request)
    try:
        st = await ctx.call(_edit, _session(ctx), ctx.scope, item_id, d)
    except (InputError, UsageError, ReviewError) as e:
        if is_json:
            return _error_json(e)
        return await review_page(request, ctx, message=e.message, status=e.http_status)
    if is_json:
        return JSONResponse(st)
    return ctx.redirect(f"/items/{item_id}/review")


def _keys(ws: Workspace, session: Session, scope: Scope, item_id: str, first: int, last: int) -> dict[str, Any]:
    live = _live(ws, session, scope, item_id, fresh=False)
    return live.review.window_doc(first, last)


async def review_keys(request: Request, ctx: Ctx) -> Response:
    """The keys needed to draw frames ``first..last`` (``Review.window_doc``): the script
    asks for the next window before the player reaches the edge of the one it has. Without
    ``first`` the window starts at frame 0; without ``last`` it is as wide as the page's."""
    item_id = request.path_params["item_id"]
    q = request.query_params
    try:
        first = _int(q, "first", 0)
        last = _int(q, "last", first + 2 * WINDOW_RADIUS)
        doc = await ctx.call(_keys, _session(ctx), ctx.scope, item_id, first, last)
    except (InputError, UsageError, ReviewError, NotFoundError) as e:
        return _error_json(e)
    return JSONResponse(doc)


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb[..., :3])).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _frame(ws: Workspace, session: Session, scope: Scope, item_id: str, n: int, view: str) -> bytes:
    live = _live(ws, session, scope, item_id, fresh=False)
    rv = live.review
    if not 0 <= n < rv.frames:
        raise InputError(f"no frame {n}: the copy has frames 0..{rv.frames - 1}")
    if view == "redacted":
        return _jpeg(rv.preview(n))
    if live.send is None:
        live.send = live.stack.enter_context(rv.encoded_frames(_jpeg, ahead=PREFETCH_AHEAD))
    data = live.send(n)
    live.shown(n)
    return data


async def review_frame(request: Request, ctx: Ctx) -> Response:
    """Frame ``n`` of the original (recorded as shown) or as saving now would render it."""
    _sweep()
    item_id = request.path_params["item_id"]
    d, _ = await _body(request)
    try:
        n = _int(d, "n", 0)
        view = "redacted" if d.get("view") == "redacted" else "original"
        data = await ctx.call(_frame, _session(ctx), ctx.scope, item_id, n, view)
    except (InputError, UsageError, ReviewError) as e:
        return _error_json(e)
    return Response(data, media_type="image/jpeg", headers={"x-frame": str(n)})


def _save(ws: Workspace, session: Session, scope: Scope, item_id: str) -> str:
    live = _live(ws, session, scope, item_id, fresh=False)
    live.flush()
    new = live.review.save()
    assert new.parent is not None
    return new.parent


async def review_save(request: Request, ctx: Ctx) -> Response:
    """Save: regions file -> re-render -> a new sealed copy (the reviewer is the actor)."""
    item_id = request.path_params["item_id"]
    d, is_json = await _body(request)
    try:
        original = await ctx.call(_save, _session(ctx), ctx.scope, item_id)
    except (InputError, UsageError, ReviewError) as e:
        if is_json:
            return _error_json(e)
        return await review_page(request, ctx, message=e.message, status=e.http_status)
    if is_json:
        return JSONResponse({"saved": True})
    # The review continues on the new copy: the original's review page opens the newest one.
    return ctx.redirect(f"/items/{original}/review?done=saved")


def _approve(ws: Workspace, session: Session, scope: Scope, item_id: str) -> str:
    live = _live(ws, session, scope, item_id, fresh=False)
    live.flush()
    return live.review.approve().item


async def review_approve(request: Request, ctx: Ctx) -> Response:
    """Approve, refused with the reasons until everything is decided, shown and saved."""
    item_id = request.path_params["item_id"]
    d, is_json = await _body(request)
    try:
        await ctx.call(_approve, _session(ctx), ctx.scope, item_id)
    except ReviewError as e:
        if is_json:
            return _error_json(e)
        return await review_page(request, ctx, message=e.message, status=e.http_status)
    if is_json:
        return JSONResponse({"approved": True})
    return ctx.redirect(f"/items/{item_id}/review?done=approved")


async def review_static(request: Request, ctx: Ctx) -> Response:
    """The review screen's own script and style (shipped in the package)."""
    name = request.path_params["name"]
    if name not in _ASSETS:
        from .views_auth import static

        return await static(request, ctx)  # the app's own assets (same folder)
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return Response(data, media_type=_ASSETS[name])
