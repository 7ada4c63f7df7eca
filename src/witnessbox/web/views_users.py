"""Users (admins only, after re-authentication): add, disable, roles, regions, 2FA, sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import InputError, WitnessboxError
from ..workspace import Workspace
from ..workspace.accounts import Account, Enrollment, Role, parse_totp_uri_secret

if TYPE_CHECKING:
    from .app import Ctx


@dataclass(frozen=True)
class UserRow:
    account: Account
    sessions: int
    last_seen: str


@dataclass(frozen=True)
class EnrollmentView:
    name: str
    totp_uri: str
    totp_secret: str
    recovery_codes: tuple[str, ...]

    @classmethod
    def of(cls, e: Enrollment) -> EnrollmentView:
        return cls(e.account.name, e.totp_uri, parse_totp_uri_secret(e.totp_uri), e.recovery_codes)


async def users_page(request: Request, ctx: Ctx, *, enrollment: EnrollmentView | None = None, error: str = "",
                     status: int = 200) -> Response:
    import time

    accounts = await ctx.call(lambda ws: ws.accounts.list())
    regions = await ctx.call(lambda ws: [(r.slug, r.name) for r in ws.incidents.regions()])
    # Sessions of every web app process sharing the accounts database, not only this one's.
    live = await run_in_threadpool(ctx.state.sessions.everywhere)
    rows = []
    for a in accounts:
        mine = [s for s in live if s.name == a.name]
        last = max((s.last_seen for s in mine), default=None)
        rows.append(UserRow(a, len(mine), time.strftime("%Y-%m-%d %H:%M", time.gmtime(last)) if last else ""))
    return ctx.render("users.html", status=status, rows=rows, roles=[r.value for r in Role], regions=regions,
                      enrollment=enrollment, error=error)


async def user_add(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    name = str(form.get("name", ""))[:64].strip()
    passphrase = str(form.get("passphrase", ""))
    role = str(form.get("role", ""))[:20]
    regions = [str(r)[:200] for r in form.getlist("regions")][:100]

    def add(ws: Workspace) -> Enrollment:
        return ws.accounts.add(name, passphrase, role, regions, archive_passphrase=ws.verified_passphrase())

    try:
        enrollment = await ctx.call(add)
    except InputError as e:
        return await users_page(request, ctx, error=e.message, status=400)
    return await users_page(request, ctx, enrollment=EnrollmentView.of(enrollment))


async def user_action(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    form = await request.form()
    action = str(form.get("action", ""))
    enrollment = None

    def run(ws: Workspace) -> Any:
        acc = ws.accounts
        if action == "disable":
            return acc.set_disabled(name, True)
        if action == "enable":
            return acc.set_disabled(name, False)
        if action == "unlock":
            return acc.unlock(name)
        if action == "reset-2fa":
            return acc.reset_2fa(name)
        if action == "signout":
            acc.end_sessions(name)
            return ws.log_action("web.user-signout", [], {"user": name})
        if action == "role":
            return acc.set_role(name, str(form.get("role", "")), [str(r) for r in form.getlist("regions")][:100])
        raise InputError(f"unknown action {action[:40]!r}")

    try:
        result = await ctx.call(run)
    except InputError as e:
        return await users_page(request, ctx, error=e.message, status=400)
    except WitnessboxError:
        raise
    if isinstance(result, Enrollment):
        enrollment = EnrollmentView.of(result)
    if action in ("disable", "reset-2fa", "signout", "role"):
        ctx.state.sessions.end_user(name)
    if ctx.session is not None and ctx.session.name == name and action in ("disable", "reset-2fa", "signout", "role"):
        return ctx.redirect("/signin")
    return await users_page(request, ctx, enrollment=enrollment)
