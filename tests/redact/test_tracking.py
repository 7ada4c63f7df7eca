"""Tracks: gaps are bridged, faces covered before their first and after their last sighting."""

from __future__ import annotations

from witnessbox.redact.detector import Detection
from witnessbox.redact.tracking import Margin, TrackPolicy, link, track_regions


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


def test_two_faces_stay_two_tracks() -> None:
    dets = [[Detection((0, 0, 10, 10), 0.9), Detection((100, 0, 110, 10), 0.9)] for _ in range(5)]
    assert len(link(dets)) == 2


def test_weak_flicker_dropped_weak_persistent_kept() -> None:
    pol = TrackPolicy(keep_score=0.3, keep_hits=4)
    flicker = [[] for _ in range(20)]
    flicker[3] = _det(50, 0.12)
    assert track_regions(link(flicker, pol), 20, Margin(), pol) == []
    steady = [_det(50, 0.12) for _ in range(6)]
    assert track_regions(link(steady, pol), 6, Margin(), pol)


def test_margin_grows_and_shifts() -> None:
    x0, y0, x1, y1 = Margin(x=0.5, y=0.25, shift_y=0.1, pixels=1).apply((0, 0, 10, 20))
    assert (x0, x1) == (-6.0, 16.0)
    assert (y0, y1) == (2 - 6.0, 22 + 6.0)
