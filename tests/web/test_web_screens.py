"""The screens in-process: intake (and hostile uploads), items, incidents, custody, escaping."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from web_helpers import ARCHIVE_PASS, Clock, World, csrf_of, new_client, sign_in
from PIL import Image
from starlette.testclient import TestClient

from witnessbox.workspace import Workspace

XSS = '<img src=x onerror="alert(1)">'


def upload(client: TestClient, files: list[tuple[str, bytes]], **fields: str) -> tuple[int, list[dict[str, object]]]:
    token = csrf_of(client, "/intake")
    r = client.post(f"/intake?csrf_token={token}", files=[("files", (n, io.BytesIO(b), "application/octet-stream")) for n, b in files],
                    data=fields, headers={"Accept": "application/json"})
    return r.status_code, (r.json()["results"] if r.status_code == 200 else [])


def count_items(world: World) -> int:
    with Workspace.open(world.root) as ws:
        return len(ws.items())


def staging_left(world: World) -> list[Path]:
    return [p for p in (world.root / "tmp").iterdir() if "-web-" in p.name]


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def test_intake_seals_like_add_and_reports_duplicates(clients: dict[str, TestClient], world: World) -> None:
    ed = clients["ed"]
    status, res = upload(ed, [("photo one.jpg", jpeg_bytes()), ("notes.txt", b"unique notes 1\n")], source="chat",
                         place="Minsk")
    assert status == 200 and [r["status"] for r in res] == ["added", "added"]
    sha = str(res[0]["sha256"])
    assert len(sha) == 64 and isinstance(res[0]["entry_seq"], int)
    with Workspace.open(world.root) as ws:
        rec = ws.item(sha)
        assert rec.name == "photo one.jpg" and rec.source == "chat" and rec.place == "Minsk"
        entry = ws.log(sha, exact=True)[-1]
        assert entry.actor == "ed"
    status, res = upload(ed, [("again.jpg", jpeg_bytes())])
    assert res[0]["status"] == "duplicate" and res[0]["sha256"] == sha
    assert not staging_left(world)


def test_intake_form_without_javascript_renders_results(clients: dict[str, TestClient]) -> None:
    ed = clients["ed"]
    token = csrf_of(ed, "/intake")
    r = ed.post(f"/intake?csrf_token={token}", files=[("files", ("plain.txt", io.BytesIO(b"no js here\n"), "text/plain"))])
    assert r.status_code == 200 and 'id="results"' in r.text and "plain.txt" in r.text


@pytest.mark.parametrize("name, data, sealed", [
    ("empty.jpg", b"", False),
    ("../../etc/passwd", b"dot dot name\n", True),
    (XSS + ".txt", b"markup name\n", True),
    ("ctl\x1b[31mred\x07.txt", b"control chars\n", True),
    ("truncated.jpg", None, False),
])
def test_hostile_uploads(clients: dict[str, TestClient], world: World, name: str, data: bytes | None, sealed: bool) -> None:
    if data is None:
        data = jpeg_bytes()[:200]
    before = count_items(world)
    status, res = upload(clients["ed"], [(name, data)])
    assert status == 200
    assert (res[0]["status"] == "added") is sealed, res
    assert count_items(world) == before + (1 if sealed else 0)
    if sealed:
        with Workspace.open(world.root) as ws:
            stored = ws.item(str(res[0]["sha256"])).name
        assert "/" not in stored and ".." not in stored.split("/") and all(c.isprintable() for c in stored)
        page = clients["ed"].get(f"/items/{res[0]['sha256']}").text
        assert XSS not in page and "<img src=x" not in page
    assert not staging_left(world)


def test_zip_bomb_is_not_unpacked(clients: dict[str, TestClient], world: World) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (200 * 1024 * 1024))
    status, res = upload(clients["ed"], [("bomb.zip", buf.getvalue())])
    assert status == 200 and res[0]["status"] in ("added", "failed")
    assert not staging_left(world)


def test_upload_cut_off_midway_seals_nothing(app: object, clients: dict[str, TestClient], world: World) -> None:
    ed = clients["ed"]
    token = csrf_of(ed, "/intake")
    before = count_items(world)
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"cut.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + b"A" * 100_000)
    r = ed.post(f"/intake?csrf_token={token}", content=body,
                headers={"Content-Type": "multipart/form-data; boundary=XyZ", "Accept": "application/json"})
    assert r.status_code == 400
    assert count_items(world) == before and not staging_left(world)


def test_viewer_cannot_upload(clients: dict[str, TestClient]) -> None:
    r = clients["vi"].post("/intake", files=[("files", ("x.txt", io.BytesIO(b"x"), "text/plain"))])
    assert r.status_code == 403


def test_incident_create_escapes_and_search_folds(clients: dict[str, TestClient], world: World) -> None:
    ed = clients["ed"]
    token = csrf_of(ed, "/incidents/new")
    with Workspace.open(world.root) as ws:
        minsk = [r.slug for r in ws.incidents.regions() if r.name == "Мінск"][0]
    r = ed.post("/incidents/new", data={"csrf_token": token, "title": f"Вобшук {XSS}", "start": "2026-04-01", "end": "",
                                        "precision": "", "place": "Ўзда", "region": minsk,
                                        "description": f"**bold** {XSS} <script>alert(2)</script>", "sources": "https://x.example/1"})
    assert r.status_code == 303, r.text
    page = ed.get(r.headers["location"]).text
    assert "<strong>bold</strong>" in page
    assert "<img src=x" not in page and "<script>alert" not in page
    table = ed.get("/incidents", params={"q": "УЗДА"}).text  # Ў typed as У, upper case
    assert "Вобшук" in table and XSS not in table
    assert "Вобшук" not in ed.get("/incidents", params={"q": "nothing like it"}).text
    assert "Вобшук" in ed.get("/incidents", params={"region": minsk, "status": "draft"}).text


def test_region_limited_editor_cannot_create_elsewhere(clients: dict[str, TestClient], world: World) -> None:
    homed = clients["homed"]
    with Workspace.open(world.root) as ws:
        minsk = [r.slug for r in ws.incidents.regions() if r.name == "Мінск"][0]
    r = homed.post("/incidents/new", data={"csrf_token": csrf_of(homed), "title": "x", "start": "2026-04-01",
                                           "end": "", "precision": "", "place": "", "region": minsk,
                                           "description": "", "sources": ""})
    assert r.status_code == 400


def test_status_change_and_link(clients: dict[str, TestClient], world: World) -> None:
    ed = clients["ed"]
    status, res = upload(ed, [("linkme.txt", b"link me please\n")])
    sha = str(res[0]["sha256"])
    inc = world.homiel_incident
    token = csrf_of(ed)
    assert ed.post(f"/incidents/{inc}/link", data={"csrf_token": token, "item": sha[:16], "role": "context"}).status_code == 303
    assert ed.post(f"/incidents/{inc}/status", data={"csrf_token": token, "status": "verified"}).status_code == 303
    page = ed.get(f"/incidents/{inc}").text
    assert "linkme.txt" in page
    assert sha in clients["homvi"].get("/items").text  # linked to Homiel: now visible there
    with Workspace.open(world.root) as ws:
        assert any(e.action == "catalog.incident.status" and e.actor == "ed" for e in ws.log(inc, exact=True))


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (53.0, 54.0, 7.5), 3: "E", 4: (27.0, 33.0, 1.25)}
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_gps_only_for_editors_and_original_download_logged(clients: dict[str, TestClient], world: World) -> None:
    ed, vi, ada = clients["ed"], clients["vi"], clients["ada"]
    _, res = upload(ed, [("gps.jpg", gps_jpeg())], incident=world.minsk_incident)
    sha = str(res[0]["sha256"])
    for who in (ed, ada):
        page = who.get(f"/items/{sha}").text
        assert 'id="sensitive"' in page and "53.90" in page
    page = vi.get(f"/items/{sha}").text
    assert "gps.jpg" in page and "53.90" not in page and 'id="sensitive-heading"' not in page
    assert "/original" not in vi.get(f"/items/{world.minsk_item}").text
    r = ed.get(f"/items/{world.minsk_item}/original")
    assert r.status_code == 200 and r.content == b"minsk evidence\n"
    with Workspace.open(world.root) as ws:
        assert any(e.action == "web.download-original" and e.actor == "ed" for e in ws.log(world.minsk_item))


def test_custody_log_proof_and_verify(clients: dict[str, TestClient]) -> None:
    ada = clients["ada"]
    page = ada.get("/custody").text
    assert "web.signin" in page
    proof = ada.get("/custody/3/proof")
    assert proof.status_code == 200 and 'id="proof-ok"' in proof.text
    r = ada.post("/custody/verify", data={"csrf_token": csrf_of(ada)})
    assert r.status_code == 200 and 'id="verify-report" class="ok"' in r.text
    assert ada.get("/custody/999999/proof").status_code == 404


@pytest.mark.parametrize("lang, word", [("be", "Прадметы"), ("ru", "Материалы"), ("en", "Items")])
def test_pages_in_each_language(clients: dict[str, TestClient], lang: str, word: str) -> None:
    vi = clients["vi"]
    vi.cookies.set("wb_lang", lang)
    try:
        page = vi.get("/items").text
    finally:
        vi.cookies.delete("wb_lang")
    assert f'<html lang="{lang}">' in page and word in page


def test_publish_preview_shows_only_published(clients: dict[str, TestClient], world: World) -> None:
    page = clients["ed"].get("/publish")
    assert page.status_code == 200 and 'id="publish-incidents"' in page.text
    assert "Затрыманне" not in page.text.split('id="publish-incidents"')[1].split("</ul>")[0]


def test_export_needs_reauth_and_stays_in_region(clients: dict[str, TestClient], world: World, clock: Clock) -> None:
    import zipfile as zf

    from web_helpers import reauth

    ed, homed = clients["ed"], clients["homed"]
    clock.tick(6 * 60)
    r = ed.post("/export", data={"csrf_token": csrf_of(ed), "incidents": world.minsk_incident})
    assert r.status_code == 403
    reauth(ed, world.users["ed"], clock)
    r = ed.post("/export", data={"csrf_token": csrf_of(ed), "incidents": world.minsk_incident, "recipient": "court"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zf.ZipFile(io.BytesIO(r.content)).namelist()
    assert any(n.endswith("bagit.txt") for n in names)
    with Workspace.open(world.root) as ws:
        assert any(e.action == "export" and e.actor == "ed" for e in ws.log())
    assert not [p for p in (world.root / "tmp").iterdir() if "export" in p.name]
    reauth(homed, world.users["homed"], clock)
    r = homed.post("/export", data={"csrf_token": csrf_of(homed), "incidents": world.minsk_incident})
    assert r.status_code == 404
    r = homed.post("/export", data={"csrf_token": csrf_of(homed), "items": world.minsk_item})
    assert r.status_code == 404


def test_observation_and_testimonies(clients: dict[str, TestClient], world: World) -> None:
    ed, ada, homed = clients["ed"], clients["ada"], clients["homed"]
    inc = world.minsk_incident
    token = csrf_of(ed)
    r = ed.post(f"/incidents/{inc}/observe", data={"csrf_token": token, "unit": "АМАП", "insignia": XSS,
                                                  "vehicle_type": "bus", "vehicle_plate": "AB 1234-7", "officers": "12"})
    assert r.status_code == 303
    page = ed.get(f"/incidents/{inc}").text
    assert "АМАП" in page and "AB 1234-7" in page and "<img src=x" not in page
    assert "Затрыманне" in ed.get("/incidents", params={"q": "амап"}).text  # observations are searched too
    r = ed.post(f"/incidents/{inc}/testimony", data={"csrf_token": token, "text": f"They came at night {XSS}",
                                                    "language": "be", "given_on": "2026-03-03", "contact": "secret phone"})
    assert r.status_code == 303
    with Workspace.open(world.root, ARCHIVE_PASS) as ws:
        tids = [t.id for t in ws.incidents.testimonies(inc)]
    text = ed.get(f"/incidents/{inc}/testimonies/{tids[-1]}").text
    assert "They came at night" in text and "<img src=x" not in text and "secret phone" not in text
    assert "secret phone" in ada.get(f"/incidents/{inc}/testimonies/{tids[-1]}").text
    with Workspace.open(world.root) as ws:
        assert any(e.action == "catalog.testimony.read" and e.actor == "ed" for e in ws.log(inc, exact=True))
    # a testimony is reached only through its own incident
    assert ed.get(f"/incidents/{world.homiel_incident}/testimonies/{tids[-1]}").status_code == 404
    assert homed.get(f"/incidents/{inc}/testimonies/{tids[-1]}").status_code == 404
    assert clients["vi"].get(f"/incidents/{inc}/testimonies/{tids[-1]}").status_code == 403


def test_markup_in_media_metadata_is_escaped(clients: dict[str, TestClient]) -> None:
    exif = Image.Exif()
    exif[0x010F] = XSS  # Make
    exif[0x0110] = "<script>alert(3)</script>"  # Model
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (9, 9, 9)).save(buf, "JPEG", exif=exif)
    _, res = upload(clients["ed"], [("meta.jpg", buf.getvalue())])
    page = clients["ed"].get(f"/items/{res[0]['sha256']}").text
    assert "<img src=x" not in page and "<script>alert(3)" not in page
    assert "&lt;script&gt;alert(3)" in page or "alert(3)" not in page


def test_rate_limit_per_address(app: object) -> None:
    from web_helpers import signin_token

    from witnessbox.web.app import AppState

    state = app.app.state.witnessbox  # type: ignore[attr-defined]
    lifted = state.per_address
    state.per_address = AppState.__dataclass_fields__["per_address"].default_factory()  # type: ignore[misc]
    codes = []
    try:
        for i in range(35):
            c = new_client(app)
            token = signin_token(c)
            codes.append(c.post("/signin", data={"name": f"someone{i}", "passphrase": "x" * 20, "code": "123456",
                                                 "csrf_token": token}).status_code)
    finally:
        state.per_address = lifted
    assert codes[0] == 401 and codes[29] == 401 and codes[30:] == [429] * 5


def test_edit_incident_with_preview(clients: dict[str, TestClient], world: World) -> None:
    ed, homed = clients["ed"], clients["homed"]
    inc = world.homiel_incident
    form = ed.get(f"/incidents/{inc}/edit")
    assert form.status_code == 200 and "Homiel search" in form.text
    token = csrf_of(ed)
    with Workspace.open(world.root) as ws:
        homiel = [r.slug for r in ws.incidents.regions() if r.name == "Homiel"][0]
    data = {"csrf_token": token, "title": "Homiel search, edited", "start": "2026-03-02", "end": "", "precision": "day",
            "place": "Savetskaja", "region": homiel, "description": f"_seen_ {XSS}", "sources": "a\nb"}
    prev = ed.post(f"/incidents/{inc}/edit", data={**data, "preview": "1"})
    assert prev.status_code == 200 and "<em>seen</em>" in prev.text and "<img src=x" not in prev.text
    with Workspace.open(world.root) as ws:
        assert ws.incidents.get(inc).title == "Homiel search"  # a preview changes nothing
    assert ed.post(f"/incidents/{inc}/edit", data=data).status_code == 303
    with Workspace.open(world.root) as ws:
        got = ws.incidents.get(inc)
        assert got.title == "Homiel search, edited" and got.sources == ("a", "b")
        assert any(e.action == "catalog.incident.edit" and e.actor == "ed" for e in ws.log(inc, exact=True))
    minsk = [r for r in Workspace.open(world.root).incidents.regions() if r.name == "Мінск"][0].slug
    r = homed.post(f"/incidents/{inc}/edit", data={**data, "csrf_token": csrf_of(homed), "region": minsk})
    assert r.status_code == 400  # a region-limited editor cannot move it out of their regions
