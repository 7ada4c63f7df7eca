"""The regions file format (docs/regions.md): golden text, round trip, strict reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from witnessbox.errors import InputError
from witnessbox.redact.regions import MediaInfo, Method, Region, RegionsFile, parse_regions, read_regions, regions_path

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
