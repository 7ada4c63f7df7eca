"""The review of a redacted copy through the library (``ws.review``), end to end: open, edit,
save (re-render, seal, log), approve (refused until everything is decided and shown), publish;
the published pixels and the regions file are checked."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from redact_helpers import (
    FACE_A,
    FACE_B,
    FACE_C,
    FACE_D,
    POSTER,
    SCENE_FRAMES,
    ScriptedDetector,
    frame_number,
    make_numbered_clip,
    make_scene,
    scene_script,
)
from witnessbox.catalog import IncidentInput, make_timespan
from witnessbox.errors import InputError, IntegrityError, ReviewError, UsageError
from witnessbox.media.video import FrameIndex, FrameReader, probe_video, read_frame
from witnessbox.redact.pipeline import Redactor
from witnessbox.redact.regions import read_regions
from witnessbox.workspace import Workspace

PASS = "correct horse battery staple"


def _publish(ws: Workspace, original: str, out: Path) -> Path:
    """Publish one incident linking ``original``; returns the published medium's file."""
    inc = ws.incidents
    if "Minsk" not in [r.name for r in inc.regions()]:
        inc.add_region("Minsk")
    if not any(i.id == "inc-1" for i in inc.list()):
        inc.add(IncidentInput(id="inc-1", title="Detention", time=make_timespan("2020-08-10"), place="",
                              region="Minsk", categories=("other",)))
        inc.link("inc-1", original, "primary")
        inc.set_status("inc-1", "verified")
        inc.set_status("inc-1", "published")
    ws.publishing.publish(out)
    media = [p for p in out.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".mp4")]
    media = [p for p in media if "static" not in p.parts]
    assert len(media) == 1, media
    return media[0]


def _published_count(ws: Workspace) -> int:
    gate, _ = ws.publishing.gate()
    return sum(len(v) for v in gate.media.values())


def _video_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _mean(a: np.ndarray, box: tuple[float, float, float, float], inset: int = 3) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    return float(a[y0 + inset : y1 - inset, x0 + inset : x1 - inset].mean())


# -- photo ---------------------------------------------------------------------------------------


def _free_box(regions: list[tuple[float, float, float, float]], w: int, h: int, size: int = 30) -> tuple[int, ...]:
    """A box of the photo that no region touches (where the test "draws a missed face")."""
    for y in range(0, h - size, 10):
        for x in range(0, w - size, 10):
            if all(x + size < b[0] or x > b[2] or y + size < b[1] or y > b[3] for b in regions):
                return (x, y, x + size, y + size)
    raise AssertionError("no free spot")


def test_photo_review_end_to_end(tmp_path: Path, face_photo: Path) -> None:
    ws = Workspace.init(tmp_path / "a", PASS)
    orig = ws.add([face_photo]).added[0].sha256
    d1 = ws.redaction.redact_item(orig)
    assert d1.name + ".suggestions.json" in d1.sidecars, "the suggestions are sealed beside the copy"
    rv = ws.review.open(d1.sha256, "alice")
    opened = [e for e in ws.log(orig) if e.action == "review.open"]
    assert opened and opened[-1].actor == "alice" and opened[-1].objects == (orig, d1.sha256)

    tracks = rv.tracks()
    base = read_regions(ws.sidecars(d1.sha256)[d1.name + ".regions.json"])
    assert len(tracks) == len(base.regions) >= 3 and all(t.origin == "detector" for t in tracks)
    assert rv.suggestions()
    with pytest.raises(ReviewError, match="undecided"):
        rv.approve()

    # Reject a "false positive" (a detected face, so a reason is required), draw a missed face.
    fp = tracks[0]
    with pytest.raises(UsageError, match="reason"):
        rv.reject(fp.id)
    rv.reject(fp.id, "a face on a poster, public figure")
    w, h = base.media.width, base.media.height
    free = _free_box([r.box for r in base.regions] + [r.box for s in rv.suggestions() for r in s.regions], w, h)
    drawn = rv.add_region(0, free, "box")
    for t in tracks[1:]:
        rv.accept(t.id)
    first, *rest = rv.suggestions()
    hidden = rv.hide_suggestion(first.id)
    rv.undo()
    assert first.id in rv.status().undecided_suggestions and hidden not in rv.state.tracks
    rv.redo()
    assert first.id not in rv.status().undecided_suggestions and rv.track(hidden).decision == "accepted"
    for s in rest:
        rv.dismiss_suggestion(s.id)
    with pytest.raises(ReviewError) as e:
        rv.approve()
    assert "never shown" in str(e.value) and "unsaved" in str(e.value)
    rv.show([0])

    # The review survives a restart (the web app is stateless between requests).
    again = ws.review.open(d1.sha256, "alice", log=False)
    assert again.regions() == rv.regions() and again.status().undecided_tracks == ()

    d2 = rv.save()
    assert d2.parent == orig and d2.sha256 != d1.sha256
    assert {d1.sha256, d2.sha256} <= {r.sha256 for r in ws.items()}, "the previous version stays"
    saved = read_regions(ws.sidecars(d2.sha256)[d2.name + ".regions.json"])
    assert saved.regions == rv.regions(), "the regions file is exactly what was drawn"
    assert saved.source_sha256 == orig
    assert any(r.source == "manual" and r.box == tuple(float(v) for v in free) for r in saved.regions)
    assert not any(r.box == fp.keys[0][0].box for r in saved.regions)
    logged = {e.action: e for e in ws.log(d2.sha256)}
    assert logged["redact"].actor == "alice" and logged["review.save"].actor == "alice"
    assert logged["review.save"].details["rejected"] == [{"track": fp.id, "reason": "a face on a poster, public figure"}]
    assert d2.name + ".suggestions.json" in d2.sidecars and d2.name + ".review.json" in d2.sidecars

    st = rv.status()
    assert st.ready and st.derivative == d2.sha256, st.blockers()
    approval = rv.approve()
    assert approval.actor == "alice" and approval.item == d2.sha256

    with ws.open_original(orig) as f:
        before = np.asarray(Image.open(f).convert("RGB"))
    out = np.asarray(Image.open(_publish(ws, orig, tmp_path / "site")).convert("RGB"))
    assert _mean(out, free) < 30, "the face drawn by the reviewer is hidden in the published copy"
    assert _mean(before, free) > 40
    fx0, fy0, fx1, fy1 = fp.keys[0][0].box
    cx, cy = int((fx0 + fx1) / 2), int((fy0 + fy1) / 2)
    patch = (cx - 3, cy - 3, cx + 3, cy + 3)
    assert abs(_mean(out, patch, 0) - _mean(before, patch, 0)) < 25, "the rejected region is not hidden"
    ws.close()


# -- video ---------------------------------------------------------------------------------------


@pytest.fixture
def scene_archive(tmp_path: Path) -> tuple[Workspace, str, str]:
    ws = Workspace.init(tmp_path / "a", PASS)
    orig = ws.add([make_scene(tmp_path / "scene.mp4")]).added[0].sha256
    d1 = ws.redaction.redact_reviewed(orig, redactor=Redactor(video_detector=ScriptedDetector(scene_script()), workers=1))
    return ws, orig, d1.sha256


def _decided_video_review(ws: Workspace, d1: str) -> tuple[object, dict[str, str]]:
    rv = ws.review.open(d1, "alice")
    tracks = {t.id: t for t in rv.tracks()}
    face_a = next(t for t in tracks.values() if t.regions_at(0) and t.regions_at(0)[0].box[0] < FACE_A[0])
    poster = next(t for t in tracks.values() if t.id != face_a.id)
    sugg = {s.kind: s for s in rv.suggestions()}
    assert set(sugg) == {"gap", "dropped_track", "below_threshold"}
    rv.reject(poster.id, "a printed poster, not a person")
    rv.accept(face_a.id)
    rv.dismiss_suggestion(sugg["gap"].id, "the carried region covers the face")
    rv.hide_suggestion(sugg["dropped_track"].id)
    weak = rv.hide_suggestion(sugg["below_threshold"].id)
    # Face C is there in every frame: extend the hidden suggestion both ways.
    rv.extend(weak, 0)
    rv.extend(weak, SCENE_FRAMES - 1)
    # Face D was never detected: draw it on frame 0 and on frame 20, merge the two across the
    # gap between them (interpolated), and extend the merged track to the end.
    d_box = (FACE_D[0] - 3, FACE_D[1] - 3, FACE_D[2] + 3, FACE_D[3] + 3)
    m1 = rv.add_region(0, d_box, "box")
    m2 = rv.add_region(20, d_box, "ellipse")
    rv.merge(m1, m2)
    rv.extend(m1, SCENE_FRAMES - 1)
    return rv, {"face_a": face_a.id, "poster": poster.id, "d": m1, "c": weak}


def test_video_review_end_to_end(tmp_path: Path, scene_archive: tuple[Workspace, str, str]) -> None:
    ws, orig, d1 = scene_archive
    rv, ids = _decided_video_review(ws, d1)
    assert [f for f in range(SCENE_FRAMES) if not rv.track(ids["d"]).regions_at(f)] == []
    rv.show(range(SCENE_FRAMES - 1))
    rv.save()
    with pytest.raises(ReviewError, match=r"1 frame\(s\) never shown to alice \(first: 29\)"):
        rv.approve()
    rv.show([SCENE_FRAMES - 1])
    rv.approve()
    d2 = rv.derivative
    saved = read_regions(ws.sidecars(d2.sha256)[d2.name + ".regions.json"])
    assert saved.regions == rv.regions()
    assert {r.frame for r in saved.regions} == set(range(SCENE_FRAMES))

    frames = _video_frames(_publish(ws, orig, tmp_path / "site"))
    assert len(frames) == SCENE_FRAMES
    for f, a in enumerate(frames):
        assert _mean(a, FACE_D) < 40, f"the drawn face is visible in frame {f}"
        assert _mean(a, FACE_C) < 40, f"the extended suggestion is visible in frame {f}"
        assert _mean(a, FACE_A) < 40, f"the accepted track is visible in frame {f}"
        assert _mean(a, POSTER) > 180, f"the rejected false positive is hidden in frame {f}"
    for f in (14, 15):
        assert _mean(frames[f], FACE_B) < 40, "the hidden dropped track is visible"


def test_approve_refused_while_anything_is_undecided(scene_archive: tuple[Workspace, str, str]) -> None:
    ws, _, d1 = scene_archive
    rv = ws.review.open(d1, "alice")
    rv.show(range(SCENE_FRAMES))
    for t in rv.tracks():
        rv.accept(t.id)
    st = rv.status()
    assert st.undecided_tracks == () and len(st.undecided_suggestions) == 3
    with pytest.raises(ReviewError, match=r"3 suggestion\(s\) undecided"):
        rv.approve()
    for s in rv.suggestions():
        rv.dismiss_suggestion(s.id)
    tid = rv.add_region(3, (1, 1, 9, 9))
    rv.delete_track(tid)  # a drawn track goes without a reason
    assert rv.status().ready
    rv.split(rv.tracks()[0].id, 10)  # a split part inherits the decision, changes nothing hidden
    assert rv.status().ready
    rv.approve()
    assert ws.review.approvers(d1) == ("alice",)


def test_library_approve_goes_through_the_review(scene_archive: tuple[Workspace, str, str],
                                                 tmp_path: Path) -> None:
    """``ws.publishing.approve`` (what the CLI and scripts call) runs the review's checks: no
    approval of an undecided or unseen copy, of an original, or of a copy without a regions file."""
    ws, orig, d1 = scene_archive
    with pytest.raises(ReviewError, match=r"track\(s\) undecided.*suggestion\(s\) undecided.*never shown to alice"):
        ws.publishing.approve(d1, reviewer="alice")
    rv = ws.review.open(d1, "alice")
    for t in rv.tracks():
        rv.accept(t.id)
    for s in rv.suggestions():
        rv.dismiss_suggestion(s.id)
    with pytest.raises(ReviewError, match=rf"{SCENE_FRAMES} frame\(s\) never shown to alice") as e:
        ws.publishing.approve(d1, reviewer="alice")
    assert "undecided" not in str(e.value)
    rv.show(range(SCENE_FRAMES - 1))
    with pytest.raises(ReviewError, match=r"1 frame\(s\) never shown to alice \(first: 29\)"):
        ws.publishing.approve(d1, reviewer="alice")
    # Frames shown to alice do not count for bob.
    with pytest.raises(ReviewError, match="never shown to bob"):
        ws.publishing.approve(d1, reviewer="bob")
    assert ws.publishing.approvals() == {} and _published_count(ws) == 0
    rv.show([SCENE_FRAMES - 1])
    approval = ws.publishing.approve(d1, reviewer="alice")
    assert approval.actor == "alice" and ws.review.approvers(d1) == ("alice",)
    assert [e.actor for e in ws.log(d1) if e.action == "review.approve"] == ["alice"]

    # An original is refused (not resolved to its copy), and so is a derivative that is not a
    # redacted copy with a regions file, whoever asks.
    with pytest.raises(InputError, match="is an original"):
        ws.publishing.approve(orig, reviewer="alice")
    thumb = tmp_path / "thumb.png"
    Image.new("RGB", (8, 8)).save(thumb)
    t = ws.add_derivative(orig, thumb, kind="thumbnail", method="resize")
    with pytest.raises(InputError, match="not a redacted copy"):
        ws.publishing.approve(t.sha256, reviewer="alice")
    bare = tmp_path / "bare.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(bare)
    b = ws.add_derivative(orig, bare, kind="redacted", method="by hand")
    with pytest.raises(InputError, match="no regions file"):
        ws.publishing.approve(b.sha256, reviewer="alice")
    assert set(ws.publishing.approvals()) == {d1}


def test_two_reviewers_required_by_the_archive_setting(scene_archive: tuple[Workspace, str, str]) -> None:
    ws, orig, d1 = scene_archive
    ws.review.set_approvals_required(2)
    assert ws.review.approvals_required() == 2
    rv, _ = _decided_video_review(ws, d1)
    rv.show(range(SCENE_FRAMES))
    rv.save()
    rv.approve()
    inc = ws.incidents
    inc.add_region("Minsk")
    inc.add(IncidentInput(id="inc-1", title="Detention", time=make_timespan("2020-08-10"), place="",
                          region="Minsk", categories=("other",)))
    inc.link("inc-1", orig, "primary")
    inc.set_status("inc-1", "verified")
    inc.set_status("inc-1", "published")
    assert _published_count(ws) == 0, "one approval is not enough when the archive requires two"
    again = ws.review.open(rv.derivative.sha256, "alice", log=False)
    again.approve()
    assert _published_count(ws) == 0, "the same reviewer twice is still one reviewer"
    bob = ws.review.open(rv.derivative.sha256, "bob")
    with pytest.raises(ReviewError, match="never shown to bob"):
        bob.approve()
    bob.show(range(SCENE_FRAMES))
    bob.approve()
    assert ws.review.approvers(rv.derivative.sha256) == ("alice", "bob")
    assert _published_count(ws) == 1
    ws.publishing.revoke(rv.derivative.sha256)
    assert _published_count(ws) == 0


def test_delete_on_one_frame_and_reasons(scene_archive: tuple[Workspace, str, str]) -> None:
    ws, _, d1 = scene_archive
    rv = ws.review.open(d1, "alice")
    a = rv.tracks()[0]
    with pytest.raises(UsageError, match="reason"):
        rv.delete_frame(a.id, 5)
    rv.delete_frame(a.id, 5, "the face is turned away, nothing to see")
    assert rv.track(a.id).regions_at(5) == () and rv.track(a.id).regions_at(4) and rv.track(a.id).regions_at(6)
    assert not any(r.frame == 5 and r.box == a.regions_at(5)[0].box for r in rv.regions())
    rv.make_static(a.id, 10)
    boxes = {rv.track(a.id).regions_at(f)[0].box for f in range(SCENE_FRAMES)}
    assert len(boxes) == 1
    rv.set_key(a.id, 20, (0, 0, 30, 30))
    assert rv.track(a.id).regions_at(20)[0].box == (0, 0, 30, 30)
    with pytest.raises(InputError):
        rv.set_key(a.id, 20, (5, 5, 1, 1))
    with pytest.raises(InputError):
        rv.add_region(SCENE_FRAMES, (0, 0, 5, 5))


# -- refused: regions of another original --------------------------------------------------------


def test_regions_of_another_original_refused(tmp_path: Path, scene_archive: tuple[Workspace, str, str]) -> None:
    ws, orig, d1 = scene_archive
    rec = ws.item(d1)
    other_clip = make_scene(tmp_path / "other.mp4")
    with open(other_clip, "ab") as f:
        f.write(b"\0" * 16)  # another file (another sha256), the same pictures
    other = ws.add([other_clip]).added[0].sha256
    mine = ws.sidecars(d1)[rec.name + ".regions.json"]
    with pytest.raises(InputError, match="another file"):
        ws.redaction.redact_item(other, regions=mine)
    # A copy of the other original that carries this one's regions file cannot be reviewed.
    red = tmp_path / "red.mp4"
    with ws.open_original(d1) as f:
        red.write_bytes(f.read() + b"\0")
    side = tmp_path / "red.mp4.regions.json"
    side.write_bytes(mine.read_bytes())
    forged = ws.add_derivative(other, red, kind="redacted", method="hand", sidecars={side.name: side})
    with pytest.raises(InputError, match="another original"):
        ws.review.open(forged.sha256, "alice")
    # A regions file edited after sealing is refused too.
    doc = json.loads(mine.read_text())
    doc["source_sha256"] = other
    mine.chmod(0o644)
    mine.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError):
        ws.review.open(d1, "alice")


def test_parsed_files_are_shared_by_workspaces_and_still_checked(scene_archive: tuple[Workspace, str, str]) -> None:
    ws, _, d1 = scene_archive
    rv = ws.review.open(d1, "alice", log=False)
    with Workspace.open(ws.root, PASS) as other:  # as another web session would
        again = other.review.open(d1, "bob", log=False)
        assert [t.id for t in again.tracks()] == [t.id for t in rv.tracks()]
        assert all(a is b for a, b in zip(again.tracks(), rv.tracks(), strict=True)), "parsed once for both"
        assert again.status().tracks == rv.status().tracks and not again.unsaved()
        # The sealed hash is checked on every opening, parsed before or not.
        p = ws.sidecars(d1)[ws.item(d1).name + ".regions.json"]
        p.chmod(0o644)
        p.write_text(p.read_text().replace('"score": 0.', '"score": 0.0', 1))
        for w in (ws, other):
            with pytest.raises(IntegrityError):
                w.review.open(d1, "alice", log=False)


# -- frame-exact decoding --------------------------------------------------------------------------


def test_read_frame_is_exact_by_index(tmp_path: Path) -> None:
    clip = make_numbered_clip(tmp_path / "numbers.mp4", frames=48)
    for i in (0, 1, 2, 17, 24, 46, 47):
        assert frame_number(read_frame(clip, i)) == i
    with pytest.raises(InputError):
        read_frame(clip, 48)


@pytest.mark.parametrize("gop", [None, 8])
def test_read_frame_with_a_frame_index_is_exact(tmp_path: Path, gop: int | None) -> None:
    clip = make_numbered_clip(tmp_path / "numbers.mp4", frames=40, gop=gop)
    fi = FrameIndex.build(clip)
    assert fi is not None and len(fi.pts) == 40
    if gop:
        assert len(fi.keyframes) == 5
    for i in list(range(40)) + [17, 3, 39, 0]:  # forwards, then jumping back and forth
        assert frame_number(read_frame(clip, i, frame_index=fi, frames=40)) == i
    # An index that does not describe the file (another frame count) is not trusted.
    assert frame_number(read_frame(clip, 21, frame_index=FrameIndex(fi.pts[1:], fi.keyframes), frames=40)) == 21


@pytest.mark.parametrize("gop", [None, 8])
def test_frame_reader_steps_exactly(tmp_path: Path, gop: int | None) -> None:
    clip = make_numbered_clip(tmp_path / "numbers.mp4", frames=40, gop=gop)
    order = list(range(40)) + list(range(39, -1, -1)) + [5, 33, 34, 12, 13, 14, 2, 39, 0, 20, 19, 21]
    with FrameReader(clip, probe_video(clip), 40, keep=4) as reader:
        for i in order:
            assert frame_number(reader.read(i)) == i, f"asked {i}"
        with pytest.raises(InputError):
            reader.read(40)
    with FrameReader(clip, probe_video(clip), 41) as reader:  # an index that does not fit: counted
        assert frame_number(reader.read(22)) == 22
    # From a stream in memory (a decrypted original), the same.
    stream = io.BytesIO(clip.read_bytes())
    info = probe_video(stream)
    assert frame_number(read_frame(stream, 7, info)) == 7
    with FrameReader(stream, info, 40) as reader:
        assert [frame_number(reader.read(i)) for i in (30, 31, 2, 3, 39)] == [30, 31, 2, 3, 39]
    assert not stream.closed


def test_review_frame_decodes_the_original_exactly(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "a", PASS)
    orig = ws.add([make_numbered_clip(tmp_path / "numbers.mp4", frames=30)]).added[0].sha256
    d1 = ws.redaction.redact_reviewed(orig, redactor=Redactor(video_detector=ScriptedDetector({}), workers=1))
    rv = ws.review.open(d1.sha256, "alice")
    for i in (0, 13, 29):
        assert frame_number(rv.frame(i)) == i
    with rv.frame_reader() as read:
        assert [frame_number(read(i)) for i in (3, 4, 5, 4, 29)] == [3, 4, 5, 4, 29]
    order = [0, 1, 2, 3, 4, 5, 6, 20, 21, 19, 3, 29, 28, 0]
    with rv.frame_reader(ahead=4) as read:  # decoding ahead in a thread
        assert [frame_number(read(i)) for i in order] == order
    shape = rv.frame(0).shape
    with rv.encoded_frames(lambda a: np.ascontiguousarray(a).tobytes(), ahead=4) as send:
        got = [np.frombuffer(send(i), np.uint8).reshape(shape) for i in order]
        assert [frame_number(a) for a in got] == order
    assert not list((ws.root / "tmp").glob("plain-*")), "no decrypted copy is left on disk"


def test_cli_review_status_and_list(tmp_path: Path, scene_archive: tuple[Workspace, str, str],
                                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from witnessbox.cli import main

    ws, _, d1 = scene_archive
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASS)
    monkeypatch.setenv("WITNESSBOX_ACTOR", "carol")
    root = str(ws.root)

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as e:
            main([*argv, "--archive", root])
        return int(e.value.code or 0), capsys.readouterr().out

    code, out = run("review", "status", d1[:12], "--json")
    st = json.loads(out)
    assert code == 0 and st["reviewer"] == "carol" and not st["ready"]
    assert len(st["undecided_tracks"]) == 2 and len(st["undecided_suggestions"]) == 3
    assert st["frames_not_shown"] == SCENE_FRAMES
    code, out = run("review", "list", d1[:12], "--json")
    listed = json.loads(out)
    assert {s["kind"] for s in listed["suggestions"]} == {"gap", "dropped_track", "below_threshold"}
    code, out = run("review", "approvals", "--require", "2")
    assert code == 0 and "approvals required: 2" in out
    assert ws.review.approvals_required() == 2


def test_cli_approve_is_refused_until_the_review_is_complete(
        scene_archive: tuple[Workspace, str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`witnessbox approve` approves as $WITNESSBOX_ACTOR, through the review's checks: one line
    and exit 17 while anything is undecided or unseen; exit 3 for an original."""
    from witnessbox.cli import main

    ws, orig, d1 = scene_archive
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASS)
    monkeypatch.setenv("WITNESSBOX_ACTOR", "carol")

    def approve(item: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as e:
            main(["approve", item[:12], "--archive", str(ws.root)])
        err = capsys.readouterr().err
        return int(e.value.code or 0), err

    code, err = approve(d1)
    assert code == 17 and len(err.strip().splitlines()) == 1
    assert "2 track(s) undecided" in err and "3 suggestion(s) undecided" in err and "never shown to carol" in err
    rv = ws.review.open(d1, "carol")
    for t in rv.tracks():
        rv.accept(t.id)
    for sg in rv.suggestions():
        rv.dismiss_suggestion(sg.id, "checked")
    code, err = approve(d1)
    assert code == 17 and "undecided" not in err and f"{SCENE_FRAMES} frame(s) never shown to carol" in err
    rv.show(range(SCENE_FRAMES))
    monkeypatch.setenv("WITNESSBOX_ACTOR", "dave")  # carol's review does not count for dave
    code, err = approve(d1)
    assert code == 17 and "never shown to dave" in err
    assert ws.review.approvers(d1) == ()
    monkeypatch.setenv("WITNESSBOX_ACTOR", "carol")
    code, err = approve(d1)
    assert code == 0 and "by carol" in err
    assert ws.review.approvers(d1) == ("carol",)
    code, err = approve(orig)
    assert code == 3 and "is an original" in err


def test_timeline_and_preview(scene_archive: tuple[Workspace, str, str]) -> None:
    ws, _, d1 = scene_archive
    rv = ws.review.open(d1, "alice")
    a = next(t for t in rv.tracks() if 9 in t.sightings and 5 in t.sightings)
    assert [a.frame_kind(f) for f in (5, 7, 9)] == ["sighting", "key", "sighting"]  # 7: carried by the pipeline
    m = rv.add_region(2, FACE_D, "box")
    rv.set_key(m, 12, FACE_D)
    t = rv.track(m)
    assert [t.frame_kind(f) for f in (1, 2, 7, 12, 13)] == ["outside", "key", "interpolated", "key", "outside"]
    rv.extend(m, 20)
    assert rv.track(m).frame_kind(16) == "held"
    shown = rv.preview(7)
    assert _mean(shown, FACE_D) < 10 and _mean(rv.frame(7), FACE_D) > 180


def test_windowed_state_has_exactly_the_keys_of_its_frames(scene_archive: tuple[Workspace, str, str]) -> None:
    import dataclasses

    from witnessbox.workspace.review import LOW_SCORE, TIMELINE_CODES, timeline_text

    ws, _, d1 = scene_archive
    rv = ws.review.open(d1, "alice")
    # A drawn track with keys far apart (frames inside the window are interpolated from keys
    # outside it) and one frame emptied inside the window.
    m = rv.add_region(2, FACE_D, "box")
    rv.set_key(m, 25, (FACE_D[0] + 20, FACE_D[1], FACE_D[2] + 20, FACE_D[3]))
    rv.delete_frame(m, 13)
    first, last = 10, 15
    win = rv.window_doc(first, last)
    assert (win["first"], win["last"]) == (first, last)
    assert set(win["tracks"]) == {t.id for t in rv.tracks()}
    for t in rv.tracks():
        w = win["tracks"][t.id]
        frames = {int(f) for f in w["keys"]}
        inside = {f for f in t.keys if first <= f <= last}
        assert {f for f in frames if first <= f <= last} == inside, t.id
        # Outside the window: only the nearest non-empty key on each side.
        below = [f for f, v in t.keys.items() if f < first and v]
        above = [f for f, v in t.keys.items() if f > last and v]
        assert frames - inside == ({max(below)} if below else set()) | ({min(above)} if above else set()), t.id
        assert w["removed"] == sorted(f for f in t.removed if first <= f <= last)
        # Drawn from the window alone, every frame of it is what the whole track draws.
        part = dataclasses.replace(t, keys={int(f): t.keys[int(f)] for f in w["keys"]}, removed=frozenset(w["removed"]))
        for f in range(first, last + 1):
            assert part.regions_at(f) == t.regions_at(f), (t.id, f)
    assert win["tracks"][m]["removed"] == [13] and {"2", "25"} <= set(win["tracks"][m]["keys"])
    for s in rv.suggestions():
        assert [r[0] for r in win["suggestions"][s.id]] == [r.frame for r in s.regions if first <= r.frame <= last]

    # The page's state: the same track summaries windowed or whole; timelines match frame_kind.
    whole, around = rv.state_doc(), rv.state_doc(12, radius=2)
    assert (around["window"]["first"], around["window"]["last"]) == (first, 14)
    assert whole["tracks"] == around["tracks"] and whole["suggestions"] == around["suggestions"]
    assert (whole["window"]["first"], whole["window"]["last"]) == (0, SCENE_FRAMES - 1)
    assert all("keys" not in t and "regions" not in t for t in whole["tracks"])
    for doc in whole["tracks"]:
        t = rv.track(doc["id"])
        assert {int(f) for f in whole["window"]["tracks"][t.id]["keys"]} == set(t.keys)
        runs = re.findall(r"([a-z])(\d+)", doc["timeline"])
        assert "".join(c + n for c, n in runs) == doc["timeline"]
        assert timeline_text(t.timeline(LOW_SCORE)) == doc["timeline"]
        kind_of = {c: k for k, c in TIMELINE_CODES.items()}
        kinds = [kind_of[c] for c, n in runs for _ in range(int(n))]
        assert len(kinds) == t.end - t.start + 1
        for f, k in zip(range(t.start, t.end + 1), kinds, strict=True):
            want = t.frame_kind(f)
            if want in ("sighting", "key") and t.keys[f] and t.keys[f][0].source == "detector" \
                    and t.keys[f][0].score < LOW_SCORE:
                want = "low"
            assert k == want, (t.id, f)
        assert doc["sightings"] == len(t.sightings)
    assert next(d for d in whole["tracks"] if d["id"] == m)["marks"] == [2, 12, 14, 25]  # emptying 13 pins 12 and 14
    with pytest.raises(InputError):
        rv.window_doc(15, 10)
    with pytest.raises(InputError):
        rv.window_doc(SCENE_FRAMES, SCENE_FRAMES + 5)  # no frame of the clip


def test_unsaved_follows_what_edits_change_in_the_hidden_regions(scene_archive: tuple[Workspace, str, str]) -> None:
    ws, _, d1 = scene_archive
    rv = ws.review.open(d1, "alice")
    t = rv.tracks()[0]
    assert not rv.unsaved()
    rv.accept(t.id)
    assert not rv.unsaved(), "accepting a hidden track changes nothing hidden"
    rv.reject(t.id, "a poster")
    assert rv.unsaved()
    rv.undo()
    assert not rv.unsaved()
    f = t.start
    b = t.regions_at(f)[0].box
    rv.set_key(t.id, f, (b[0] + 5, b[1], b[2] + 5, b[3]))
    assert rv.unsaved()
    rv.undo()
    assert not rv.unsaved()
    rv.redo()
    assert rv.unsaved()
    again = ws.review.open(d1, "alice", log=False)  # parsed files reused; the draft keeps the edit
    assert again.unsaved()
    again.undo()
    assert not again.unsaved()
