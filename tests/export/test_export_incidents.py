"""Exporting incidents: their record and links, testimonies only on request, contacts never;
an incident with nothing linked still makes a package that verifies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from witnessbox.export import bag_verifier as bv

PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from witnessbox.workspace import Workspace

    try:
        from witnessbox.catalog.models import IncidentInput, make_timespan
        from witnessbox.workspace.incidents import Incidents  # noqa: F401
    except ImportError as e:  # pragma: no cover - the incidents capability ships separately
        pytest.skip(f"incidents are not available in this build: {e}")
    base = tmp_path_factory.mktemp("inc")
    ws = Workspace.init(base / "arch", PASS)
    (base / "a.txt").write_text("statement scan")
    sha = ws.add([base / "a.txt"]).added[0].sha256
    ws.incidents.add_region("Region One")
    cat = ws.incidents.categories()[0].slug
    inc = ws.incidents.add(IncidentInput(title="Detention", time=make_timespan("2026-01-01"), place="square", region="Region One", categories=(cat,)))
    ws.incidents.link(inc.id, sha)
    ws.incidents.add_testimony(inc.id, "I saw the arrest", language="en", given_on="2026-01-02", contact="+000 SECRET CONTACT")
    empty = ws.incidents.add(IncidentInput(title="Nothing yet", time=make_timespan("2026-01-03"), place="bridge", region="Region One", categories=(cat,)))
    return {"ws": ws, "inc": inc.id, "empty": empty.id, "item": sha, "base": base}


def _incidents(bag: Path) -> list[dict[str, Any]]:
    data = json.loads((bag / "data/incident.json").read_bytes())
    assert data["format"] == "witnessbox-incidents/1"
    return list(data["incidents"])


def test_incident_export_holds_incident_items_and_custody(world: dict[str, Any], tmp_path: Path) -> None:
    s = world["ws"].exports.export([world["inc"]], tmp_path / "p")
    assert s.originals == 1
    (inc,) = _incidents(s.path)
    assert inc["id"] == world["inc"] and inc["links"] == [{"item": world["item"], "role": "primary"}]
    assert "testimonies" not in inc
    assert b"SECRET" not in b"".join(p.read_bytes() for p in s.path.rglob("*") if p.is_file())
    assert bv.verify_bag(s.path).ok
    actions = {json.loads(p.read_bytes())["action"] for p in (s.path / "data/custody/entries").iterdir()}
    assert "catalog.incident.add" in actions and "add" in actions


def test_testimonies_only_on_request_and_never_contacts(world: dict[str, Any], tmp_path: Path) -> None:
    s = world["ws"].exports.export([world["inc"]], tmp_path / "p", include_testimonies=True)
    (inc,) = _incidents(s.path)
    assert [t["text"] for t in inc["testimonies"]] == ["I saw the arrest"]
    assert set(inc["testimonies"][0]) == {"language", "given_on", "text"}
    assert b"SECRET" not in b"".join(p.read_bytes() for p in s.path.rglob("*") if p.is_file())
    assert bv.verify_bag(s.path).ok


def test_empty_incident(world: dict[str, Any], tmp_path: Path) -> None:
    s = world["ws"].exports.export([world["empty"]], tmp_path / "p")
    assert (s.originals, s.derivatives) == (0, 0) and s.entries >= 1
    assert _incidents(s.path)[0]["links"] == []
    assert not (s.path / "data/originals").exists()
    report = bv.verify_bag(s.path)
    assert report.ok, report.failures


def test_incident_and_item_together_are_deterministic(world: dict[str, Any], tmp_path: Path) -> None:
    a = world["ws"].exports.export([world["inc"], world["item"][:10]], tmp_path / "a", bagging_date="2026-01-01")
    b = world["ws"].exports.export([world["item"], world["inc"]], tmp_path / "b", bagging_date="2026-01-01")
    files = sorted(p.relative_to(a.path).as_posix() for p in a.path.rglob("*") if p.is_file())
    assert all((a.path / f).read_bytes() == (b.path / f).read_bytes() for f in files)


def test_changed_incident_file_is_named(world: dict[str, Any], tmp_path: Path) -> None:
    s = world["ws"].exports.export([world["inc"]], tmp_path / "p")
    p = s.path / "data/incident.json"
    p.write_bytes(p.read_bytes().replace(b"Detention", b"Detentiom"))
    report = bv.verify_bag(s.path)
    assert "data/incident.json" in report.failed_paths()


def _rewrite_manifests(bag: Path) -> None:
    """What a forger does after editing a payload file: recompute both (unsigned) manifests."""
    import hashlib

    def line(rel: str) -> str:
        return f"{hashlib.sha256((bag / rel).read_bytes()).hexdigest()}  {rel}\n"

    payload = sorted(p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file())
    (bag / "manifest-sha256.txt").write_text("".join(line(r) for r in payload))
    tags = sorted(
        p.relative_to(bag).as_posix()
        for p in bag.rglob("*")
        if p.is_file() and not p.relative_to(bag).as_posix().startswith("data/") and p.name != "tagmanifest-sha256.txt"
    )
    (bag / "tagmanifest-sha256.txt").write_text("".join(line(r) for r in tags))


def test_edited_incident_with_recomputed_manifests_is_caught(world: dict[str, Any], tmp_path: Path) -> None:
    """The incident file is bound by the signed export.json, not only by the unsigned manifests:
    a same-size edit of its date with both manifests recomputed is still caught and named."""
    s = world["ws"].exports.export([world["inc"]], tmp_path / "p")
    p = s.path / "data/incident.json"
    p.write_bytes(p.read_bytes().replace(b"2026-01-01", b"2026-01-09", 1))
    _rewrite_manifests(s.path)
    report = bv.verify_bag(s.path)
    assert not report.ok
    assert "data/incident.json" in report.failed_paths(), report.failures


def test_signed_export_json_states_the_incident_hash(world: dict[str, Any], tmp_path: Path) -> None:
    import hashlib

    s = world["ws"].exports.export([world["inc"]], tmp_path / "p")
    manifest = json.loads((s.path / "data/export.json").read_bytes())
    assert manifest["incidents_sha256"] == hashlib.sha256((s.path / "data/incident.json").read_bytes()).hexdigest()
