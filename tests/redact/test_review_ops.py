"""The review as pure data (witnessbox.redact.review): interpolation, edits, undo and redo, the
operation log's stored form, loading from a regions and a suggestions file."""

from __future__ import annotations

import random

import pytest

from witnessbox.errors import InputError, UsageError
from witnessbox.redact.regions import MediaInfo, Method, Region, RegionsFile
from witnessbox.redact.review import (
    AddRegion,
    Decide,
    DeleteFrame,
    DeleteTrack,
    DismissSuggestion,
    Extend,
    HideSuggestion,
    History,
    MakeStatic,
    Merge,
    ReviewState,
    ReviewTrack,
    SetKey,
    Split,
    frames_to_ranges,
    hides_the_file,
    op_from_json,
    ranges_to_frames,
    record_of,
    state_from_files,
)
from witnessbox.redact.suggestions import Suggestion, SuggestionsFile, TrackRef, regions_digest

MEDIA = MediaInfo(100, 80, 20, 25.0)


def _regions() -> RegionsFile:
    regs = tuple(Region(f, "ellipse", (10.0 + f, 10.0, 30.0 + f, 30.0), 0.8, "detector") for f in range(0, 5))
    return RegionsFile(MEDIA, "ab" * 32, regs, Method("solid", "scripted"))


def _state() -> ReviewState:
    regions = _regions()
    sugg = SuggestionsFile(
        MEDIA, regions.source_sha256, regions_digest(regions), (TrackRef("t1", (0, 1, 2, 3, 4), (0, 1, 2, 3, 4), 0.8),),
        (Suggestion("s1", "below_threshold", 8, 9, 0.07, None,
                    (Region(8, "ellipse", (50, 50, 60, 60), 1.0, "manual"),
                     Region(9, "ellipse", (52, 50, 62, 60), 1.0, "manual"))),),
    )
    return state_from_files(regions, sugg)


def test_loading_makes_tracks_from_the_index() -> None:
    s = _state()
    assert list(s.tracks) == ["t1"] and s.tracks["t1"].origin == "detector"
    assert sorted(s.regions(), key=lambda r: r.frame) == list(_regions().regions)
    assert s.undecided_tracks() == ["t1"] and s.undecided_suggestions() == ["s1"]


@pytest.mark.parametrize(("refs", "record", "proved"), [
    ([("t1", (0, 1, 2, 3, 4))], {}, True),
    ([("t1", (0, 1)), ("t2", (2, 3, 4))], {"tracks": {"t2": {"decision": "accepted"}}}, True),
    ([("t1", (0, 1)), ("t2", (2, 3, 4))], {"tracks": {"t2": {"decision": "rejected"}}}, False),  # t2 not hidden
    ([("t1", (0, 1, 2)), ("t2", (2, 3, 4))], {}, False),  # region 2 twice
    ([("t1", (0, 1)), ("t1", (2, 3, 4))], {}, False),  # one id twice: the second replaces the first
    ([("t1", (0, 1, 2, 3))], {}, False),  # region 4 left to a track of its own
    ([("t1", (0, 1, 2, 3, 5))], {}, False),  # an index past the file
    ([("t1", (0, 1, 2, 3, -1))], {}, False),
    ([("t1", (0, 1, 2, 3, 4)), ("t2", ())], {}, True),
])
def test_the_proof_that_a_loaded_state_hides_the_file(refs: list[tuple[str, tuple[int, ...]]],
                                                      record: dict[str, object], proved: bool) -> None:
    """Review.unsaved takes this proof instead of comparing every region; when it says so,
    the state's hidden regions are the file's regions, object for object."""
    regions = _regions()
    sugg = SuggestionsFile(MEDIA, regions.source_sha256, regions_digest(regions),
                           tuple(TrackRef(i, ix, (), 0.8) for i, ix in refs), ())
    state = state_from_files(regions, sugg, record)
    assert hides_the_file(regions, sugg, state) is proved
    same = sorted(map(id, state.regions())) == sorted(map(id, regions.regions))
    assert same or not proved
    assert not hides_the_file(regions, None, state)


def test_loading_refuses_a_suggestions_file_of_other_regions() -> None:
    regions = _regions()
    other = SuggestionsFile(MEDIA, regions.source_sha256, "00" * 32, (), ())
    with pytest.raises(InputError, match="does not match"):
        state_from_files(regions, other)
    with pytest.raises(InputError, match="another original"):
        state_from_files(regions, SuggestionsFile(MEDIA, "cd" * 32, regions_digest(regions), (), ()))


def test_the_checked_hash_of_the_regions_file_stands_for_its_digest() -> None:
    regions = _regions()
    named = SuggestionsFile(MEDIA, regions.source_sha256, "00" * 32, (), ())
    # The caller checked the file's bytes against this hash, and the suggestions name it.
    assert len(state_from_files(regions, named, regions_file_sha256="00" * 32).tracks) == 5
    # Any other hash proves nothing: the regions are serialized and compared as before.
    with pytest.raises(InputError, match="does not match"):
        state_from_files(regions, named, regions_file_sha256="11" * 32)
    ok = SuggestionsFile(MEDIA, regions.source_sha256, regions_digest(regions), (), ())
    assert len(state_from_files(regions, ok, regions_file_sha256="11" * 32).tracks) == 5


def _random_track(rng: random.Random) -> ReviewTrack:
    """A track with keys (some outside its span, some with two shapes), emptied frames (some
    on keys), sightings and scores on both sides of 0.3; often dense, as loaded from a file."""
    lo = rng.randint(0, 20)
    hi = lo + rng.randint(0, 50)
    dense = rng.random() < 0.5
    frames = ([f for f in range(lo, hi + 1) if rng.random() < 0.85] if dense
              else rng.sample(range(max(0, lo - 3), hi + 4), rng.randint(1, 8)))
    keys = {f: tuple(Region(f, "box", (1.0, 1.0, 5.0 + rng.random(), 5.0), rng.random(),
                            rng.choice(["detector", "detector", "track", "manual"]))
                     for _ in range(rng.choice([1, 1, 1, 2])))
            for f in frames}
    if dense:
        removed = frozenset(range(lo, hi + 1)).difference(keys)
    else:
        removed = frozenset(rng.sample(range(lo, hi + 1), (hi - lo + 1) // 4))
    if keys and rng.random() < 0.2:
        removed |= {rng.choice(list(keys))}
    sights = tuple(f for f in keys if rng.random() < 0.7)
    return ReviewTrack("x", rng.choice(["detector", "manual"]), lo, hi, keys, removed, sights)


def test_timeline_runs_and_regions_follow_the_per_frame_rules() -> None:
    rng = random.Random(12)
    for _ in range(500):
        t = _random_track(rng)
        spans = t.timeline(0.3)
        assert spans[0][1] == t.start and spans[-1][2] == t.end
        assert all(a <= b for _, a, b in spans) and all(p[2] + 1 == q[1] and p[0] != q[0] for p, q in zip(spans, spans[1:]))
        kinds = [k for k, a, b in spans for _ in range(a, b + 1)]
        for f, k in zip(range(t.start, t.end + 1), kinds, strict=True):
            want = t.frame_kind(f)
            regs = t.keys.get(f)
            if want in ("sighting", "key") and regs and regs[0].source == "detector" and regs[0].score < 0.3:
                want = "low"
            assert k == want, (t, f)
        assert t.regions() == [r for f in range(t.start, t.end + 1) for r in t.regions_at(f)], t
        assert t.marks() == [f for f in sorted(t.keys) if t.keys[f] and t.keys[f][0].source == "manual"]


def test_regions_nobody_claims_are_kept_as_tracks() -> None:
    s = state_from_files(_regions(), None)
    assert len(s.tracks) == 5 and len(s.regions()) == 5


def test_keys_interpolate_linearly_and_hold_outside() -> None:
    h = History(_state())
    h.do(AddRegion("m1", 10, "box", (0, 0, 10, 10)))
    h.do(SetKey("m1", 14, (40, 0, 50, 10)))
    t = h.state.tracks["m1"]
    assert t.regions_at(12)[0].box == (20, 0, 30, 10)
    assert t.regions_at(12)[0].source == "manual" and t.regions_at(9) == ()
    h.do(Extend("m1", 18))
    assert h.state.tracks["m1"].regions_at(17)[0].box == (40, 0, 50, 10)
    h.do(Extend("m1", 8))
    assert h.state.tracks["m1"].regions_at(8)[0].box == (0, 0, 10, 10)
    with pytest.raises(InputError):
        h.do(Extend("m1", 12))  # already inside


def test_undo_redo_and_a_new_edit_drops_the_redo_tail() -> None:
    h = History(_state())
    h.do(AddRegion("m1", 1, "box", (0, 0, 5, 5)))
    h.do(AddRegion("m2", 2, "box", (0, 0, 5, 5)))
    h.undo()
    assert "m2" not in h.state.tracks
    h.redo()
    assert "m2" in h.state.tracks
    h.undo()
    h.do(AddRegion("m3", 3, "ellipse", (0, 0, 5, 5)))
    assert set(h.state.tracks) == {"t1", "m1", "m3"}
    with pytest.raises(UsageError):
        h.redo()
    h.undo(), h.undo()
    with pytest.raises(UsageError):
        h.undo()


def test_a_refused_edit_changes_nothing() -> None:
    h = History(_state())
    with pytest.raises(UsageError, match="reason"):
        h.do(Decide("t1", "rejected"))
    with pytest.raises(InputError):
        h.do(AddRegion("m1", 20, "box", (0, 0, 5, 5)))  # frame out of range
    with pytest.raises(InputError):
        h.do(AddRegion("m1", 0, "star", (0, 0, 5, 5)))
    assert h.ops == [] and h.state == h.base


def test_split_merge_bridges_the_gap() -> None:
    h = History(_state())
    h.do(Split("t1", 3, "t1.1"))
    a, b = h.state.tracks["t1"], h.state.tracks["t1.1"]
    assert (a.start, a.end, b.start, b.end) == (0, 2, 3, 4)
    h.do(DeleteFrame("t1.1", 3, "turned away"))
    h.do(AddRegion("m1", 10, "ellipse", (20, 10, 40, 30)))
    h.do(Merge("t1.1", "m1"))
    m = h.state.tracks["t1.1"]
    assert (m.start, m.end) == (3, 10) and "m1" not in h.state.tracks
    assert m.regions_at(3) == ()  # the emptied frame stays empty
    assert m.regions_at(7)[0].box == pytest.approx((14 + 6 * 3 / 6, 10, 34 + 6 * 3 / 6, 30))  # between 4 and 10
    assert m.decision is None  # a detector part and a drawn part: decide again


def test_deleting_and_rejecting() -> None:
    h = History(_state())
    h.do(AddRegion("m1", 1, "box", (0, 0, 5, 5)))
    h.do(DeleteTrack("m1"))
    assert "m1" not in h.state.tracks
    with pytest.raises(UsageError):
        h.do(DeleteTrack("t1"))
    h.do(DeleteTrack("t1", "a drawing on a wall"))
    assert h.state.tracks["t1"].decision == "rejected" and h.state.regions() == []
    assert record_of(h.state)["tracks"]["t1"]["reason"] == "a drawing on a wall"
    assert len(record_of(h.state)["tracks"]["t1"]["regions"]) == 5  # kept visible for the next review


def test_suggestions_hide_and_dismiss() -> None:
    h = History(_state())
    h.do(HideSuggestion("s1", "s1"))
    t = h.state.tracks["s1"]
    assert t.origin == "suggestion" and t.decision == "accepted" and [r.frame for r in t.regions()] == [8, 9]
    with pytest.raises(InputError, match="decided already"):
        h.do(DismissSuggestion("s1"))
    h.do(DeleteTrack("s1"))  # deleting the track makes the suggestion undecided again
    assert h.state.undecided_suggestions() == ["s1"]
    h.do(DismissSuggestion("s1", "a reflection"))
    assert record_of(h.state)["suggestions"] == {"s1": {"decision": "dismissed", "reason": "a reflection"}}


def test_make_static_covers_the_whole_clip() -> None:
    h = History(_state())
    h.do(MakeStatic("t1", 2))
    t = h.state.tracks["t1"]
    assert (t.start, t.end, t.static) == (0, 19, True)
    assert {r.box for r in t.regions()} == {(12.0, 10.0, 32.0, 30.0)} and len(t.regions()) == 20


@pytest.mark.parametrize(
    "op",
    [
        AddRegion("m1", 3, "box", (1, 2, 3, 4)), SetKey("t1", 2, (1, 2, 3, 4), "box"), Extend("t1", 9),
        DeleteFrame("t1", 2, "why"), DeleteTrack("t1", "why"), Decide("t1", "accepted"), Split("t1", 2, "t1.1"),
        Merge("t1", "m1"), MakeStatic("t1", 0), HideSuggestion("s1", "s1"), DismissSuggestion("s1", ""),
    ],
)
def test_operations_round_trip_as_json(op: object) -> None:
    d = op.to_json()  # type: ignore[attr-defined]
    assert op_from_json(d) == op
    with pytest.raises(InputError):
        op_from_json({**d, "op": "format_disk"})


def test_frame_ranges() -> None:
    assert frames_to_ranges([5, 1, 2, 3, 7, 8]) == [[1, 3], [5, 5], [7, 8]]
    assert ranges_to_frames([[1, 3], [5, 5]]) == {1, 2, 3, 5}


def test_extend_past_an_emptied_end_holds_the_last_shape() -> None:
    h = History(_state())
    h.do(DeleteFrame("t1", 4, "out of the picture"))
    h.do(Extend("t1", 8))
    t = h.state.tracks["t1"]
    assert t.regions_at(4) == () and t.regions_at(8)[0].box == (13.0, 10.0, 33.0, 30.0)
