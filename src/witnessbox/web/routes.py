"""The route table: every route of the documenters' app, with its role, CSRF mode and scoping.

This list is the one place that says who may call what. :func:`witnessbox.web.app.create_app`
builds the app only from it and wraps every endpoint in the same guard, and the security
tests iterate over it, so a new route is covered by default.

Rules the guard enforces (``docs/web-security.md``):

* ``role=None`` marks a public route (no sign-in); anything else needs a live session whose
  role allows ``role``.
* A route with an unsafe method (POST...) must declare ``Csrf.TOKEN`` (session-bound token and
  Origin check), ``Csrf.SIGNIN`` (the sign-in form: a pre-session token cookie and Origin
  check) or an exemption made with :func:`csrf_exempt`, whose reason is greppable. The app
  refuses to build otherwise, and the guard refuses the request too (fail closed).
* ``scope`` names the path parameter checked against the user's regions before the handler
  runs (``item_id``, ``inc_id``), or ``all-regions`` for screens only unrestricted users see.
* ``reauth=True``: the user must have entered passphrase and code in the last five minutes.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from starlette.requests import Request
from starlette.responses import Response

from ..workspace.accounts import Role
from . import views_auth, views_custody, views_handover, views_incidents, views_intake, views_items, views_users
from . import views_dropbox, views_review

if TYPE_CHECKING:
    from .app import Ctx

Handler = Callable[[Request, "Ctx"], Awaitable[Response]]
SAFE_METHODS = frozenset({"GET", "HEAD"})


class Csrf(enum.Enum):
    """How a route is protected against cross-site requests."""

    NONE = "none"  # only for safe methods; an unsafe route left at NONE fails closed
    TOKEN = "token"
    SIGNIN = "signin"


@dataclass(frozen=True)
class CsrfExemption:
    """An explicit, reasoned exemption (grep ``csrf_exempt(``)."""

    reason: str


def csrf_exempt(reason: str) -> CsrfExemption:
    """Exempt an unsafe route from CSRF checks; ``reason`` says why it is safe."""
    if not reason.strip():
        raise ValueError("a CSRF exemption needs a reason")
    return CsrfExemption(reason)


Scoping = Literal["none", "item_id", "inc_id", "all-regions"]


@dataclass(frozen=True)
class RouteSpec:
    """One route: path, methods, handler and its security declaration."""

    path: str
    methods: tuple[str, ...]
    endpoint: Handler
    role: Role | None
    csrf: Csrf | CsrfExemption = Csrf.NONE
    scope: Scoping = "none"
    reauth: bool = False

    @property
    def unsafe(self) -> bool:
        return any(m not in SAFE_METHODS for m in self.methods)

    @property
    def name(self) -> str:
        return f"{'/'.join(self.methods)} {self.path}"


GET: tuple[str, ...] = ("GET",)
POST: tuple[str, ...] = ("POST",)
V, E, R, A = Role.VIEWER, Role.EDITOR, Role.REVIEWER, Role.ADMIN

ROUTES: tuple[RouteSpec, ...] = (
    # public
    RouteSpec("/healthz", GET, views_auth.healthz, None),
    RouteSpec("/static/{name}", GET, views_auth.static, None),
    RouteSpec("/lang", GET, views_auth.set_language, None),
    RouteSpec("/signin", GET, views_auth.signin_form, None),
    RouteSpec("/signin", POST, views_auth.signin, None, Csrf.SIGNIN),
    # every signed-in user
    RouteSpec("/", GET, views_auth.home, V),
    RouteSpec("/signout", POST, views_auth.signout, V, Csrf.TOKEN),
    RouteSpec("/signout-everywhere", POST, views_auth.signout_everywhere, V, Csrf.TOKEN),
    RouteSpec("/lock", POST, views_auth.lock_now, V, Csrf.TOKEN),
    RouteSpec("/reauth", GET, views_auth.reauth_form, V),
    RouteSpec("/reauth", POST, views_auth.reauth, V, Csrf.TOKEN),
    # items
    RouteSpec("/items", GET, views_items.items_table, V),
    RouteSpec("/items/{item_id}", GET, views_items.item_page, V, scope="item_id"),
    RouteSpec("/items/{item_id}/original", GET, views_items.download_original, E, scope="item_id"),
    RouteSpec("/items/{item_id}/redact", POST, views_items.item_redact, E, Csrf.TOKEN, scope="item_id"),
    # redaction review (issue 12): reviewers (editors and admins include it), scoped by item;
    # the frame route is a POST because a served frame is recorded as shown
    RouteSpec("/static/review/{name}", GET, views_review.review_static, None),
    RouteSpec("/items/{item_id}/review", GET, views_review.review_page, R, scope="item_id"),
    RouteSpec("/items/{item_id}/review/frame", POST, views_review.review_frame, R, Csrf.TOKEN, scope="item_id"),
    RouteSpec("/items/{item_id}/review/keys", GET, views_review.review_keys, R, scope="item_id"),
    RouteSpec("/items/{item_id}/review/op", POST, views_review.review_op, R, Csrf.TOKEN, scope="item_id"),
    RouteSpec("/items/{item_id}/review/save", POST, views_review.review_save, R, Csrf.TOKEN, scope="item_id"),
    RouteSpec("/items/{item_id}/review/approve", POST, views_review.review_approve, R, Csrf.TOKEN, scope="item_id"),
    # intake
    RouteSpec("/intake", GET, views_intake.intake_form, E),
    RouteSpec("/intake", POST, views_intake.intake_upload, E, Csrf.TOKEN),
    # incidents
    RouteSpec("/incidents", GET, views_incidents.incidents_table, V),
    RouteSpec("/incidents/new", GET, views_incidents.incident_form, E),
    RouteSpec("/incidents/new", POST, views_incidents.incident_create, E, Csrf.TOKEN),
    RouteSpec("/incidents/{inc_id}", GET, views_incidents.incident_page, V, scope="inc_id"),
    RouteSpec("/incidents/{inc_id}/edit", GET, views_incidents.incident_edit_form, E, scope="inc_id"),
    RouteSpec("/incidents/{inc_id}/edit", POST, views_incidents.incident_edit, E, Csrf.TOKEN, scope="inc_id"),
    RouteSpec("/incidents/{inc_id}/status", POST, views_incidents.incident_status, E, Csrf.TOKEN, scope="inc_id"),
    RouteSpec("/incidents/{inc_id}/link", POST, views_incidents.incident_link, E, Csrf.TOKEN, scope="inc_id"),
    RouteSpec("/incidents/{inc_id}/observe", POST, views_incidents.incident_observe, E, Csrf.TOKEN, scope="inc_id"),
    RouteSpec("/incidents/{inc_id}/testimony", POST, views_incidents.incident_testimony, E, Csrf.TOKEN, scope="inc_id"),
    RouteSpec("/incidents/{inc_id}/testimonies/{tid}", GET, views_incidents.testimony_page, E, scope="inc_id"),
    # custody log (whole-archive view: only for users not limited to regions)
    RouteSpec("/custody", GET, views_custody.custody_log, V, scope="all-regions"),
    RouteSpec("/custody/{seq}/proof", GET, views_custody.custody_proof, V, scope="all-regions"),
    RouteSpec("/custody/verify", POST, views_custody.custody_verify, A, Csrf.TOKEN, scope="all-regions"),
    # publish preview and publishing to the server's --site folder, export (publishing and
    # export: after re-authentication)
    RouteSpec("/publish", GET, views_handover.publish_preview, E, scope="all-regions"),
    RouteSpec("/publish", POST, views_handover.publish_site, E, Csrf.TOKEN, scope="all-regions", reauth=True),
    RouteSpec("/export", GET, views_handover.export_form, E, reauth=True),
    RouteSpec("/export", POST, views_handover.export_download, E, Csrf.TOKEN, reauth=True),
    # drop-box submissions of the server's --dropbox-inbox and replies to their sources
    RouteSpec("/dropbox", GET, views_dropbox.dropbox_page, E, scope="all-regions"),
    RouteSpec("/dropbox/reply", POST, views_dropbox.dropbox_reply, E, Csrf.TOKEN, scope="all-regions"),
    # users (admins, after re-authentication)
    RouteSpec("/users", GET, views_users.users_page, A, reauth=True),
    RouteSpec("/users", POST, views_users.user_add, A, Csrf.TOKEN, reauth=True),
    RouteSpec("/users/{name}/action", POST, views_users.user_action, A, Csrf.TOKEN, reauth=True),
)


def check_table(routes: tuple[RouteSpec, ...] = ROUTES) -> None:
    """Refuse a table with an unprotected unsafe route or a duplicate.

    Raises:
        RuntimeError: "No CSRF protection applied to view" for the first offending route.
    """
    seen = set()
    for r in routes:
        for m in r.methods:
            if (m, r.path) in seen:
                raise RuntimeError(f"route {m} {r.path} is declared twice")
            seen.add((m, r.path))
        if r.unsafe and r.csrf is Csrf.NONE:
            raise RuntimeError(f"No CSRF protection applied to view {r.name}: declare Csrf.TOKEN or csrf_exempt(reason)")
        if r.csrf is Csrf.SIGNIN and r.role is not None:
            raise RuntimeError(f"{r.name}: Csrf.SIGNIN is only for the public sign-in form")
