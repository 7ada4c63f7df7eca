"""The main flows in a real Debian chromium against a real `witnessbox serve` on 127.0.0.1,
in Belarusian and English: sign in, intake with progress bars, items, item page, incidents
(create, search), custody log with a proof, verify, users, sign out. Any console error or
warning (CSP violations included), page error or failed request fails the test."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from live_server import cli, serving
from PIL import Image

from witnessbox.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
ARCHIVE_PASS = "correct horse battery staple"
USER_PASS = "violet tundra marmalade kiosk 42"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any], Path]]:
    base = tmp_path_factory.mktemp("webbrowser")
    root = base / "archive"
    with Workspace.init(root, ARCHIVE_PASS) as ws:
        ws.incidents.add_region("Мінск")
    r = cli("user", "add", "ada", "--role", "admin", "--json", "--archive", str(root),
            env={"WITNESSBOX_PASSPHRASE": ARCHIVE_PASS, "WITNESSBOX_USER_PASSPHRASE": USER_PASS})
    user = json.loads(r.stdout)
    files = base / "upload"
    files.mkdir()
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 120, 40)).save(buf, "JPEG")
    (files / "street <b>1.jpg").write_bytes(buf.getvalue())
    with serving(root) as (url, _proc):
        yield url, user, files


class Watch:
    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # A download ends its navigation with net::ERR_ABORTED (and aborts that page's pending
        # requests), and a quick navigation aborts the lazily fetched favicon: expected; any
        # other failed request fails the test.
        self.downloading = False

        def failed(r: Any) -> None:
            aborted = r.failure == "net::ERR_ABORTED"
            if aborted and (self.downloading or r.url.endswith("/static/icon.svg")):
                return
            self.problems.append(f"request failed: {r.url} {r.failure}")

        page.on("requestfailed", failed)
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("lang, texts", [
    ("be", {"items": "Прадметы", "signin": "Увайсці", "added": "дададзена"}),
    ("en", {"items": "Items", "signin": "Sign in", "added": "added"}),
])
def test_main_flows(browser: Any, served: tuple[str, dict[str, Any], Path], lang: str, texts: dict[str, str]) -> None:
    url, user, files = served
    context = browser.new_context(locale=lang)
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{url}/lang?lang={lang}&next=/signin")
    assert page.locator("html").get_attribute("lang") == lang
    assert texts["signin"] in page.locator("h1").inner_text()
    secret = pyotp.parse_uri(user["totp_uri"]).secret
    # be signs in with a TOTP code, en with a recovery code (a TOTP code must not be reused).
    code = pyotp.TOTP(secret).now() if lang == "be" else user["recovery_codes"][0]
    page.fill("input[name=name]", "ada")
    page.fill("input[name=passphrase]", USER_PASS)
    page.fill("input[name=code]", code)
    page.click("button[type=submit]")
    try:
        page.wait_for_url("**/items")
    except Exception:
        raise AssertionError(page.content()[-3000:] + str(watch.problems)) from None
    assert texts["items"] in page.locator("h1").inner_text()

    # intake, with the script's per-file progress bars
    page.goto(f"{url}/intake")
    note = files / f"note-{lang}.txt"
    note.write_text(f"statement for {lang}\n")
    page.set_input_files("#intake-files", [str(files / "street <b>1.jpg"), str(note)])
    page.fill("input[name=source]", "chat export")
    page.click("#intake-form button[type=submit]")
    rows = page.locator("#progress li")
    rows.nth(1).and_(page.locator("[data-status]")).wait_for(timeout=60_000)
    rows.nth(0).and_(page.locator("[data-status]")).wait_for(timeout=60_000)
    states = [rows.nth(i).get_attribute("data-status") for i in range(rows.count())]
    assert states[1] == "added" and states[0] in ("added", "duplicate")
    _shot(page, f"intake-{lang}")

    # items and an item page (the markup in the file name stays text)
    page.goto(f"{url}/items")
    assert page.locator("#items tbody tr").count() >= 2
    page.locator("#items tbody a").first.click()
    page.wait_for_selector("#history")
    assert page.locator("#history tbody tr").count() >= 1
    page.goto(f"{url}/items?source=chat")
    assert "street <b>1.jpg" in page.locator("#items").inner_text()

    # incidents: create, then find it by folded search
    page.goto(f"{url}/incidents/new")
    page.fill("input[name=title]", f"Затрыманне ля ёлкі {lang}")
    page.fill("input[name=start]", "2026-03-01")
    page.fill("input[name=place]", "Кастрычніцкая")
    page.fill("textarea[name=description]", "**Bold** text")
    page.click("#incident-form button[type=submit]:not([name])")
    page.wait_for_selector(".description strong")
    page.goto(f"{url}/incidents")
    page.fill("#incident-search", f"ЕЛКИ {lang}")
    page.click(".filters button[type=submit]")
    assert page.locator("#incidents tbody tr").count() == 1
    _shot(page, f"incidents-{lang}")

    # custody log: a proof, then verify
    page.goto(f"{url}/custody")
    page.locator("#log a").first.click()
    page.wait_for_selector("#proof-ok")
    page.goto(f"{url}/custody")
    page.click("#verify")
    page.wait_for_selector("#verify-report.ok", timeout=120_000)

    # export (just signed in: no re-authentication needed yet): the package downloads
    page.goto(f"{url}/export")
    page.locator("#export-form input[name=incidents]").first.check()
    page.fill("#export-form input[name=recipient]", "prosecutor")
    watch.downloading = True
    with page.expect_download() as dl:
        page.click("#export-form button[type=submit]")
    page.wait_for_timeout(500)
    watch.downloading = False
    saved = files / f"package-{lang}.zip"
    dl.value.save_as(str(saved))
    import zipfile

    assert any(n.endswith("bagit.txt") for n in zipfile.ZipFile(saved).namelist())

    # users
    page.goto(f"{url}/users")
    assert "ada" in page.locator("#users").inner_text()
    _shot(page, f"users-{lang}")

    page.click("#sign-out")
    page.wait_for_url("**/signin")
    page.goto(f"{url}/items")
    page.wait_for_url("**/signin**")
    context.close()
    assert watch.problems == []
