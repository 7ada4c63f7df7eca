"""The documenters' app: built from the route table, every endpoint behind one guard.

The guard (:func:`_guarded`) does, in this order, for every request: rate-limit and session
lookup, role, region scope, re-authentication, CSRF (token bound to the session, compared with
``hmac.compare_digest``, and the Origin header). Errors of the one hierarchy in
:mod:`witnessbox.errors` become their HTTP status and a page in the user's language; any
other exception becomes a 500 page that shows nothing of it. :class:`SecurityHeaders` adds
the headers to every response, errors and static files included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from gettext import NullTranslations
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    AccessDeniedError,
    CsrfError,
    NotFoundError,
    NotSignedInError,
    RateLimitedError,
    WitnessboxError,
)
from ..workspace import Workspace
from ..workspace.access import Scope as UserScope
from .i18n import DEFAULT_LANG, LANGUAGES, format_span, format_when, translations
from .routes import ROUTES, SAFE_METHODS, Csrf, CsrfExemption, RouteSpec, check_table
from .sessions import REAUTH_VALID, Session, SessionElsewhere, SessionManager

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: Exactly what the pages need: own scripts, styles and images; forms and fetch to self.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
LANG_COOKIE = "wb_lang"


@dataclass(frozen=True)
class WebConfig:
    """How the app is served.

    Attributes:
        archive: The archive folder.
        secure_cookies: Mark cookies Secure and use the ``__Host-`` prefix (everything except
            plain HTTP on loopback).
        origin: The expected Origin (scheme://host:port) of state-changing requests; None
            accepts the request's own Host (loopback and behind a proxy that sets Host).
        hsts: Send Strict-Transport-Security (served over TLS).
        site: The folder editors publish the public site to from the publish page
            (``serve --site``); None: the page only previews and says how to set it.
        dropbox_inbox: The drop-box inbox whose submissions editors list and answer
            (``serve --dropbox-inbox``); None: the page says how to set it.
    """

    archive: Path
    secure_cookies: bool = False
    origin: str | None = None
    hsts: bool = False
    site: Path | None = None
    dropbox_inbox: Path | None = None

    @property
    def session_cookie(self) -> str:
        return "__Host-wb_session" if self.secure_cookies else "wb_session"

    @property
    def signin_cookie(self) -> str:
        return "__Host-wb_signin" if self.secure_cookies else "wb_signin"


class RateLimiter:
    """Sliding-window counters in memory: at most ``limit`` hits per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one attempt.

        Raises:
            RateLimitedError: Over the limit (the attempt is not counted).
        """
        now = self.clock()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and now - q[0] > self.window:
                q.popleft()
            if len(q) >= self.limit:
                raise RateLimitedError(str(int(self.window - (now - q[0])) + 1))
            q.append(now)


@dataclass
class AppState:
    config: WebConfig
    sessions: SessionManager
    templates: jinja2.Environment
    # sign-in and re-authentication: per account and per address (docs/web-security.md)
    per_account: RateLimiter = field(default_factory=lambda: RateLimiter(10, 15 * 60))
    per_address: RateLimiter = field(default_factory=lambda: RateLimiter(30, 15 * 60))
    public_ws: Workspace | None = None  # opened without any passphrase: reads public facts only


class Ctx:
    """What a handler gets besides the request: session, language, rendering, library calls."""

    def __init__(self, request: Request, state: AppState, route: RouteSpec, session: Session | None) -> None:
        self.request = request
        self.state = state
        self.route = route
        self.session = session
        self.lang = pick_language(request)
        self.tr: NullTranslations = translations(self.lang)
        self.set_cookies: list[tuple[str, str, int | None]] = []

    @property
    def scope(self) -> UserScope:
        if self.session is None:
            raise NotSignedInError()
        return self.session.scope

    def gettext(self, msg: str) -> str:
        return self.tr.gettext(msg)

    def ngettext(self, one: str, many: str, n: int) -> str:
        return self.tr.ngettext(one, many, n)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(ws, *args)`` in a worker thread with the session's unlocked workspace."""
        if self.session is None:
            raise NotSignedInError()
        return await run_in_threadpool(self.session.run, fn, *args, **kwargs)

    def render(self, template: str, status: int = 200, **view: Any) -> Response:
        """A page; the template gets only the view values passed here, and page basics."""
        t = self.state.templates.get_template(template)
        self.state.templates.install_gettext_translations(self.tr, newstyle=True)  # type: ignore[attr-defined]
        html = t.render(
            lang=self.lang, languages=LANGUAGES, user=self.session.scope if self.session else None,
            csrf_token=self.session.csrf_token if self.session else "", path=self.request.url.path,
            query=self.request.url.query, **view,
        )
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: Response) -> Response:
        for name, value, max_age in self.set_cookies:
            set_cookie(response, self.state.config, name, value, max_age)
        return response


def set_cookie(response: Response, config: WebConfig, name: str, value: str, max_age: int | None) -> None:
    if max_age == 0:
        response.delete_cookie(name, path="/", secure=config.secure_cookies, httponly=True, samesite="strict")
        return
    response.set_cookie(name, value, max_age=max_age, path="/", secure=config.secure_cookies, httponly=True,
                        samesite="strict")


def pick_language(request: Request) -> str:
    """The language cookie, else the first supported Accept-Language, else Belarusian."""
    c = request.cookies.get(LANG_COOKIE, "")
    if c in LANGUAGES:
        return c
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANG


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _origin_ok(request: Request, config: WebConfig) -> bool:
    """The request comes from this app's own pages.

    With ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` on form posts, so a
    missing or null Origin is accepted only when the browser's Fetch Metadata says
    ``Sec-Fetch-Site: same-origin``; any other Origin must equal the app's own.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return request.headers.get("sec-fetch-site") == "same-origin"
    expected = config.origin
    if expected is None:
        host = request.headers.get("host", "")
        expected = f"{request.url.scheme}://{host}"
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return False
    return hmac.compare_digest(origin.encode(), expected.encode())


async def _csrf_token_from(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header is not None:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    # Multipart bodies (uploads) are streamed by their handler: their token travels in the
    # query string, where it is compared the same way.
    return request.query_params.get("csrf_token", "")


def _check_csrf(spec: RouteSpec, request: Request, state: AppState, session: Session | None, token: str) -> None:
    if request.method in SAFE_METHODS:
        return
    if isinstance(spec.csrf, CsrfExemption):
        return
    if spec.csrf is Csrf.NONE:  # check_table forbids it; fail closed all the same
        raise CsrfError("no CSRF protection declared")
    if not _origin_ok(request, state.config):
        raise CsrfError("foreign origin")
    if spec.csrf is Csrf.TOKEN:
        if session is None or not token or not session.check_csrf(token):
            raise CsrfError()
    elif spec.csrf is Csrf.SIGNIN:
        cookie = request.cookies.get(state.config.signin_cookie, "")
        if not cookie or not token or not hmac.compare_digest(cookie.encode(), token.encode()):
            raise CsrfError()


def _guarded(spec: RouteSpec, state: AppState) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        ctx: Ctx | None = None
        try:
            session: Session | None = None
            if spec.role is not None:
                try:
                    session = state.sessions.get(request.cookies.get(state.config.session_cookie))
                except NotSignedInError as e:
                    if request.method in SAFE_METHODS:
                        # One clear message when another process of the app holds the session.
                        why = "&why=elsewhere" if isinstance(e, SessionElsewhere) else ""
                        return RedirectResponse(f"/signin?next={_safe_next(request.url.path)}{why}", status_code=303)
                    raise
            ctx = Ctx(request, state, spec, session)
            if session is not None and spec.role is not None:
                if not session.scope.allows(spec.role):
                    raise AccessDeniedError()
                if spec.scope == "all-regions" and session.scope.regions:
                    raise AccessDeniedError("this screen covers the whole archive")
            token = await _csrf_token_from(request)
            _check_csrf(spec, request, state, session, token)
            if session is not None:
                await _check_scope(spec, request, ctx)
                if spec.reauth and state.sessions.clock() - session.reauth_at > REAUTH_VALID:
                    if request.method in SAFE_METHODS:
                        return ctx.redirect(f"/reauth?next={_safe_next(request.url.path)}")
                    raise AccessDeniedError("confirm your passphrase and code first (re-authentication)")
            return await spec.endpoint(request, ctx)
        except WitnessboxError as e:
            return error_page(request, state, ctx, e)
        except Exception:  # noqa: BLE001 - never show internals; the log has them
            _log.exception("unexpected error on %s", spec.name)
            return error_page(request, state, ctx, None)

    return endpoint


async def _check_scope(spec: RouteSpec, request: Request, ctx: Ctx) -> None:
    """Region scoping of the path's object, before the handler (IDOR closed by the table)."""
    if spec.scope == "item_id":
        await ctx.call(ctx.scope.item, request.path_params["item_id"])
    elif spec.scope == "inc_id":
        await ctx.call(ctx.scope.incident, request.path_params["inc_id"])


def _safe_next(path: str) -> str:
    """A local path only (no scheme, no //host): open redirects lead to phishing."""
    from urllib.parse import quote

    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return quote(path, safe="/")


def safe_next(value: str | None) -> str:
    """``next`` parameter made safe to redirect to."""
    if not value:
        return "/"
    return _safe_next(value.split("?")[0])


_TITLES = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Busy",
    423: "Account locked",
    429: "Too many attempts",
}


def error_page(request: Request, state: AppState, ctx: Ctx | None, e: WitnessboxError | None) -> Response:
    status = e.http_status if e is not None else 500
    if ctx is None:
        spec = ROUTES[0]
        ctx = Ctx(request, state, spec, None)
    if isinstance(e, NotSignedInError):
        ctx.set_cookies.append((state.config.session_cookie, "", 0))
    title = ctx.gettext(_TITLES.get(status, "Something went wrong" if status >= 500 else "This did not work"))
    # Client errors say what to do; integrity failures show full detail (a court-facing tool
    # never hides what is broken); other server errors show nothing of their internals.
    message = e.message if e is not None and (status < 500 or e.exit_code == 10) else ""
    if isinstance(e, NotFoundError):
        message = ""  # the same answer for "absent" and "not yours"
    return ctx.render("error.html", status=status, title=title, message=message, status_code=status)


class SecurityHeaders:
    """Adds the security headers to every response (pure ASGI: errors and assets included)."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
                    (b"cache-control", b"private, max-age=3600" if static else b"no-store"),
                ]
                if self.config.hsts:
                    headers.append((b"strict-transport-security", b"max-age=63072000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OURS = {b"content-security-policy", b"x-content-type-options", b"x-frame-options", b"referrer-policy",
         b"cross-origin-opener-policy", b"cross-origin-resource-policy", b"permissions-policy", b"cache-control",
         b"strict-transport-security"}


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("witnessbox.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.filters["when"] = format_when
    env.filters["when_span"] = format_span
    return env


def create_app(config: WebConfig, *, sessions: SessionManager | None = None) -> ASGIApp:
    """The app for one archive (the archive must exist).

    Raises:
        NoArchiveError: No archive at ``config.archive``.
        RuntimeError: The route table has an unprotected unsafe route.
    """
    check_table(ROUTES)
    public_ws = Workspace.open(config.archive, None)
    accounts = public_ws.accounts
    manager = sessions or SessionManager(accounts)
    state = AppState(config, manager, _templates(), public_ws=public_ws)
    routes = [Route(r.path, _guarded(r, state), methods=list(r.methods)) for r in ROUTES]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_page(request, state, None, NotFoundError("no such page"))

    async def bad_method(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("method not allowed", status_code=405)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def sweep() -> None:
            # Idle sessions lose their keys even if nobody comes back to trip the timeout.
            while True:
                await asyncio.sleep(30)
                manager.sweep()

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            # Stopping the server forgets every unlocked key.
            manager.end_all()
            public_ws.close()

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: bad_method}, lifespan=lifespan)
    app.state.witnessbox = state
    return SecurityHeaders(app, config)


def new_signin_token() -> str:
    return secrets.token_urlsafe(32)
