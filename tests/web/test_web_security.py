"""Security of the web app, table-driven over the app's own route table (a new route is
covered by default): no session, each role, across regions, no CSRF token, foreign Origin,
and the security headers on every response."""

from __future__ import annotations

import re

import httpx
import pytest
from web_helpers import ORIGIN, USER_PASS, Clock, World, csrf_of, new_client, sign_in, signin_token
from starlette.routing import Route
from starlette.testclient import TestClient

from witnessbox.web.routes import ROUTES, Csrf, RouteSpec, check_table, csrf_exempt
from witnessbox.workspace import Workspace
from witnessbox.workspace.accounts import Role

from web_helpers import ARCHIVE_PASS, CHEAP, User  # noqa: E402

PUBLIC = [r for r in ROUTES if r.role is None]
PRIVATE = [r for r in ROUTES if r.role is not None]
UNSAFE = [r for r in ROUTES if r.unsafe]


def url_for(spec: RouteSpec, world: World, *, region: str = "minsk") -> str:
    item = world.minsk_item if region == "minsk" else world.homiel_item
    inc = world.minsk_incident if region == "minsk" else world.homiel_incident
    return (spec.path.replace("{item_id}", item).replace("{inc_id}", inc).replace("{name}", "vi" if spec.role else "app.css")
            .replace("{seq}", "0").replace("{tid}", "1"))


def assert_headers(r: httpx.Response) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert csp.startswith("default-src 'none'"), (r.request.url, csp)
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers.get("referrer-policy") == "no-referrer"
    assert r.headers.get("x-content-type-options") == "nosniff"
    if not r.request.url.path.startswith("/static/"):
        assert r.headers.get("cache-control") == "no-store", r.request.url


def nothing_to_review(spec: RouteSpec, r: httpx.Response) -> bool:
    """The review's JSON routes on an item with no redacted copy (the world's items are
    originals): a 404 that says so, not a refusal (an item out of scope gets the HTML 404)."""
    return (spec.path.endswith("/review/keys") and r.status_code == 404
            and "has no redacted copy" in r.json().get("error", ""))


def call(client: TestClient, spec: RouteSpec, url: str, **kw: object) -> httpx.Response:
    method = spec.methods[0]
    r = client.request(method, url, **kw)  # type: ignore[arg-type]
    assert_headers(r)
    return r


def test_the_table_lists_every_registered_route(app: object) -> None:
    inner = app.app  # type: ignore[attr-defined]
    registered = {(m, r.path) for r in inner.routes if isinstance(r, Route) for m in (r.methods or ()) if m != "HEAD"}
    declared = {(m, r.path) for r in ROUTES for m in r.methods}
    assert registered == declared


def test_an_unsafe_route_without_csrf_declaration_fails_closed() -> None:
    async def handler(request, ctx):  # type: ignore[no-untyped-def]
        raise AssertionError

    bad = RouteSpec("/x", ("POST",), handler, Role.EDITOR)
    with pytest.raises(RuntimeError, match="No CSRF protection applied to view"):
        check_table((bad,))
    check_table((RouteSpec("/x", ("POST",), handler, Role.EDITOR, csrf_exempt("test: nothing changes")),))
    with pytest.raises(ValueError):
        csrf_exempt(" ")


@pytest.mark.parametrize("spec", PRIVATE, ids=lambda s: s.name)
def test_no_session_means_sign_in(app: object, world: World, spec: RouteSpec) -> None:
    client = new_client(app)
    r = call(client, spec, url_for(spec, world))
    if spec.unsafe:
        assert r.status_code in (401, 403)
    else:
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")


@pytest.mark.parametrize("spec", PUBLIC, ids=lambda s: s.name)
def test_public_routes_need_no_session(app: object, world: World, spec: RouteSpec) -> None:
    client = new_client(app)
    kw = {}
    if spec.unsafe:  # the sign-in form: refused without its token, never a redirect loop
        r = call(client, spec, url_for(spec, world), data={"name": "x"})
        assert r.status_code == 403
        return
    r = call(client, spec, url_for(spec, world), **kw)
    assert r.status_code in (200, 303)


@pytest.mark.parametrize("role", ["ada", "ed", "rev", "vi"])
@pytest.mark.parametrize("spec", PRIVATE, ids=lambda s: s.name)
def test_each_role(clients: dict[str, TestClient], world: World, spec: RouteSpec, role: str) -> None:
    client = clients[role]
    allowed = Role(world.users[role].role).allows(spec.role)  # type: ignore[arg-type]
    if spec.unsafe:
        if allowed:
            return  # covered by the CSRF tests below (a real POST would change state)
        r = call(client, spec, url_for(spec, world), data={"csrf_token": csrf_of(client)})
        assert r.status_code == 403, r.text
        return
    r = call(client, spec, url_for(spec, world))
    if allowed:
        assert r.status_code in (200, 303) or nothing_to_review(spec, r), r.text
        if r.status_code == 303:
            assert r.headers["location"].startswith("/reauth" if spec.reauth else "/items")
    else:
        assert r.status_code == 403


@pytest.mark.parametrize("who", ["homed", "homvi"])
@pytest.mark.parametrize("spec", [r for r in PRIVATE if r.scope != "none"], ids=lambda s: s.name)
def test_regions_idor(clients: dict[str, TestClient], world: World, spec: RouteSpec, who: str) -> None:
    client = clients[who]
    if not Role(world.users[who].role).allows(spec.role):  # type: ignore[arg-type]
        return
    data = {"csrf_token": csrf_of(client)} if spec.unsafe else None
    r = call(client, spec, url_for(spec, world, region="minsk"), data=data)
    if spec.scope == "all-regions":
        assert r.status_code == 403
    else:
        assert r.status_code == 404, r.text
        assert "minsk.txt" not in r.text and "Затрыманне" not in r.text
    if not spec.unsafe and spec.scope != "all-regions" and "{tid}" not in spec.path:  # testimony 1 is Minsk's
        own = call(client, spec, url_for(spec, world, region="homiel"))
        assert own.status_code == 200 or nothing_to_review(spec, own), own.text


def test_region_limited_lists_show_only_their_region(clients: dict[str, TestClient], world: World) -> None:
    items = clients["homvi"].get("/items").text
    assert world.homiel_item in items and world.minsk_item not in items
    incidents = clients["homvi"].get("/incidents").text
    assert "Homiel search" in incidents and "Затрыманне" not in incidents
    assert world.minsk_item in clients["vi"].get("/items").text


@pytest.mark.parametrize("spec", UNSAFE, ids=lambda s: s.name)
def test_no_csrf_token_is_refused(clients: dict[str, TestClient], world: World, spec: RouteSpec) -> None:
    client = clients["ada"]
    r = call(client, spec, url_for(spec, world), data={"name": "x", "status": "draft", "action": "unlock"})
    assert r.status_code == 403
    r = call(client, spec, url_for(spec, world), data={"csrf_token": "forged" * 7})
    assert r.status_code == 403


@pytest.mark.parametrize("spec", UNSAFE, ids=lambda s: s.name)
def test_foreign_origin_is_refused(clients: dict[str, TestClient], world: World, spec: RouteSpec) -> None:
    client = clients["ada"]
    token = csrf_of(client) if spec.csrf is Csrf.TOKEN else signin_token(new_client(client.app))
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                    {"Origin": ORIGIN, "Sec-Fetch-Site": "same-site"}):
        r = call(client, spec, url_for(spec, world), data={"csrf_token": token, "action": "unlock"}, headers=headers)
        assert r.status_code == 403, (spec.name, headers)


def test_session_cookie_flags_and_fixation(app: object, world: World, clock: Clock) -> None:
    client = new_client(app)
    token = signin_token(client)
    client.cookies.set("wb_session", "attacker-chosen-session-id-0123456789")
    clock.tick()
    user = world.users["vi"]
    r = client.post("/signin", data={"name": "vi", "passphrase": USER_PASS, "code": user.code(clock), "csrf_token": token})
    assert r.status_code == 303
    cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("wb_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    sid = re.match(r"wb_session=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
    assert sid != "attacker-chosen-session-id-0123456789" and len(sid) >= 43
    attacker = new_client(app)
    attacker.cookies.set("wb_session", "attacker-chosen-session-id-0123456789")
    assert attacker.get("/items").status_code == 303


def test_secure_cookie_outside_loopback(world: World) -> None:
    from witnessbox.web.app import WebConfig, create_app

    app = create_app(WebConfig(archive=world.root, secure_cookies=True, hsts=True))
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    r = client.get("/signin")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-wb_signin=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_healthz_reveals_nothing(app: object) -> None:
    r = new_client(app).get("/healthz")
    assert r.status_code == 200 and r.text == "ok"
    assert_headers(r)


def test_unknown_page_is_a_translated_404_with_headers(app: object) -> None:
    client = new_client(app)
    client.cookies.set("wb_lang", "en")
    r = client.get("/nowhere")
    assert r.status_code == 404 and "Not found" in r.text
    assert_headers(r)


def test_no_open_redirect(app: object) -> None:
    r = new_client(app).get("/lang?lang=en&next=//evil.example/x")
    assert r.headers["location"] == "/"
