"""The drop box's public web app (Starlette), separate from the staff app: its own config,
headers, templates and sessions.

Security defaults, applied to every response by :func:`_secure`: a CSP that allows no script
at all (the pages need none), no framing, no referrer, no caching, no ``Server`` header. The
route table :data:`ROUTES` is data: each route says whether it needs a session and how its
unsafe method is protected against cross-site requests; the security tests iterate over it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...dropbox import Inbox, Limits, RateLimiter, SourceKeys, generate
from ...errors import InputError, RateLimitError, SizeLimitError, WitnessboxError
from . import i18n
from .i18n import N_
from .sessions import COOKIE, NotSignedIn, Session, SessionError, SessionExpired, SessionManager
from .upload import CsrfFailure, receive

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own forms.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


@dataclass(frozen=True)
class DropBoxConfig:
    """Settings of the public server (``witnessbox dropbox serve``)."""

    inbox: Path
    recipient: str
    limits: Limits = Limits()
    secure_cookie: bool = False
    session_idle: float = 30 * 60
    signin_per_minute: int = 10          # all sign-in attempts together (Tor: one address for all)
    failed_signins_per_hour: int = 60    # wrong codenames, all together
    codenames_per_hour: int = 120        # new codenames issued
    submissions_per_hour: int = 20       # per codename
    attempts_per_codename_hour: int = 20  # sign-ins per codename


@dataclass
class _State:
    config: DropBoxConfig
    inbox: Inbox
    sessions: SessionManager
    token_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    signin: RateLimiter = field(init=False)
    failed: RateLimiter = field(init=False)
    codenames: RateLimiter = field(init=False)
    submits: RateLimiter = field(init=False)
    per_codename: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.signin = RateLimiter(c.signin_per_minute, 60)
        self.failed = RateLimiter(c.failed_signins_per_hour, 3600)
        self.codenames = RateLimiter(c.codenames_per_hour, 3600)
        self.submits = RateLimiter(c.submissions_per_hour, 3600)
        self.per_codename = RateLimiter(c.attempts_per_codename_hour, 3600)


Csrf = Literal["none", "session-token", "codename-token", "origin"]


@dataclass(frozen=True)
class RouteSpec:
    """One route: ``auth`` says whether a session is needed; ``csrf`` how a POST is protected
    (``session-token``: the session's token; ``codename-token``: an HMAC the server put in the
    codename page; ``origin``: pre-session forms, Origin checked; ``none``: GET only)."""

    path: str
    name: str
    methods: tuple[str, ...]
    auth: Literal["public", "source"]
    csrf: Csrf


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("/", "root", ("GET",), "public", "none"),
    RouteSpec("/favicon.ico", "favicon", ("GET",), "public", "none"),
    RouteSpec("/{lang}/", "index", ("GET",), "public", "none"),
    RouteSpec("/{lang}/new", "new", ("GET",), "public", "none"),
    RouteSpec("/{lang}/create", "create", ("POST",), "public", "codename-token"),
    RouteSpec("/{lang}/login", "login", ("POST",), "public", "origin"),
    RouteSpec("/{lang}/source", "source", ("GET",), "source", "none"),
    RouteSpec("/{lang}/submit", "submit", ("POST",), "source", "session-token"),
    RouteSpec("/{lang}/logout", "logout", ("POST",), "source", "session-token"),
)


class _Refused(Exception):
    def __init__(self, status: int, title: str, message: str, **fmt: Any) -> None:
        self.status, self.title, self.message, self.fmt = status, title, message, fmt


def _secure(resp: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        resp.headers[k] = v
    return resp


def _lang(request: Request) -> str:
    lang = str(request.path_params.get("lang", ""))
    if lang not in i18n.CODES:
        raise _Refused(404, N_("Page not found"), N_("Page not found."))
    return lang


def _render(lang: str, template: str, status: int = 200, **ctx: Any) -> Response:
    env = i18n.environment(lang)
    html = env.get_template(template).render(lang=lang, languages=i18n.LANGUAGES, **ctx)
    return _secure(HTMLResponse(html, status_code=status))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _check_origin(request: Request) -> None:
    """A cross-site POST is refused: the Origin (when the browser sends one) must be this site."""
    origin = request.headers.get("origin")
    if origin is None:  # old clients; session forms still need their token
        return
    host = request.headers.get("host", "")
    if not (_same(origin, f"http://{host}") or _same(origin, f"https://{host}")):
        raise CsrfFailure()


def _codename_token(st: _State, codename: str) -> str:
    return hmac.new(st.token_key, b"codename\0" + codename.encode(), hashlib.sha256).hexdigest()


def _session(st: _State, request: Request) -> Session:
    return st.sessions.get(request.cookies.get(COOKIE))


def _set_cookie(st: _State, resp: Response, session: Session | None) -> Response:
    if session is None:
        resp.delete_cookie(COOKIE, path="/", secure=st.config.secure_cookie, httponly=True, samesite="strict")
    else:
        # No Max-Age: a browser session cookie, gone when the browser closes.
        resp.set_cookie(COOKIE, session.id, path="/", secure=st.config.secure_cookie, httponly=True,
                        samesite="strict")
    return resp


def _limits_ctx(st: _State) -> dict[str, int]:
    lim = st.config.limits
    return {"max_files": lim.max_files, "file_mb": lim.max_file // 2**20, "total_mb": lim.max_total // 2**20,
            "strip_mb": lim.strip_in_memory // 2**20}


async def _derive(st: _State, codename: str) -> SourceKeys | None:
    return await anyio.to_thread.run_sync(st.inbox.derive, codename)


# -- handlers -----------------------------------------------------------------------------------
async def root(st: _State, request: Request) -> Response:
    return _secure(RedirectResponse(f"/{i18n.negotiate(request.headers.get('accept-language'))}/", 303))


async def favicon(st: _State, request: Request) -> Response:
    return _secure(Response(status_code=204))  # browsers ask for it; a 404 would be noise


async def index(st: _State, request: Request) -> Response:
    return _render(_lang(request), "index.html")


async def new(st: _State, request: Request) -> Response:
    lang = _lang(request)
    if not st.codenames.allow("new"):
        raise RateLimitError("codenames")
    code = generate()
    return _render(lang, "codename.html", codename=code, token=_codename_token(st, code))


async def create(st: _State, request: Request) -> Response:
    lang = _lang(request)
    form = await request.form(max_files=0, max_fields=5)
    code, token = str(form.get("codename", "")), str(form.get("token", ""))
    if not code or not _same(token, _codename_token(st, code)):
        raise CsrfFailure()
    if not st.codenames.allow("create"):  # a replayed page would cost an Argon2id run each time
        raise RateLimitError("codenames")
    keys = await _derive(st, code)
    if keys is None:
        raise CsrfFailure()
    st.inbox.register_source(keys)
    session = st.sessions.create(keys)
    return _set_cookie(st, _secure(RedirectResponse(f"/{lang}/source", 303)), session)


async def login(st: _State, request: Request) -> Response:
    lang = _lang(request)
    _check_origin(request)
    form = await request.form(max_files=0, max_fields=5)
    code = str(form.get("codename", ""))[:400]
    if st.failed.blocked("signin") or not st.signin.allow("signin"):
        raise RateLimitError("sign-in")
    keys = await _derive(st, code)
    if keys is not None and not st.per_codename.allow(keys.lookup):
        raise RateLimitError("sign-in")
    if keys is None or not st.inbox.source_exists(keys.lookup):
        st.failed.allow("signin")
        raise _Refused(403, N_("Sign-in failed"), N_("That codename is not known here. Check the words and try again."))
    session = st.sessions.create(keys)
    return _set_cookie(st, _secure(RedirectResponse(f"/{lang}/source", 303)), session)


async def source(st: _State, request: Request) -> Response:
    lang = _lang(request)
    session = _session(st, request)
    replies = await anyio.to_thread.run_sync(st.inbox.replies, session.keys)
    sent = session.flash == "sent"
    session.flash = ""
    return _render(lang, "source.html", csrf=session.csrf, sent=sent,
                   replies=[(r.day, r.text) for r in replies], **_limits_ctx(st))


async def submit(st: _State, request: Request) -> Response:
    lang = _lang(request)
    _check_origin(request)
    session = _session(st, request)
    length = int(request.headers.get("content-length") or 0)
    if length > st.config.limits.max_total + 1024 * 1024:
        raise SizeLimitError("upload")
    if not st.submits.allow(session.keys.lookup):
        raise RateLimitError("submissions")
    await receive(request.stream(), request.headers.get("content-type", ""), inbox=st.inbox, keys=session.keys,
                  csrf=session.csrf, language=lang, limits=st.config.limits, compare=_same)
    session.flash = "sent"
    return _secure(RedirectResponse(f"/{lang}/source", 303))


async def logout(st: _State, request: Request) -> Response:
    lang = _lang(request)
    _check_origin(request)
    session = _session(st, request)
    form = await request.form(max_files=0, max_fields=5)
    if not _same(str(form.get("csrf", "")), session.csrf):
        raise CsrfFailure()
    st.sessions.end(session.id)
    return _set_cookie(st, _secure(RedirectResponse(f"/{lang}/", 303)), None)


_HANDLERS: dict[str, Callable[[_State, Request], Awaitable[Response]]] = {
    "root": root, "favicon": favicon, "index": index, "new": new, "create": create, "login": login, "source": source,
    "submit": submit, "logout": logout,
}


def _error_page(st: _State, request: Request, e: BaseException) -> Response:
    lang = str(request.path_params.get("lang", ""))
    if lang not in i18n.CODES:
        lang = i18n.DEFAULT
    lim = _limits_ctx(st)
    if isinstance(e, _Refused):
        status, title, message, fmt = e.status, e.title, e.message, e.fmt
    elif isinstance(e, NotSignedIn):
        status, title, message, fmt = 401, N_("Signed out"), N_("Sign in with your codename first."), {}
    elif isinstance(e, SessionExpired):
        status, title, message, fmt = 401, N_("Signed out"), N_("Your session has ended. Sign in again with your codename."), {}
    elif isinstance(e, CsrfFailure):
        status, title, message, fmt = 403, N_("Form expired"), N_("This form has expired. Go back, reload the page and try again."), {}
    elif isinstance(e, RateLimitError):
        status, title, message, fmt = 429, N_("Too many attempts"), N_("Too many attempts. Please wait a while and try again."), {}
    elif isinstance(e, SizeLimitError) and "metadata" in e.detail:
        status, title = 413, N_("Not sent")
        message, fmt = N_("Hidden data can be removed only from photos and videos up to %(mb)s MB. Nothing was kept; "
                        "untick the box to send larger files as they are."), {"mb": lim["strip_mb"]}
    elif isinstance(e, SizeLimitError):
        status, title = 413, N_("Not sent")
        message = N_("Too large: at most %(files)s files, each at most %(file_mb)s MB and all together at most "
                   "%(total_mb)s MB; the statement at most 100000 characters. Nothing was kept; please try again "
                   "with fewer or smaller files.")
        fmt = {"files": lim["max_files"], "file_mb": lim["file_mb"], "total_mb": lim["total_mb"]}
    elif isinstance(e, InputError) and "nothing to send" in e.detail:
        status, title, message, fmt = 400, N_("Not sent"), N_("Nothing to send: choose a file or write a statement."), {}
    elif isinstance(e, InputError):
        status, title = 422, N_("Not sent")
        message = N_("A photo or video could not be read to remove its hidden data (it may be damaged). Nothing was "
                   "kept; untick the box to send it as it is.")
        fmt = {}
    elif isinstance(e, WitnessboxError):
        status, title, message, fmt = e.http_status, N_("Error"), N_("Something went wrong on our side. Nothing you sent was kept; please try again later."), {}
    else:
        status, title, message, fmt = 500, N_("Error"), N_("Something went wrong on our side. Nothing you sent was kept; please try again later."), {}
    tr = i18n.translations(lang)
    text = tr.gettext(message) % fmt if fmt else tr.gettext(message)
    resp = _render(lang, "error.html", status=status, title=tr.gettext(title), message=text)
    if isinstance(e, SessionError):
        _set_cookie(st, resp, None)
    if status == 413 or isinstance(e, CsrfFailure) and request.method == "POST":
        # The browser may still be sending: close the connection rather than read gigabytes.
        resp.headers["Connection"] = "close"
    return resp


def create_app(config: DropBoxConfig) -> Starlette:
    """The ASGI app; creates the inbox on first start."""
    st = _State(config, Inbox.open_or_create(config.inbox, config.recipient), SessionManager(config.session_idle))

    def endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
        handler = _HANDLERS[name]

        async def run(request: Request) -> Response:
            try:
                return await handler(st, request)
            except (_Refused, SessionError, CsrfFailure, WitnessboxError) as e:
                return _error_page(st, request, e)
            except Exception as e:  # never a traceback page; nothing about the request is logged
                return _error_page(st, request, e)

        return run

    routes: list[Route | Mount] = [Route(r.path, endpoint(r.name), methods=list(r.methods), name=r.name)
                                   for r in ROUTES]
    routes.append(Mount("/static", StaticFiles(packages=[(__package__, "static")]), name="static"))

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error_page(st, request, _Refused(404, N_("Page not found"), N_("Page not found.")))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error_page(st, request, _Refused(405, N_("Error"), N_("Page not found.")))

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed},
                    middleware=[Middleware(_HeadersMiddleware)])
    app.state.dropbox = st
    return app


class _HeadersMiddleware:
    """The security headers on every response, static files and framework errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers[k] = v
            await send(message)

        await self.app(scope, receive, send_with_headers)


def serve(config: DropBoxConfig, host: str, port: int) -> None:
    """Run the app under uvicorn with no access log and no ``Server``/``Date`` headers."""
    import uvicorn

    log_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(levelname)s %(message)s"}},
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        # Startup and errors only; uvicorn's access logger (addresses, times) gets no handler.
        "loggers": {"uvicorn.error": {"handlers": ["err"], "level": "WARNING", "propagate": False},
                    "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False}},
    }
    uvicorn.run(create_app(config), host=host, port=port, access_log=False, server_header=False,
                date_header=False, proxy_headers=False, log_config=log_config, timeout_keep_alive=5)
