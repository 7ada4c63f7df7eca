"""The regions file format (docs/regions.md): golden text, round trip, strict reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from witnessbox.errors import InputError
from hypothesis import given, settings
from hypothesis import strategies as st

from witnessbox.redact.regions import (
    MediaInfo,
    Method,
    Region,
    RegionsFile,
    loads_regions,
    parse_regions,
    read_regions,
    regions_path,
)

GOLDEN = """{
  "version": 1,
  "media": {"width": 1920, "height": 1080, "frames": 600, "fps": 30.0},
  "source_sha256": "ab12",
  "regions": [
    {"frame": 0, "shape": "ellipse", "box": [812, 140.5, 901, 252], "score": 0.83, "source": "detector"},
    {"frame": 1, "shape": "box", "box": [0, 0, 120, 80], "score": 1.0, "source": "manual"}
  ],
  "method": {"detector": "centerface", "fill": "solid", "params": {"threshold": 0.2}},
  "tool": {"name": "witnessbox", "version": "0.1.0"}
}
"""


def _doc() -> RegionsFile:
    return RegionsFile(
        media=MediaInfo(1920, 1080, 600, 30.0),
        source_sha256="ab12",
        regions=(
            Region(0, "ellipse", (812.0, 140.5, 901.0, 252.0), 0.83, "detector"),
            Region(1, "box", (0.0, 0.0, 120.0, 80.0), 1.0, "manual"),
        ),
        method=Method("solid", "centerface", {"threshold": 0.2}),
        tool_version="0.1.0",
    )


def test_golden_text() -> None:
    assert _doc().to_json() == GOLDEN


def test_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "x.mp4.regions.json"
    _doc().write(p)
    assert read_regions(p) == _doc()


def test_sidecar_name() -> None:
    assert regions_path(Path("out/a.jpg")) == Path("out/a.jpg.regions.json")


def test_photo_has_no_fps() -> None:
    doc = RegionsFile(MediaInfo(10, 10), "x", (), Method("solid", "d"))
    assert "fps" not in json.loads(doc.to_json())["media"]


_BAD: list[tuple[str, object, str]] = [
    ("not an object", [], "top level"),
    ("wrong version", {"version": 2}, "version"),
    ("no media", {"version": 1}, "media"),
    ("zero size", {"version": 1, "media": {"width": 0, "height": 5}, "regions": []}, "positive"),
    ("regions not list", {"version": 1, "media": {"width": 5, "height": 5}, "regions": {}}, "list"),
    ("frame out of range", {"version": 1, "media": {"width": 5, "height": 5, "frames": 2},
                            "regions": [{"frame": 2, "box": [0, 0, 1, 1]}]}, "frame"),
    ("bad shape", {"version": 1, "media": {"width": 5, "height": 5}, "regions": [{"shape": "star", "box": [0, 0, 1, 1]}]}, "shape"),
    ("short box", {"version": 1, "media": {"width": 5, "height": 5}, "regions": [{"box": [0, 0, 1]}]}, "box"),
    ("inverted box", {"version": 1, "media": {"width": 5, "height": 5}, "regions": [{"box": [3, 0, 1, 1]}]}, "x1 > x0"),
    ("nan box", {"version": 1, "media": {"width": 5, "height": 5}, "regions": [{"box": [0, 0, float("nan"), 1]}]}, "box"),
    ("bad source", {"version": 1, "media": {"width": 5, "height": 5}, "regions": [{"box": [0, 0, 1, 1], "source": "ai"}]}, "source"),
    # Next to plain regions (read in line, in one pass): each still refused with its reason.
    ("bool in box", {"version": 1, "media": {"width": 5, "height": 5},
                     "regions": [{"box": [0, 0, 1, 1]}, {"box": [0, 0, True, 1]}]}, "region 1: `box`"),
    ("infinite box", {"version": 1, "media": {"width": 5, "height": 5},
                      "regions": [{"box": [0, 0, 1, 1]}, {"box": [0, 0, float("inf"), 1]}]}, "region 1: `box`"),
    ("inverted y", {"version": 1, "media": {"width": 5, "height": 5}, "regions": [{"box": [0, 3, 1, 1]}]}, "y1 > y0"),
    ("bool frame", {"version": 1, "media": {"width": 5, "height": 5, "frames": 3},
                    "regions": [{"frame": True, "box": [0, 0, 1, 1]}]}, "frame"),
    ("text score", {"version": 1, "media": {"width": 5, "height": 5},
                    "regions": [{"box": [0, 0, 1, 1], "score": "0.9"}]}, "score"),
    ("bool score", {"version": 1, "media": {"width": 5, "height": 5},
                    "regions": [{"box": [0, 0, 1, 1], "score": True}]}, "score"),
    ("region not an object", {"version": 1, "media": {"width": 5, "height": 5},
                              "regions": [{"box": [0, 0, 1, 1]}, [0, 0, 1, 1]]}, "region 1 must be an object"),
]


@pytest.mark.parametrize(("case", "doc", "needle"), _BAD, ids=[c[0] for c in _BAD])
def test_bad_documents_are_refused(case: str, doc: object, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_regions(doc)
    # Read from its bytes (the fast decoder first): refused with the same one-line message.
    with pytest.raises(InputError, match=needle) as got:
        loads_regions(json.dumps(doc).encode())
    with pytest.raises(InputError) as want:
        parse_regions(doc)
    assert str(got.value) == str(want.value)


def test_loads_regions_reads_what_witnessbox_writes() -> None:
    text = _doc().to_json()
    assert loads_regions(text.encode()) == loads_regions(text) == parse_regions(json.loads(text)) == _doc()
    got = loads_regions(GOLDEN.encode())
    assert got == _doc() and all(type(v) is float for r in got.regions for v in (*r.box, r.score))


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("frame", 600, "region 1: `frame` must be an integer in 0..599"),
    ("frame", -1, "region 1: `frame`"),
    ("frame", 10**30, "region 1: `frame`"),
    ("box", [5, 0, 5, 1], "region 1: `box` must have x1 > x0"),
    ("box", [0, 2, 1, 1], "region 1: `box` must have x1 > x0 and y1 > y0"),
    ("box", [0, 0, "1e400", 1], "region 1: `box` must be four numbers"),  # overflows to infinity
    ("box", [0, 0, float("nan"), 1], "region 1: `box` must be four numbers"),
])
def test_complete_regions_out_of_range_are_refused(field: str, value: object, needle: str) -> None:
    """Typed like what witnessbox writes (the fast decoder takes them) but out of range."""
    doc = json.loads(_doc().to_json())
    doc["regions"][1][field] = value
    with pytest.raises(InputError, match=needle):
        loads_regions(json.dumps(doc).replace('"1e400"', "1e400").encode())


# Values a region's fields may take in a file edited by hand: the fast decoder takes only
# plain ones, every other document goes the field by field way; the result must not differ.
_ODD = st.one_of(
    st.integers(-3, 700), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.sampled_from(["box", "ellipse", "star", "manual", "detector", "track", "", "0.5"]),
    st.just(1e400), st.just(10**30), st.lists(st.integers(-2, 900), max_size=5),
    st.lists(st.floats(-10, 1000), min_size=4, max_size=4), st.just({}),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["frame", "shape", "box", "score", "source", "x"]),
                          st.one_of(_ODD, st.just("DELETE"))), max_size=4),
       st.sampled_from([None, "version", "media", "regions", "source_sha256", "method"]), _ODD)
def test_fast_and_strict_reading_agree(edits: list[tuple[int, str, object]], top: str | None, top_value: object) -> None:
    doc: dict[str, object] = json.loads(_doc().to_json())
    regs = doc["regions"]
    assert isinstance(regs, list)
    regs.append({"frame": 2, "shape": "box", "box": [1, 2, 3, 4], "score": 1, "source": "manual"})
    for i, key, value in edits:
        if value == "DELETE":
            regs[i].pop(key, None)
        else:
            regs[i][key] = value
    if top is not None:
        doc[top] = top_value
    text = json.dumps(doc)  # NaN and Infinity as Python's json writes them
    try:
        want: object = parse_regions(json.loads(text))
    except InputError as e:
        want = str(e)
    try:
        got: object = loads_regions(text.encode())
    except InputError as e:
        got = str(e)
    assert got == want


def test_not_json(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        read_regions(p)


def test_manual_region_defaults() -> None:
    doc = parse_regions({"version": 1, "media": {"width": 5, "height": 5}, "regions": [{"box": [0, 0, 2, 2]}]})
    assert doc.regions[0].source == "manual" and doc.regions[0].shape == "ellipse"


def test_numbers_of_other_types_read_like_plain_ones() -> None:
    import numpy as np

    plain = {"frame": 1, "shape": "box", "box": [1, 2.5, 3, 4], "score": 0.5, "source": "detector"}
    other = {**plain, "box": [np.float64(1), np.float64(2.5), 3.0, np.float64(4)], "score": np.float64(0.5)}
    doc = {"version": 1, "media": {"width": 5, "height": 5, "frames": 3}, "regions": [plain, other]}
    a, b = parse_regions(doc).regions
    assert a == b == Region(1, "box", (1.0, 2.5, 3.0, 4.0), 0.5, "detector")
    assert all(type(v) is float for v in (*a.box, *b.box, a.score, b.score))
