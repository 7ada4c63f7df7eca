"""The published site of a real archive: what is in it, what never is, and that it holds together."""

from __future__ import annotations

import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av
import pytest
from _review_done import complete_review
from _servers import use_catalog_of
from publish_fixtures import MARKERS, PLATE_XSS, TESTIMONY, XSS, Published
from PIL import Image

from witnessbox.publish.builder import STATE_FILE, verify_site
from witnessbox.workspace import Workspace

STRUCTURAL = {"major_brand", "minor_version", "compatible_brands", "language", "handler_name", "vendor_id"}


def _files(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*") if p.is_file())


# -- scan of every published file ---------------------------------------------------------------
def _image_problems(p: Path) -> list[str]:
    data = p.read_bytes()
    problems = []
    for needle in (b"Exif\x00\x00", b"http://ns.adobe.com/xap/1.0/", b"Photoshop 3.0", b"8BIM", b"ICC_PROFILE",
                   b"adobe:ns:meta", b"iTXt", b"tEXt", b"zTXt", b"eXIf", b"iCCP"):
        if needle in data:
            problems.append(f"{p.name}: contains {needle!r}")
    with Image.open(io.BytesIO(data)) as im:
        if len(im.getexif()):
            problems.append(f"{p.name}: EXIF tags {dict(im.getexif())}")
        extra = set(im.info) - {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progression", "progressive"}
        if extra:
            problems.append(f"{p.name}: info {sorted(extra)}")
    return problems


def _video_problems(p: Path) -> list[str]:
    problems = []
    with av.open(str(p)) as c:
        tags = dict(c.metadata)
        for s in c.streams:
            tags.update(s.metadata)
            if s.type != "video":
                problems.append(f"{p.name}: has a {s.type} stream")
    left = set(tags) - STRUCTURAL
    if left:
        problems.append(f"{p.name}: container tags {sorted(left)}")
    if b"Lavf" in p.read_bytes():
        problems.append(f"{p.name}: muxer string")
    return problems


def test_scan_every_published_file(published: Published) -> None:
    originals = published.originals
    original_shas = {hashlib.sha256(b).hexdigest() for b in originals.values()}
    derivative_shas = set(published.approved.values()) | set(published.unapproved.values())
    problems: list[str] = []
    media = 0
    for site in (published.site, published.site_be):
        for p in _files(site):
            data = p.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if sha in original_shas or data in originals.values():
                problems.append(f"{p}: equals an original")
            if sha in derivative_shas:
                problems.append(f"{p}: is a derivative as sealed, not re-encoded")
            for marker in MARKERS:
                if marker.encode() in data:
                    problems.append(f"{p}: contains {marker}")
            if TESTIMONY.encode() in data or "я бачыў усё".encode() in data:
                problems.append(f"{p}: contains testimony text")
            for sha_text in original_shas:  # no trace of which original a file came from
                if sha_text.encode() in data:
                    problems.append(f"{p}: names an original's sha256")
            if p.suffix in (".jpg", ".png"):
                media += 1
                problems += _image_problems(p)
            elif p.suffix == ".mp4":
                media += 1
                problems += _video_problems(p)
    assert problems == []
    assert media == 4  # photo1 and the clip, in each of the two sites


def test_only_approved_redacted_media_and_left_outs_are_reported(published: Published) -> None:
    rep = published.report
    assert rep.incidents == 2 and rep.media == 2
    reasons = {lo.item: lo.reason for lo in rep.left_out}
    items = {r.name: r.sha256 for r in published.ws.items() if r.parent is None}
    assert set(reasons) == {items["photo2.jpg"], items["photo3.jpg"]}
    assert "no approved redacted derivative" in reasons[items["photo2.jpg"]]
    data = json.loads((published.site / "incidents.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in data] == ["xss-1", "nomedia-1"]
    assert {m["type"] for m in data[0]["media"]} == {"image/jpeg", "video/mp4"}
    assert data[1]["media"] == []
    everything = "".join(p.read_text(errors="replace") for p in _files(published.site))
    assert "DRAFT-ONLY-TITLE" not in everything and "DRAFT-ONLY-UNIT" not in everything and "draft-unit" not in everything


def test_manifest_lists_every_file_with_its_sha256(published: Published) -> None:
    assert verify_site(published.site) == []
    sums = (published.site / "SHA256SUMS").read_text().splitlines()
    listed = {line.split("  ", 1)[1] for line in sums}
    on_disk = {p.relative_to(published.site).as_posix() for p in _files(published.site)}
    assert on_disk - listed == {"manifest.json", "SHA256SUMS", STATE_FILE}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(p: Path) -> _Collect:
    c = _Collect()
    c.feed(p.read_text(encoding="utf-8"))
    return c


def test_no_script_gets_through_any_text_field(published: Published) -> None:
    for site in (published.site, published.site_be):
        for p in site.rglob("*.html"):
            page = _parse(p)
            for tag, attrs in page.tags:
                assert tag not in ("iframe", "object", "embed", "base", "foreignobject", "image", "use"), (p, tag)
                if tag == "svg":  # only the charts drawn at build time (publish/charts.py)
                    assert attrs.get("class") == "chart-svg", (p, attrs)
                if tag == "script":
                    assert attrs.get("src", "").endswith(("static/site.js", "search-index.js")), (p, attrs)
                for name, value in attrs.items():
                    assert not name.startswith("on"), (p, tag, name)
                    if name in ("href", "src", "action"):
                        assert not (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")), (p, value)
                if tag == "img":
                    assert (attrs.get("src") or "").startswith("../media/"), (p, attrs)  # no tracker images
    page = _parse(published.site / "incidents" / "xss-1.html")
    text = "".join(page.text)
    assert "T " + XSS in text  # shown as text, escaped
    assert "U " + XSS in text and PLATE_XSS in text


def test_search_index_and_feed_are_inert(published: Published) -> None:
    js = (published.site / "search-index.js").read_text(encoding="utf-8")
    assert js.startswith("window.WB_INDEX = ") and "<" not in js
    payload = json.loads(js[len("window.WB_INDEX = "):].rstrip().rstrip(";"))
    assert any(XSS in item["t"] for item in payload["items"])
    import xml.etree.ElementTree as ET

    feed = ET.fromstring((published.site / "feed.atom").read_bytes())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert "T " + XSS in titles


def test_hostile_region_names_stay_inside_the_site(published: Published) -> None:
    for p in _files(published.site):
        rel = p.relative_to(published.site).as_posix()
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", rel), rel
        assert ".." not in rel and len(p.name) < 100
    assert not (published.site.parent / "etc").exists()
    regions = sorted((published.site / "regions").iterdir())
    assert len(regions) == 2


def test_every_link_resolves(published: Published) -> None:
    broken = []
    for site in (published.site, published.site_be):
        for p in site.rglob("*.html"):
            for _tag, attrs in _parse(p).tags:
                for name in ("href", "src"):
                    url = attrs.get(name)
                    if not url or urlsplit(url).scheme in ("http", "https", "mailto"):
                        continue
                    target = (p.parent / unquote(urlsplit(url).path)).resolve()
                    if not target.is_file() or site.resolve() not in target.parents:
                        broken.append(f"{p.relative_to(site)} -> {url}")
    assert broken == []


def test_incident_without_media_says_so(published: Published) -> None:
    text = "".join(_parse(published.site / "incidents" / "nomedia-1.html").text)
    assert "No media is published for this incident." in text
    assert "Затрыманне без відэа" in text


def test_belarusian_interface_and_cyrillic_content(published: Published) -> None:
    home = "".join(_parse(published.site_be / "index.html").text)
    for word in ("Галоўная", "Пошук", "Метадалогія", "Інцыдэнты па рэгіёнах", "2 апублікаваныя інцыдэнты"):
        assert word in home, word
    page = "".join(_parse(published.site_be / "incidents" / "nomedia-1.html").text)
    assert "11 жніўня 2020" in page and "адвольнае затрыманне" in page
    assert "Home" not in home


def test_rebuild_without_change_is_byte_identical(published: Published, tmp_path: Path) -> None:
    before = {p.relative_to(published.site): p.read_bytes() for p in _files(published.site)}
    report = published.ws.publishing.publish(published.site)
    after = {p.relative_to(published.site): p.read_bytes() for p in _files(published.site)}
    assert report.written == ()
    assert after == before


def test_publish_is_logged(published: Published) -> None:
    entries = [e for e in published.ws.log() if e.action == "publish"]
    assert entries
    assert set(entries[0].objects) == set(published.approved.values())
    manifest_sha = hashlib.sha256((published.site_be / "manifest.json").read_bytes()).hexdigest()
    assert any(e.details["manifest_sha256"] == manifest_sha for e in entries)


def test_approve_refuses_an_original(published: Published) -> None:
    from witnessbox.errors import InputError

    original = next(r.sha256 for r in published.ws.items() if r.parent is None)
    with pytest.raises(InputError, match="is an original"):
        published.ws.publishing.approve(original)


def test_empty_archive_publishes_an_empty_site(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "empty", "pw")
    rep = ws.publishing.publish(tmp_path / "site")
    assert rep.incidents == 0 and rep.media == 0 and rep.left_out == ()
    text = "".join(_parse(tmp_path / "site" / "index.html").text)
    assert "No incidents are published yet." in text
    assert json.loads((tmp_path / "site" / "incidents.json").read_text()) == []
    assert verify_site(tmp_path / "site") == []


def test_cli_approve_and_publish(published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from publish_fixtures import PASS

    from witnessbox.cli import main

    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(published.ws.root))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASS)
    use_catalog_of(monkeypatch, published.ws)

    def run(argv: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as ei:
            main(argv)
        out, err = capsys.readouterr()
        return int(ei.value.code or 0), out, err

    # The CLI approves as $WITNESSBOX_ACTOR: carol never reviewed the copy, so it is refused
    # (one line, exit 17), and approved once she completed her review.
    monkeypatch.setenv("WITNESSBOX_ACTOR", "carol")
    code, _, err = run(["approve", published.approved["photo1"][:12]])
    assert code == 17 and "approval refused" in err and "never shown to carol" in err
    assert len(err.strip().splitlines()) == 1
    assert "carol" not in published.ws.review.approvers(published.approved["photo1"])
    complete_review(published.ws, published.approved["photo1"], "carol")
    code, _, err = run(["approve", published.approved["photo1"][:12]])
    assert code == 0 and "approved" in err and "by carol" in err
    assert "carol" in published.ws.review.approvers(published.approved["photo1"])
    code, _, err = run(["approve", next(r.sha256 for r in published.ws.items() if r.parent is None)])
    assert code == 3 and "is an original" in err
    code, _, err = run(["approve", published.unapproved["photo3"][:12]])  # a thumbnail
    assert code == 3 and "not a redacted copy" in err
    code, out, err = run(["publish", str(tmp_path / "cli-site"), "--json"])
    assert code == 0
    rep = json.loads(out)
    assert rep["incidents"] == 2 and len(rep["left_out"]) == 2
    assert err.count("left out:") == 2
    code, _, err = run(["publish", str(tmp_path / "strict-site"), "--strict"])
    assert code == 12 and "would be left out" in err and not (tmp_path / "strict-site").exists()
