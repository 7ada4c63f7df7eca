"""Drop-box replies from the staff app: the submissions of the server's inbox and a reply form.

A thin shell over ``ws.dropbox`` (``witnessbox dropbox list`` / ``reply``): the reply is
encrypted so that only the holder of the submission's codename can read it, and logged
(``dropbox.reply``) with the signed-in user as actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InputError, NotFoundError

if TYPE_CHECKING:
    from .app import Ctx

MAX_REPLY = 20_000


async def _page(ctx: Ctx, status: int = 200, error: str = "", done: str = "", message: str = "",
                selected: str = "") -> Response:
    inbox = ctx.state.config.dropbox_inbox
    rows = []
    if inbox is not None:
        rows = await ctx.call(lambda ws: ws.dropbox.list(inbox))
    return ctx.render("dropbox.html", status=status, inbox=str(inbox) if inbox else "", submissions=rows,
                      error=error, done=done, message=message, selected=selected)


async def dropbox_page(request: Request, ctx: Ctx) -> Response:
    return await _page(ctx)


async def dropbox_reply(request: Request, ctx: Ctx) -> Response:
    inbox = ctx.state.config.dropbox_inbox
    if inbox is None:
        raise InputError("no drop-box inbox is set: start the server with witnessbox serve --dropbox-inbox DIR")
    form = await request.form()
    submission = str(form.get("submission", ""))[:200].strip()
    message = str(form.get("message", ""))[:MAX_REPLY]
    try:
        # Only submissions of this inbox can be answered (the list the page shows).
        known = {s.id for s in await ctx.call(lambda ws: ws.dropbox.list(inbox))}
        if submission not in known:
            raise NotFoundError(f"no submission {submission[:40]!r} in the drop-box inbox")
        reply_id = await ctx.call(lambda ws: ws.dropbox.reply(submission, message, inbox=inbox))
    except (InputError, NotFoundError) as e:
        return await _page(ctx, status=e.http_status, error=e.message, message=message, selected=submission)
    return await _page(ctx, done=ctx.gettext("Reply sent: %(id)s") % {"id": reply_id})
