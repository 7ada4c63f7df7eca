"""The suggestions sidecar (docs/review.md): golden text, strict reading, and what the pipeline
writes beside each regions file without changing what it hides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from redact_helpers import FACE_A, FACE_B, FACE_C, PlainScriptedDetector, ScriptedDetector, make_scene, scene_script
from witnessbox.errors import InputError
from witnessbox.redact.detector import CenterFace, MultiScaleDetector
from witnessbox.redact.pipeline import Redactor
from witnessbox.redact.regions import MediaInfo, Region, read_regions
from witnessbox.redact.suggestions import (
    Suggestion,
    SuggestionsFile,
    TrackRef,
    loads_suggestions,
    parse_suggestions,
    read_suggestions,
    regions_digest,
    suggestions_path,
)

GOLDEN = Path(__file__).parent / "golden" / "suggestions.json"


def _doc() -> SuggestionsFile:
    return SuggestionsFile(
        media=MediaInfo(1920, 1080, 600, 30.0),
        source_sha256="ab12",
        regions_sha256="cd34",
        tracks=(TrackRef("t1", (0, 2, 3), (0, 2), 0.83),),
        suggestions=(
            Suggestion("s1", "below_threshold", 4, 5, 0.07, None,
                       (Region(4, "ellipse", (10, 20.5, 30, 40), 1.0, "manual"),
                        Region(5, "ellipse", (11, 21, 31, 41.25), 1.0, "manual"))),
            Suggestion("s2", "gap", 1, 1, 0.0, "t1", (Region(1, "ellipse", (800, 140, 905, 255), 1.0, "manual"),)),
        ),
        params={"floor": 0.05, "threshold": 0.1},
    )


def test_golden_text_and_round_trip() -> None:
    assert _doc().to_json() == GOLDEN.read_text()
    assert parse_suggestions(json.loads(GOLDEN.read_text())) == _doc()
    assert loads_suggestions(GOLDEN.read_bytes()) == _doc()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("format",), "witnessbox-regions"),
        (("version",), 2),
        (("suggestions", 0, "kind"), "maybe"),
        (("suggestions", 0, "frames"), [5, 4]),
        (("suggestions", 0, "frames"), [0, 600]),
        (("suggestions", 1, "regions", 0, "box"), [10, 10, 5, 20]),
        (("tracks", 0, "regions"), [0, "two"]),
    ],
)
def test_strict_reading(path: tuple[object, ...], value: object) -> None:
    doc = json.loads(GOLDEN.read_text())
    node = doc
    for k in path[:-1]:
        node = node[k]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    with pytest.raises(InputError) as want:
        parse_suggestions(doc)
    with pytest.raises(InputError) as got:  # from its bytes, the fast decoder first
        loads_suggestions(json.dumps(doc).encode())
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("tracks", 0, "regions"), [0, True]),
        (("tracks", 0, "sightings"), None),
        (("tracks", 0, "best_score"), "0.5"),
        (("tracks", 0, "best_score"), True),
        (("tracks", 0, "id"), 3),
        (("tracks",), {}),
        (("params",), None),
        (("media",), None),
        (("source_sha256",), None),
        (("suggestions",), None),
    ],
)
def test_fast_and_strict_reading_agree(path: tuple[object, ...], value: object) -> None:
    """Whatever the fast decoder does not take goes the field by field way: same outcome."""
    doc = json.loads(GOLDEN.read_text())
    node = doc
    for k in path[:-1]:
        node = node[k]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    try:
        want: object = parse_suggestions(json.loads(json.dumps(doc)))
    except InputError as e:
        want = str(e)
    try:
        got: object = loads_suggestions(json.dumps(doc).encode())
    except InputError as e:
        got = str(e)
    assert got == want


def test_a_missing_score_takes_its_default_either_way() -> None:
    doc = json.loads(GOLDEN.read_text())
    del doc["tracks"][0]["best_score"]
    got = loads_suggestions(json.dumps(doc).encode())
    assert got == parse_suggestions(doc) and got.tracks[0].best_score == 0.0


def test_photo_sidecar_names_its_regions_and_adds_nothing_hidden(face_photo: Path, tmp_path: Path) -> None:
    res = Redactor(workers=1).redact_file(face_photo, tmp_path / face_photo.name)
    assert res.suggestions_file == suggestions_path(res.output) and res.suggestions_file.is_file()
    regions = read_regions(res.regions_file)
    sugg = read_suggestions(res.suggestions_file)
    assert sugg.regions_sha256 == regions_digest(regions)
    assert regions_digest(regions) == __import__("hashlib").sha256(res.regions_file.read_bytes()).hexdigest()
    # Every region belongs to exactly one track; a photo's track is one detection.
    claimed = sorted(i for t in sugg.tracks for i in t.regions)
    assert claimed == list(range(len(regions.regions)))
    assert sugg.suggestions, "the facemask photo has weak detections under the threshold"
    for s in sugg.suggestions:
        assert s.kind == "below_threshold" and 0.05 <= s.score < 0.16
        # A suggestion is never already hidden: its centre lies outside every hidden ellipse.
        (r,) = s.regions
        cx, cy = (r.box[0] + r.box[2]) / 2, (r.box[1] + r.box[3]) / 2
        for g in regions.regions:
            x0, y0, x1, y1 = g.box
            assert ((cx - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2 + ((cy - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2 > 1.0


def test_photo_faces_are_the_same_with_or_without_suggestions(face_photo: Path) -> None:
    from witnessbox.media.images import load_image

    rgb = np.ascontiguousarray(load_image(face_photo).frames[0][..., :3])
    det = MultiScaleDetector(CenterFace(0.1), threshold=0.16)
    kept, weak = det.detect_all(rgb, 0.05)
    assert kept == det(rgb)
    assert weak and all(0.05 <= d.score < 0.16 for d in weak)


def test_video_suggestions_gap_dropped_and_weak(tmp_path: Path) -> None:
    clip = make_scene(tmp_path / "scene.mp4")
    res = Redactor(video_detector=ScriptedDetector(scene_script()), workers=1).redact_file(clip, tmp_path / "a.mp4")
    plain = Redactor(video_detector=PlainScriptedDetector(scene_script()), workers=1).redact_file(
        clip, tmp_path / "b.mp4")
    # What is hidden does not depend on the suggestions.
    assert res.regions_file.read_text() == plain.regions_file.read_text()
    assert res.suggestions_file is not None
    regions = read_regions(res.regions_file)
    sugg = read_suggestions(res.suggestions_file)
    assert sorted(i for t in sugg.tracks for i in t.regions) == list(range(len(regions.regions)))
    assert len(sugg.tracks) == 2  # face A and the poster
    by_kind = {s.kind: s for s in sugg.suggestions}
    assert sorted(s.kind for s in sugg.suggestions) == ["below_threshold", "dropped_track", "gap"]
    gap = by_kind["gap"]
    face_a = next(t for t in sugg.tracks if 0 in t.sightings and 9 in t.sightings)
    assert (gap.first, gap.last, gap.track) == (6, 8, face_a.id)
    assert sorted({r.frame for r in gap.regions}) == [6, 7, 8]
    dropped = by_kind["dropped_track"]
    assert (dropped.first, dropped.last) == (14, 15) and dropped.score == pytest.approx(0.15)
    weak = by_kind["below_threshold"]
    assert (weak.first, weak.last) == (10, 12)
    # Hiding a suggestion covers its face: the suggested regions contain the face's centre.
    for s, face in ((dropped, FACE_B), (weak, FACE_C), (gap, FACE_A)):
        cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
        for f in range(s.first, s.last + 1):
            assert any(r.frame == f and r.box[0] < cx < r.box[2] and r.box[1] < cy < r.box[3] for r in s.regions)


def test_rerender_keeps_no_stale_suggestions(tmp_path: Path) -> None:
    clip = make_scene(tmp_path / "scene.mp4")
    r = Redactor(video_detector=ScriptedDetector(scene_script()), workers=1)
    first = r.redact_file(clip, tmp_path / "a.mp4")
    again = r.redact_file(clip, tmp_path / "a.mp4", regions=first.regions_file)
    assert again.suggestions_file is None and not suggestions_path(again.output).exists()
    # Re-rendering a file witnessbox wrote keeps it exactly (rounding is idempotent).
    assert read_regions(again.regions_file).regions == read_regions(first.regions_file).regions


def test_video_detector_faces_are_the_same_with_or_without_suggestions(face_photo: Path) -> None:
    from witnessbox.media.images import load_image
    from witnessbox.redact.detector import VideoFrameDetector, ZoomPlan

    rgb = np.ascontiguousarray(load_image(face_photo).frames[0][..., :3])
    det = VideoFrameDetector(CenterFace(0.05), 640, threshold=0.1, zoom=ZoomPlan())
    for index in (0, 1):  # plain with the closer look, mirrored without
        kept, weak = det.detect_all(rgb, index)
        assert kept == det(rgb, index)
        assert all(d.score < 0.15 for d in weak)


def test_a_failed_redaction_leaves_no_suggestions_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out" / "bad.png"
    out.parent.mkdir()
    stale = suggestions_path(out)
    stale.write_text("{}")  # from an earlier run at the same place
    with pytest.raises(InputError):
        Redactor(workers=1).redact_file(bad, out)
    assert not stale.exists() and not out.exists()
