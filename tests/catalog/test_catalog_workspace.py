"""The registry inside a real archive: custody log, encrypted testimonies, reindex, CLI forms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from witnessbox.catalog import IncidentInput, Observation, make_timespan
from witnessbox.cli import main
from witnessbox.errors import InputError, NotFoundError
from witnessbox.workspace import Workspace

PASS = "correct horse battery staple"
SECRET = "Я бачыў, як яго білі каля пад'езда SECRET-TESTIMONY-7731"
CONTACT = "+375 29 000-00-00 SECRET-CONTACT"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("catalog-ws")
    ws = Workspace.init(root / "archive", PASS)
    Image.new("RGB", (16, 16), (200, 0, 0)).save(root / "photo.jpg")
    ws.add([root / "photo.jpg"])
    ws.incidents.add_region("Мінск")
    ws.incidents.add(IncidentInput(id="w1", title="Затрыманне", time=make_timespan("2020-08-09"), place="Плошча",
                                   region="Мінск", categories=("arbitrary-detention",)))
    yield ws
    ws.close()


def test_every_change_is_in_the_custody_log(ws: Workspace) -> None:
    item = ws.items()[0].sha256
    ws.incidents.link("w1", item[:12], "corroborating")
    ws.incidents.observe("w1", Observation(unit="АМАП", officers=5))
    ws.incidents.set_status("w1", "verified")
    ws.incidents.edit("w1", title="Затрыманне на плошчы", categories=["beating"])
    actions = [e.action for e in ws.log()]
    for a in ("catalog.region.add", "catalog.incident.add", "catalog.incident.link", "catalog.observation.add",
              "catalog.incident.status", "catalog.incident.edit"):
        assert a in actions
    link = [e for e in ws.log() if e.action == "catalog.incident.link"][-1]
    assert item in link.objects and link.details["role"] == "corroborating"


def test_link_needs_a_sealed_item(ws: Workspace) -> None:
    with pytest.raises(NotFoundError):
        ws.incidents.link("w1", "f" * 64)


def test_testimony_is_encrypted_at_rest_and_never_logged_in_clear(ws: Workspace) -> None:
    t = ws.incidents.add_testimony("w1", SECRET, language="be", given_on="2020-08-12", contact=CONTACT)
    assert ws.incidents.testimonies("w1")[-1].has_contact
    for p in ws.root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for marker in ("SECRET-TESTIMONY-7731", "SECRET-CONTACT", "білі каля"):
                assert marker.encode() not in data, p
    got = ws.incidents.read_testimony(t.id)
    assert (got.text, got.contact) == (SECRET, CONTACT)
    assert ws.log()[-1].action == "catalog.testimony.read"


def test_testimony_files_are_verified(ws: Workspace) -> None:
    assert ws.incidents.verify_testimonies() == []
    path = next((ws.root / "testimonies").rglob("*.age"))
    path.chmod(0o644)
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    try:
        assert "does not match" in ws.incidents.verify_testimonies()[0]
        report = ws.verify()  # the archive's own verify names the broken testimony too
        assert not report.ok
        assert any(p.object == "testimonies" and "does not match" in p.detail for p in report.problems)
    finally:
        path.write_bytes(data)


def test_reindex_rebuilds_the_catalog_from_the_log(ws: Workspace) -> None:
    before = json.loads(ws.incidents.export("json"))
    testimonies = ws.incidents.testimonies("w1")
    links = ws.incidents.get("w1").links
    ws.reindex()
    assert json.loads(ws.incidents.export("json")) == before
    assert ws.incidents.testimonies("w1") == testimonies
    assert ws.incidents.get("w1").links == links


@pytest.mark.usefixtures("folder_store_only")
def test_unencrypted_archive_refuses_testimonies(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "plain", PASS, encrypted=False)
    ws.incidents.add_region("R")
    ws.incidents.add(IncidentInput(id="p1", title="T", time=make_timespan("2020-01-01"), place="", region="R", categories=("other",)))
    with pytest.raises(InputError, match="no-encryption"):
        ws.incidents.add_testimony("p1", "text", language="en", given_on="2020-01-02")


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ei:
        main(argv)
    out, err = capsys.readouterr()
    return int(ei.value.code or 0), out, err


def test_cli_forms_of_the_issue(ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(ws.root))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASS)
    assert _cli(["region", "add", "Гомель"], capsys)[0] == 0
    csv = tmp_path / "in.csv"
    csv.write_text(
        "id,title,start,end,precision,place,region,categories,description,status\n"
        "c1,Газ,2020-08-11T20:00,,exact,Вуліца,Гомель,chemical agents;beating,**Слезацечны** газ,verified\n",
        encoding="utf-8",
    )
    assert _cli(["import", str(csv)], capsys)[0] == 0
    item = ws.items()[0].sha256
    assert _cli(["incident", "link", "c1", item, "--role", "primary"], capsys)[0] == 0
    assert _cli(["incident", "status", "c1", "published"], capsys)[0] == 0
    code, out, _ = _cli(["incident", "list", "--json", "--region", "Гомель"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert [(r["id"], r["status"], r["categories"]) for r in rows] == [("c1", "published", ["chemical-agents", "beating"])]
    assert rows[0]["links"] == [{"item": item, "role": "primary"}]
    code, out, _ = _cli(["incident", "export", "--format", "csv", "--status", "published"], capsys)
    assert code == 0 and out.startswith("id,title,start,end,precision,place,region,categories,description,status")


def test_cli_bad_import_lists_every_row(ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(ws.root))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASS)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,title,start,end,precision,place,region,categories,description,status\n"
        "b1,,2020-01-01,,,p,Мінск,beating,,draft\n"
        "b2,T,2020-01-01,,,p,Nowhere,beating,,draft\n",
        encoding="utf-8",
    )
    before = len(ws.incidents.list())
    code, _, err = _cli(["import", str(bad)], capsys)
    assert code == 3
    assert "line 2: title is missing" in err and "line 3: unknown region" in err
    assert len(ws.incidents.list()) == before
