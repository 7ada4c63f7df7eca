"""The site builder from typed inputs: incremental rebuilds, fail-closed commits, recovery."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from witnessbox.catalog import Catalog, IncidentInput, Region, Role, Status, create_schema, make_timespan
from witnessbox.errors import PublishError
from witnessbox.publish.builder import STATE_FILE, build_site, verify_site
from witnessbox.publish.gate import ItemInfo, select
from witnessbox.publish.media import encode_image


def _jpeg(color: tuple[int, int, int]) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(b, "JPEG")
    return b.getvalue()


class World:
    """A catalog in memory with N published incidents, each with one approved derivative."""

    def __init__(self, n: int = 6) -> None:
        self.engine = sa.create_engine("sqlite://")
        create_schema(self.engine)
        self.clock = ["2026-01-01T00:00:00+00:00"]
        self.cat = Catalog(self.engine, now=lambda: self.clock[0])
        self.items: dict[str, ItemInfo] = {}
        self.approvals: dict[str, str] = {}
        self.cat.add_region("Мінск")
        self.cat.add_region("Гродна")
        for i in range(n):
            orig = self._item(_jpeg((i * 30 % 255, 10, 10)))
            der = self._item(_jpeg((10, i * 30 % 255, 10)), parent=orig)
            self.approvals[der] = "2026-01-01T00:00:00+00:00"
            self.cat.add(IncidentInput(id=f"i{i}", title=f"Інцыдэнт {i}", time=make_timespan(f"2020-08-{10 + i:02d}"),
                                       place="Плошча", region="Мінск" if i % 2 else "Гродна", categories=("beating",)))
            self.cat.link(f"i{i}", orig, Role.PRIMARY)
            self.cat.set_status(f"i{i}", Status.VERIFIED)
            self.cat.set_status(f"i{i}", Status.PUBLISHED)

    def _item(self, data: bytes, parent: str | None = None) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.items[sha] = ItemInfo(sha, parent, "image/jpeg", "redacted" if parent else "", lambda d=data: d)
        return sha

    def originals(self) -> frozenset[str]:
        return frozenset(s for s, it in self.items.items() if it.parent is None)

    def build(self, out: Path, **kw: object):  # type: ignore[no-untyped-def]
        gate = select(self.cat.list(), self.items, self.approvals)
        return build_site(out, gate, self.cat.regions(), self.cat.categories(), originals=self.originals(), **kw)  # type: ignore[arg-type]


def _inodes(site: Path) -> dict[str, int]:
    return {p.relative_to(site).as_posix(): p.stat().st_ino for p in site.rglob("*") if p.is_file()}


def test_two_builds_in_two_folders_are_identical(tmp_path: Path) -> None:
    w = World()
    w.build(tmp_path / "a")
    w.build(tmp_path / "b")
    files = lambda d: {p.relative_to(d): p.read_bytes() for p in d.rglob("*") if p.is_file()}  # noqa: E731
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_changing_one_incident_rewrites_only_what_depends_on_it(tmp_path: Path) -> None:
    w = World(14)  # more than the home page's latest 10, so an old incident is not on it
    out = tmp_path / "site"
    w.build(out)
    before = _inodes(out)
    w.clock[0] = "2026-02-01T00:00:00+00:00"
    inc = w.cat.get("i1")
    w.cat.replace("i1", IncidentInput(id="i1", title="Новы загаловак", time=inc.time, place=inc.place,
                                      region=inc.region, categories=inc.categories))
    rep = w.build(out)
    region = next(p for p in before if p.startswith("regions/") and "minsk" in p)
    assert set(rep.written) == {
        "incidents/i1.html", region, "incidents.json", "incidents.csv", "feed.atom", "search-index.js",
        "manifest.json", "SHA256SUMS",
    }
    after = _inodes(out)
    changed = {p for p in after if after[p] != before.get(p)} - {STATE_FILE}
    assert changed == set(rep.written)  # every other file is the very same inode: not rewritten
    assert verify_site(out) == []
    assert "Новы загаловак" in (out / "incidents" / "i1.html").read_text(encoding="utf-8")


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_rebuild_after_changes_has_the_bytes_of_a_full_build(tmp_path: Path) -> None:
    # Pages, open data and the feed (fingerprinted by its entries) after two changes must be
    # exactly what a build from scratch writes.
    w = World(14)
    out = tmp_path / "site"
    w.build(out)
    for k, (title, clock) in enumerate([("Новы <загаловак>", "2026-02-01T00:00:00+00:00"), ("Яшчэ адзін", "2026-03-01T00:00:00+00:00")]):
        w.clock[0] = clock
        inc = w.cat.get(f"i{k + 3}")
        w.cat.replace(inc.id, IncidentInput(id=inc.id, title=title, time=inc.time, place=inc.place, region=inc.region,
                                            categories=inc.categories, description="**новае** апісанне"))
        w.build(out)
    w.build(tmp_path / "fresh")
    assert _files(out) == _files(tmp_path / "fresh")
    assert "Яшчэ" in (out / "feed.atom").read_text(encoding="utf-8")


def test_unpublishing_removes_the_page_and_its_media(tmp_path: Path) -> None:
    w = World(3)
    out = tmp_path / "site"
    w.build(out)
    w.cat.set_status("i1", Status.VERIFIED)
    rep = w.build(out)
    assert "incidents/i1.html" in rep.removed
    assert any(p.startswith("media/") for p in rep.removed)
    assert not (out / "incidents" / "i1.html").exists()
    assert verify_site(out) == []


def test_revoked_approval_leaves_media_out(tmp_path: Path) -> None:
    w = World(2)
    der = next(iter(w.approvals))
    del w.approvals[der]
    rep = w.build(tmp_path / "site")
    assert rep.media == 1 and len(rep.left_out) == 1


def test_output_equal_to_an_original_stops_and_keeps_the_old_site(tmp_path: Path) -> None:
    w = World(2)
    out = tmp_path / "site"
    w.build(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # An "original" whose bytes are exactly what the encoder will publish for a new derivative.
    data = _jpeg((1, 2, 3))
    published = encode_image(data).data
    orig = w._item(published)
    der = w._item(data, parent=orig)
    w.approvals[der] = "2026-01-02T00:00:00+00:00"
    w.cat.replace("i0", IncidentInput(id="i0", title="changed", time=make_timespan("2020-08-10"), place="",
                                      region="Гродна", categories=("beating",)))
    w.cat.link("i0", orig, Role.CORROBORATING)
    with pytest.raises(PublishError, match="would equal original"):
        w.build(out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] in ([], [".site.lock"])


def test_a_folder_that_is_not_a_site_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"precious")
    with pytest.raises(PublishError, match="not empty and was not built by witnessbox"):
        World(1).build(out)
    assert (out / "thesis.docx").read_bytes() == b"precious"


def test_crash_between_the_two_renames_is_repaired(tmp_path: Path) -> None:
    w = World(2)
    out = tmp_path / "site"
    w.build(out)
    os.rename(out, tmp_path / ".site.old-999")  # as if killed after moving the old site aside
    (tmp_path / ".site.staging-x").mkdir()
    rep = w.build(out)
    assert rep.written == ()  # the old tree came back and was fully reused
    assert not (tmp_path / ".site.old-999").exists() and not (tmp_path / ".site.staging-x").exists()


def test_damaged_file_in_old_site_is_rewritten(tmp_path: Path) -> None:
    w = World(2)
    out = tmp_path / "site"
    w.build(out)
    (out / "incidents" / "i0.html").write_text("defaced")
    w.build(out)
    assert verify_site(out) == []


def test_state_file_holds_only_public_data(tmp_path: Path) -> None:
    w = World(2)
    out = tmp_path / "site"
    w.build(out)
    state = (out / STATE_FILE).read_text()
    for sha in w.items:
        assert sha not in state


def test_media_failure_is_left_out_not_published(tmp_path: Path) -> None:
    w = World(1)
    orig = w._item(b"not an image at all")
    der = w._item(b"still not an image", parent=orig)
    w.approvals[der] = "2026-01-01T00:00:00+00:00"
    w.cat.link("i0", orig, Role.CONTEXT)
    rep = w.build(tmp_path / "site")
    assert rep.media == 1
    assert any("cannot be re-encoded" in lo.reason for lo in rep.left_out)


def test_strict_refuses_media_that_fail_to_re_encode_and_keeps_the_old_site(tmp_path: Path) -> None:
    """--strict fails closed on every left-out medium, including those found only while
    re-encoding: nothing is written, the previous site stays as it was."""
    w = World(1)
    out = tmp_path / "site"
    w.build(out, strict=True)
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    orig = w._item(b"not an image at all")
    der = w._item(b"still not an image", parent=orig)
    w.approvals[der] = "2026-01-01T00:00:00+00:00"
    w.cat.link("i0", orig, Role.CONTEXT)
    with pytest.raises(PublishError, match="left out"):
        w.build(out, strict=True)
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    with pytest.raises(PublishError, match="left out"):
        w.build(tmp_path / "new", strict=True)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("slug", ["../../escaped", "../escaped", "./x", "a/../../../escaped"])
def test_hostile_slug_from_an_edited_catalog_writes_nothing_outside(tmp_path: Path, slug: str) -> None:
    """Slugs are derived, but the SQL catalog can be edited by hand: a ``../`` slug reaching the
    builder must stop it before any file is written outside the site (nothing is published)."""
    w = World(2)
    gate = select(w.cat.list(), w.items, w.approvals)
    regions = [Region(r.name, slug) for r in w.cat.regions()]
    out = tmp_path / "a" / "b" / "site"
    with pytest.raises(PublishError, match="output path"):
        build_site(out, gate, regions, w.cat.categories(), originals=w.originals())
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [".site.lock"]


def test_state_file_naming_paths_outside_the_site_is_not_trusted(tmp_path: Path) -> None:
    """The state file lies in the served folder: a path in it that leaves the site must not
    lead an incremental rebuild to delete a file outside (the build falls back to a full one)."""
    import json

    w = World(2)
    out = tmp_path / "site"
    w.build(out)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    state = json.loads((out / STATE_FILE).read_bytes())
    state["files"]["../victim.txt"] = hashlib.sha256(b"keep me").hexdigest()
    state["sizes"]["../victim.txt"] = 7
    (out / STATE_FILE).write_text(json.dumps(state))
    w.cat.replace("i0", IncidentInput(id="i0", title="changed", time=make_timespan("2020-08-10"), place="Плошча",
                                      region="Гродна", categories=("beating",)))
    rep = w.build(out)
    assert victim.read_text() == "keep me"
    assert "../victim.txt" not in rep.removed
    assert verify_site(out) == []


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    cb: Callable[[str, int, int], None] = lambda s, d, t: seen.append((s, d, t))  # noqa: E731
    World(2).build(tmp_path / "site", progress=cb)
    assert ("media", 2, 2) in seen and ("pages", 2, 2) in seen


def test_interrupted_in_place_commit_leads_to_a_full_rebuild(tmp_path: Path) -> None:
    from witnessbox.publish.builder import DIRTY_FILE

    w = World(2)
    out = tmp_path / "site"
    w.build(out)
    (out / "incidents" / "i0.html").write_text("half-updated page of the same size?")
    (out / DIRTY_FILE).write_text("interrupted")
    rep = w.build(out)
    assert "incidents/i0.html" in rep.written and rep.unchanged == ()
    assert not (out / DIRTY_FILE).exists()
    assert verify_site(out) == []


GOLDEN = Path(__file__).parent / "golden"


def _normalise(text: str) -> str:
    import re

    text = re.sub(r"[0-9a-f]{64}", "<sha256>", text)
    return re.sub(r"media/[0-9a-f]{32}\.", "media/<name>.", text)


def test_open_data_and_manifest_formats_match_the_golden_files(tmp_path: Path) -> None:
    import json

    out = tmp_path / "site"
    World(2).build(out)
    assert _normalise((out / "incidents.json").read_text(encoding="utf-8")) == (GOLDEN / "incidents.json").read_text(encoding="utf-8")
    csv_text = (out / "incidents.csv").read_bytes().decode("utf-8").replace("\r\n", "\n")
    assert _normalise(csv_text) == (GOLDEN / "incidents.csv").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest) == {"algorithm", "format", "files"} and manifest["algorithm"] == "sha256"
    assert all(set(f) == {"path", "sha256", "size"} for f in manifest["files"])
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert sums == [f"{f['sha256']}  {f['path']}" for f in manifest["files"]]

