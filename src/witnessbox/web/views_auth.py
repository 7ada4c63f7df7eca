"""Signing in and out, re-authentication, language, health and the app's own assets."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .. import config
from ..errors import NotFoundError, SignInError, WitnessboxError
from ..workspace import Workspace
from ..workspace.access import Scope
from ..workspace.accounts import SignedIn

if TYPE_CHECKING:
    from .app import Ctx

_ASSETS = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml"}


async def healthz(request: Request, ctx: Ctx) -> Response:
    return PlainTextResponse("ok")


async def static(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    if name not in _ASSETS:
        raise NotFoundError("no such file")
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return Response(data, media_type=_ASSETS[name])


async def set_language(request: Request, ctx: Ctx) -> Response:
    from .app import LANG_COOKIE, safe_next
    from .i18n import LANGUAGES

    lang = request.query_params.get("lang", "")
    if lang in LANGUAGES:
        ctx.set_cookies.append((LANG_COOKIE, lang, 365 * 86400))
    return ctx.redirect(safe_next(request.query_params.get("next")))


async def signin_form(request: Request, ctx: Ctx, *, error: str = "", status: int = 200) -> Response:
    from .app import new_signin_token, safe_next

    cookie_name = ctx.state.config.signin_cookie
    token = request.cookies.get(cookie_name, "")
    if len(token) < 40:
        token = new_signin_token()
    if not error and request.query_params.get("why") == "elsewhere":
        error = ctx.gettext("Your session is held by another server of this web app, which alone holds its keys:"
                            " sign in again here.")
    ctx.set_cookies.append((cookie_name, token, 3600))
    return ctx.render("signin.html", status=status, signin_token=token, error=error,
                      next=safe_next(request.query_params.get("next")))


def _open_for(archive_root: object, signed: SignedIn, database_url: str | None) -> Workspace:
    """The user's own workspace, unlocked with the passphrase their account unwrapped, on the
    catalog (and accounts) database the app started with."""
    from pathlib import Path

    ws = Workspace.open(Path(str(archive_root)), signed.archive_passphrase, database_url=database_url)
    try:
        ws.unlock()
        # Failures noted while no key could sign: the tried name is in the details, the
        # server is the actor (the person who tried is unknown).
        with config.acting_as("web-server"):
            ws.accounts.flush_pending_events()
        with config.acting_as(signed.account.name):
            ws.log_action("web.signin", [], {"user": signed.account.name, "recovery_code": signed.used_recovery_code})
    except BaseException:
        ws.close()
        raise
    return ws


async def signin(request: Request, ctx: Ctx) -> Response:
    from .app import client_address, safe_next

    form = await request.form()
    name = str(form.get("name", ""))[:64].strip().lower()
    passphrase = str(form.get("passphrase", ""))
    code = str(form.get("code", ""))[:32]
    address = client_address(request)
    state = ctx.state
    state.per_address.hit(address)
    state.per_account.hit(name)
    accounts = state.public_ws.accounts if state.public_ws else None
    assert accounts is not None
    try:
        signed = await run_in_threadpool(accounts.authenticate, name, passphrase, code, address=address,
                                         now=state.sessions.clock())
    except SignInError as e:
        return await signin_form(request, ctx, error=_signin_message(ctx, e), status=e.http_status)
    assert state.public_ws is not None
    ws = await run_in_threadpool(_open_for, state.config.archive, signed, state.public_ws.database_url)
    # A new id every time: a cookie planted before sign-in never becomes a session.
    old = request.cookies.get(state.config.session_cookie)
    if old:
        try:
            state.sessions.end(state.sessions.get(old))
        except WitnessboxError:
            pass
    sid, _session = state.sessions.create(Scope.of(signed.account), ws, address)
    ctx.set_cookies.append((state.config.session_cookie, sid, None))
    ctx.set_cookies.append((state.config.signin_cookie, "", 0))
    return ctx.redirect(safe_next(str(form.get("next", "/"))))


def _signin_message(ctx: Ctx, e: SignInError) -> str:
    from ..errors import AccountLockedError

    if isinstance(e, AccountLockedError):
        return ctx.gettext("Too many failed attempts: this account is locked for a while, or until an admin unlocks it.")
    return ctx.gettext("The name, passphrase or code is wrong.")


async def home(request: Request, ctx: Ctx) -> Response:
    return ctx.redirect("/items")


async def _end(ctx: Ctx, action: str) -> None:
    s = ctx.session
    if s is None:
        return
    try:
        await ctx.call(lambda ws: ws.log_action(action, [], {"user": s.name}))
    finally:
        ctx.state.sessions.end(s)
    ctx.set_cookies.append((ctx.state.config.session_cookie, "", 0))


async def signout(request: Request, ctx: Ctx) -> Response:
    await _end(ctx, "web.signout")
    return ctx.redirect("/signin")


async def lock_now(request: Request, ctx: Ctx) -> Response:
    await _end(ctx, "web.lock")
    return ctx.redirect("/signin")


async def signout_everywhere(request: Request, ctx: Ctx) -> Response:
    s = ctx.session
    assert s is not None
    await ctx.call(lambda ws: ws.accounts.end_sessions(s.name))
    await _end(ctx, "web.signout-everywhere")
    ctx.state.sessions.end_user(s.name)
    return ctx.redirect("/signin")


async def reauth_form(request: Request, ctx: Ctx, *, error: str = "", status: int = 200) -> Response:
    from .app import safe_next

    return ctx.render("reauth.html", status=status, error=error, next=safe_next(request.query_params.get("next")))


async def reauth(request: Request, ctx: Ctx) -> Response:
    from .app import client_address, safe_next

    s = ctx.session
    assert s is not None
    form = await request.form()
    ctx.state.per_address.hit(client_address(request))
    ctx.state.per_account.hit(s.name)
    try:
        await ctx.call(lambda ws: ws.accounts.authenticate(s.name, str(form.get("passphrase", "")),
                                                           str(form.get("code", ""))[:32],
                                                           address=client_address(request),
                                                           now=ctx.state.sessions.clock()))
    except SignInError as e:
        return await reauth_form(request, ctx, error=_signin_message(ctx, e), status=e.http_status)
    s.reauth_at = ctx.state.sessions.clock()
    await ctx.call(lambda ws: ws.log_action("web.reauth", [], {"user": s.name}))
    return ctx.redirect(safe_next(str(form.get("next", "/"))))
