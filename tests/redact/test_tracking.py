"""Tracks: gaps are bridged, faces covered before their first and after their last sighting."""

from __future__ import annotations

import pytest

from witnessbox.redact.detector import Detection
from witnessbox.redact.regions import Region
from witnessbox.redact.tracking import (
    EdgeCover,
    Margin,
    TrackPolicy,
    link,
    track_jitter,
    track_regions,
)


def _det(x: float, score: float = 0.9) -> list[Detection]:
    return [Detection((x, 10.0, x + 20.0, 34.0), score)]


def test_gap_is_bridged_and_margins_in_time() -> None:
    # Seen in frames 5-8 and 12-14 while moving right; missed in 9-11 (motion blur).
    dets = [[] for _ in range(30)]
    for f in (*range(5, 9), *range(12, 15)):
        dets[f] = _det(2.0 * f)
    pol = TrackPolicy(before=3, after=4)
    tracks = link(dets, pol)
    assert len(tracks) == 1
    regs = track_regions(tracks, 30, Margin(), pol)
    frames = sorted({r.frame for r in regs})
    assert frames == list(range(2, 19))
    carried = {r.frame for r in regs if r.source == "track"}
    assert {9, 10, 11, 2, 3, 4, 15, 16, 17, 18} == carried
    # An interpolated box lies between its neighbours.
    r10 = next(r for r in regs if r.frame == 10)
    assert 16.0 < (r10.box[0] + r10.box[2]) / 2 - 10 < 24.0


def test_long_gap_bridged_only_for_an_established_track() -> None:
    # Unseen for 25 frames (beyond max_gap): continued only after long_hits sightings.
    pol = TrackPolicy(max_gap=15, long_gap=30, long_hits=12)
    for seen_before, n_tracks in [(12, 1), (11, 2)]:
        dets = [[] for _ in range(80)]
        for f in (*range(seen_before), *range(seen_before + 25, seen_before + 30)):
            dets[f] = _det(50.0)
        assert len(link(dets, pol)) == n_tracks, seen_before
    # Bridged: covered through the whole gap.
    dets = [_det(50.0) if f < 12 or 37 <= f < 42 else [] for f in range(60)]
    assert {r.frame for r in track_regions(link(dets, pol), 60, Margin(), pol)} >= set(range(12, 37))


def test_two_faces_stay_two_tracks() -> None:
    dets = [[Detection((0, 0, 10, 10), 0.9), Detection((100, 0, 110, 10), 0.9)] for _ in range(5)]
    assert len(link(dets)) == 2


def test_weak_flicker_dropped_weak_persistent_kept() -> None:
    pol = TrackPolicy(keep_score=0.3, keep_hits=4)
    flicker = [[] for _ in range(20)]
    flicker[10] = _det(50, 0.12)
    assert track_regions(link(flicker, pol), 20, Margin(), pol) == []
    steady = [_det(50, 0.12) if 5 <= f < 11 else [] for f in range(20)]
    assert track_regions(link(steady, pol), 20, Margin(), pol)


def test_weak_track_cut_short_by_the_video_kept() -> None:
    # Two weak sightings are too few to tell a face from a flicker, unless the video's first or
    # last frames cut the track short (a face leaving the frame as the recording starts).
    pol = TrackPolicy(keep_score=0.3, keep_hits=4)
    for frames, kept in [((0, 1), True), ((18, 19), True), ((9, 10), False), ((4, 5), False)]:
        dets = [_det(50, 0.12) if f in frames else [] for f in range(20)]
        assert bool(track_regions(link(dets, pol), 20, Margin(), pol)) is kept, frames


def test_margin_grows_and_shifts() -> None:
    x0, y0, x1, y1 = Margin(x=0.5, y=0.25, shift_y=0.1, pixels=1).apply((0, 0, 10, 20))
    assert (x0, x1) == (-6.0, 16.0)
    assert (y0, y1) == (2 - 6.0, 22 + 6.0)


def test_margin_of_large_faces_can_shrink_with_size() -> None:
    m = Margin(x=0.5, y=0.5, shift_y=0.0, pixels=0, large_share=0.3, small=20, large=60)
    assert m.apply((0, 0, 20, 20)) == Margin(x=0.5, y=0.5, shift_y=0.0, pixels=0).apply((0, 0, 20, 20))
    assert m.apply((0, 0, 100, 100)) == (-30.0, -30.0, 130.0, 130.0)  # 0.3 from 60 px on
    x0, _, x1, _ = m.apply((0, 0, 40, 40))  # halfway: 0.4
    assert (x0, x1) == pytest.approx((-16.0, 56.0))
    assert Margin(x=0.5, y=0.5).apply((0, 0, 100, 100)) != m.apply((0, 0, 100, 100))  # off by default


def test_regions_at_the_frame_edge_get_a_stretched_copy() -> None:
    # A face cut by the top edge: the detector's box stops at the edge, and the ellipse drawn in
    # it covers little of the face along that edge. A copy stretched past the edge is added.
    at_edge = Region(0, "ellipse", (100.0, 2.0, 140.0, 50.0), 0.5, "detector")
    inside = Region(0, "ellipse", (300.0, 100.0, 340.0, 150.0), 0.5, "detector")
    out = EdgeCover(near=0.1, stretch=0.25).apply([at_edge, inside], 640, 360)
    assert out[:2] == [at_edge, inside] and len(out) == 3
    assert out[2].box == (100.0, 2.0 - 0.25 * 48.0, 140.0, 50.0)
    corner = Region(3, "ellipse", (600.0, 330.0, 639.0, 359.0), 0.0, "track")
    (copy,) = EdgeCover().apply([corner], 640, 360)[1:]
    assert copy.box[2] > 639.0 and copy.box[3] > 359.0 and copy.frame == 3 and copy.source == "track"


def _moving(frames: range, step: float, wobble: float = 0.0) -> list[list[Detection]]:
    """A 20x24 face moving right by ``step`` px per frame; every other box shifted ``wobble``."""
    dets: list[list[Detection]] = [[] for _ in range(60)]
    for f in frames:
        x = 100.0 + step * f + (wobble if f % 2 else 0.0)
        dets[f] = [Detection((x, 10.0, x + 20.0, 34.0), 0.9)]
    return dets


def _width(regs: list[Region], frame: int) -> float:
    return next(r.box[2] - r.box[0] for r in regs if r.frame == frame and r.source == "detector")


def test_jitter_margin_follows_the_track_wobble() -> None:
    pol = TrackPolicy(smooth=0, before=0, after=0)
    m = Margin(x=0.45, y=0.45, shift_y=0.0, pixels=0.0, jitter_least=0.3, jitter_gain=2.0)
    steady = track_regions(link(_moving(range(10, 30), 1.0), pol), 60, m, pol)
    loose = track_regions(link(_moving(range(10, 30), 1.0, wobble=4.0), pol), 60, m, pol)
    assert track_jitter(link(_moving(range(10, 30), 1.0), pol)[0]) == pytest.approx(0.0)
    assert _width(steady, 20) == pytest.approx(20 * (1 + 2 * 0.3))  # least share
    assert _width(loose, 20) == pytest.approx(20 * (1 + 2 * 0.45))  # capped at x
    # Without jitter_least the margin is fixed; under 3 sightings a track gets the full margin.
    fixed = Margin(x=0.45, y=0.45, shift_y=0.0, pixels=0.0)
    assert _width(track_regions(link(_moving(range(10, 30), 1.0), pol), 60, fixed, pol), 20) == pytest.approx(38.0)
    short = track_regions(link(_moving(range(0, 2), 1.0), pol), 60, m, pol)
    assert _width(short, 0) == pytest.approx(38.0)


def test_carried_boxes_move_with_the_track() -> None:
    dets = _moving(range(10, 30), 3.0)
    for motion, shift in ((True, 3.0 * 5), (False, 0.0)):
        pol = TrackPolicy(before=6, after=6, growth=0.0, max_growth=0.0, smooth=0, motion=motion)
        regs = track_regions(link(dets, pol), 60, Margin(), pol)
        last = next(r for r in regs if r.frame == 29)
        after = next(r for r in regs if r.frame == 34)
        first = next(r for r in regs if r.frame == 10)
        before = next(r for r in regs if r.frame == 5)
        assert after.box[0] - last.box[0] == pytest.approx(shift)
        assert first.box[0] - before.box[0] == pytest.approx(shift)
