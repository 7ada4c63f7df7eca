"""The regions file (format version 1, docs/regions.md): exactly what a redaction hid.

Reading is strict: a regions file that a person edited by hand is checked field by field and
any problem is reported as one line that says where, because a wrong regions file means a face
that is not hidden.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal, cast

import msgspec
import numpy as np

from .. import __version__
from .._fsutil import atomic_write_text
from ..errors import InputError

FORMAT_VERSION = 1
SUFFIX = ".regions.json"

Shape = Literal["ellipse", "box"]
Source = Literal["detector", "track", "manual"]
SHAPES: tuple[str, ...] = ("ellipse", "box")
SOURCES: tuple[str, ...] = ("detector", "track", "manual")
ParamValue = float | int | str | bool


class Region(msgspec.Struct, frozen=True, gc=False):
    """One shape hidden in one frame, in the displayed pixel grid.

    Immutable and hashable, like a frozen dataclass (positional or keyword construction,
    equality by value). A long video's regions file holds hundreds of thousands: as a
    ``msgspec`` struct the fast reader builds them in C, and (holding only numbers and
    strings, so never part of a cycle) they are not tracked by the garbage collector, whose
    passes over that many objects took seconds.

    Attributes:
        frame: Frame index from 0 in decode order (0 for a photo).
        shape: ``ellipse`` (inscribed in ``box``) or ``box``.
        box: ``(x0, y0, x1, y1)`` including any margin; may extend past the picture.
        score: Detector confidence (0 for carried and 1 for manual regions by convention).
        source: ``detector``, ``track`` or ``manual``.
    """

    frame: int
    shape: Shape
    box: tuple[float, float, float, float]
    score: float
    source: Source


@dataclass(frozen=True)
class MediaInfo:
    """Displayed size of the picture (after EXIF orientation or video rotation)."""

    width: int
    height: int
    frames: int = 1
    fps: float | None = None


@dataclass(frozen=True)
class Method:
    """How the regions were found and drawn."""

    fill: str
    detector: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class RegionsFile:
    """The whole regions document."""

    media: MediaInfo
    source_sha256: str
    regions: tuple[Region, ...]
    method: Method
    tool_name: str = "witnessbox"
    tool_version: str = __version__

    def by_frame(self) -> dict[int, list[Region]]:
        """Regions grouped by frame index."""
        out: dict[int, list[Region]] = {}
        for r in self.regions:
            out.setdefault(r.frame, []).append(r)
        return out

    def to_json(self) -> str:
        """Serialize as the format fixed by docs/regions.md (one region per line, stable order)."""
        media: dict[str, object] = {"width": self.media.width, "height": self.media.height, "frames": self.media.frames}
        if self.media.fps is not None:
            media["fps"] = round(self.media.fps, 6)
        method = {"fill": self.method.fill, "detector": self.method.detector, "params": dict(self.method.params)}
        tool = {"name": self.tool_name, "version": self.tool_version}
        lines = [json.dumps(_region_dict(r)) for r in self.regions]
        regions = "[\n    " + ",\n    ".join(lines) + "\n  ]" if lines else "[]"
        return (
            f'{{\n  "version": {FORMAT_VERSION},\n  "media": {json.dumps(media)},\n'
            f'  "source_sha256": {json.dumps(self.source_sha256)},\n  "regions": {regions},\n'
            f'  "method": {json.dumps(method, sort_keys=True)},\n  "tool": {json.dumps(tool)}\n}}\n'
        )

    def write(self, path: Path) -> None:
        """Write atomically to ``path``.

        Raises:
            ArchiveError: The folder is not writable or the disk is full.
        """
        atomic_write_text(path, self.to_json())


def _num(v: float) -> float | int:
    r = round(float(v), 2)
    return int(r) if r == int(r) and abs(r) < 1e15 else r


def _region_dict(r: Region) -> dict[str, object]:
    return {
        "frame": r.frame,
        "shape": r.shape,
        "box": [_num(v) for v in r.box],
        "score": round(float(r.score), 4),
        "source": r.source,
    }


def regions_path(output: Path) -> Path:
    """The sidecar path of a redacted output: ``<output name>.regions.json`` beside it."""
    return output.with_name(output.name + SUFFIX)


def read_regions(path: Path) -> RegionsFile:
    """Read and validate a regions file.

    Raises:
        InputError: The file is missing, not JSON, or breaks the format (the message says where).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read regions file {path}: {e.strerror}") from e
    return loads_regions(data, where=str(path))


class _Wire(msgspec.Struct):
    """A regions document as the fast decoder takes it: every region complete and typed, as
    witnessbox writes it (msgspec builds the :class:`Region` objects in C). The other fields
    are taken as they come and checked by :func:`parse_regions`' own code. The defaults are
    what ``doc.get`` gives :func:`parse_regions` for a missing field."""

    regions: list[Region]
    version: Any = None
    media: Any = None
    source_sha256: Any = ""
    method: Any = None
    tool: Any = None


_WIRE = msgspec.json.Decoder(_Wire)
_FRAME = attrgetter("frame")
_BOX = attrgetter("box")


def loads_regions(data: bytes | str, *, where: str = "<regions>") -> RegionsFile:
    """Read a regions file from its bytes (UTF-8 JSON), as strictly as :func:`parse_regions`.

    A file as witnessbox writes it is decoded straight into typed regions (a long video's file
    has hundreds of thousands) and its regions checked at once (frames in range, finite boxes
    with ``x1 > x0`` and ``y1 > y0``). Anything else (a missing field, a default, a bool, an
    out-of-range number, not JSON) is read again by ``json`` and :func:`parse_regions`, which
    accepts or refuses it exactly as before and says where it breaks the format: both ways
    give the same result for every document.

    Raises:
        InputError: Not JSON, or the document breaks the format (the message says where).
    """
    try:
        wire = _WIRE.decode(data)
    except msgspec.MsgspecError:
        wire = None
    if wire is not None:
        head = {"version": wire.version, "media": wire.media, "source_sha256": wire.source_sha256,
                "method": wire.method, "tool": wire.tool}
        got = _parse_doc(head, where, wire.regions)
        if got is not None:
            return got
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        line = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise InputError(f"regions file {where} is not valid JSON{line}: fix it and retry") from e
    return parse_regions(doc, where=where)


def _bad(where: str, what: str) -> InputError:
    return InputError(f"regions file {where}: {what} (see docs/regions.md)")


def parse_regions(doc: object, *, where: str = "<regions>") -> RegionsFile:
    """Validate a decoded regions document.

    Raises:
        InputError: The document breaks the format.
    """
    if not isinstance(doc, dict):
        raise _bad(where, "top level must be an object")
    out = _parse_doc(doc, where, None)
    assert out is not None
    return out


def _parse_doc(doc: dict[str, Any], where: str, typed: list[Region] | None) -> RegionsFile | None:
    """:func:`parse_regions` of an object. With ``typed`` (the regions as the fast decoder
    built them), None when one of them needs the field by field check."""
    if doc.get("version") != FORMAT_VERSION:
        raise _bad(where, f"unsupported version {doc.get('version')!r}, expected {FORMAT_VERSION}")
    m = doc.get("media")
    if not isinstance(m, dict):
        raise _bad(where, "`media` must be an object")
    try:
        width, height, frames = int(m["width"]), int(m["height"]), int(m.get("frames", 1))
        fps = float(m["fps"]) if m.get("fps") is not None else None
    except (KeyError, TypeError, ValueError) as e:
        raise _bad(where, "`media` needs integer width, height and frames") from e
    if width <= 0 or height <= 0 or frames <= 0:
        raise _bad(where, "`media` sizes must be positive")
    if typed is not None:
        if not _plainly_valid(typed, frames):
            return None
        out = typed
    else:
        regs = doc.get("regions")
        if not isinstance(regs, list):
            raise _bad(where, "`regions` must be a list")
        out = _parse_region_list(regs, frames, where)
    meth = doc.get("method") if isinstance(doc.get("method"), dict) else {}
    assert isinstance(meth, dict)
    tool = doc.get("tool") if isinstance(doc.get("tool"), dict) else {}
    assert isinstance(tool, dict)
    params = meth.get("params") if isinstance(meth.get("params"), dict) else {}
    sha = doc.get("source_sha256", "")
    if not isinstance(sha, str):
        raise _bad(where, "`source_sha256` must be a string")
    return RegionsFile(
        media=MediaInfo(width, height, frames, fps),
        source_sha256=sha,
        regions=tuple(out),
        method=Method(str(meth.get("fill", "solid")), str(meth.get("detector", "")), cast(dict[str, ParamValue], params)),
        tool_name=str(tool.get("name", "")),
        tool_version=str(tool.get("version", "")),
    )


def _plainly_valid(regs: list[Region], frames: int) -> bool:
    """Whether every region (typed by the fast decoder: int frame, four floats, a known shape
    and source) is in range: frame in ``0..frames-1``, a finite box with ``x1 > x0`` and
    ``y1 > y0``. Checked on arrays, at once."""
    if not regs:
        return True
    try:
        fr = np.fromiter(map(_FRAME, regs), dtype=np.int64, count=len(regs))
    except OverflowError:  # a frame number past int64: out of range anyway
        return False
    bx = np.fromiter(itertools.chain.from_iterable(map(_BOX, regs)), np.float64, 4 * len(regs)).reshape(-1, 4)
    return bool(fr.min() >= 0 and fr.max() < frames and np.isfinite(bx).all()
                and (bx[:, 2] > bx[:, 0]).all() and (bx[:, 3] > bx[:, 1]).all())


_FAST_NUMBER = (float, int)
_INF = math.inf


def _parse_region_list(regs: list[object], frames: int, where: str) -> list[Region]:
    """Every region of a file. A region that is plainly valid (what witnessbox writes: JSON
    ints and floats, finite, every field well formed) is taken in line, in one pass; any other
    goes through :func:`_parse_region`, which checks it field by field and says what is wrong
    (a long video's file has hundreds of thousands of regions: per-field calls took seconds)."""
    out: list[Region] = []
    append = out.append
    num = _FAST_NUMBER
    inf = _INF
    for i, g in enumerate(regs):
        if type(g) is dict:
            frame, shape, box = g.get("frame", 0), g.get("shape", "ellipse"), g.get("box")
            source, score = g.get("source", "manual"), g.get("score", 1.0)
            if (type(frame) is int and 0 <= frame < frames and shape in SHAPES and source in SOURCES
                    and type(score) in num and type(box) is list and len(box) == 4):
                x0, y0, x1, y1 = box
                if (type(x0) in num and type(y0) in num and type(x1) in num and type(y1) in num
                        and -inf < x0 < x1 < inf and -inf < y0 < y1 < inf):
                    append(Region(frame, shape, (float(x0), float(y0), float(x1), float(y1)), float(score), source))
                    continue
        append(_parse_region(g, i, frames, where))
    return out


def _finite_numbers(vs: list[object]) -> bool:
    """Every value a finite int or float (not a bool). Plain JSON numbers take the fast path
    (a long video's regions file has hundreds of thousands of boxes); NaN and infinities fail
    the comparison."""
    for v in vs:
        t = type(v)
        if t is float or t is int:
            if not -math.inf < v < math.inf:  # type: ignore[operator]
                return False
        elif not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)):
            return False
    return True


def _parse_region(g: object, i: int, frames: int, where: str) -> Region:
    if not isinstance(g, dict):
        raise _bad(where, f"region {i} must be an object")
    frame = g.get("frame", 0)
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < frames:
        raise _bad(where, f"region {i}: `frame` must be an integer in 0..{frames - 1}")
    shape = g.get("shape", "ellipse")
    if shape not in SHAPES:
        raise _bad(where, f"region {i}: `shape` must be one of {', '.join(SHAPES)}")
    box = g.get("box")
    if not isinstance(box, list) or len(box) != 4 or not _finite_numbers(box):
        raise _bad(where, f"region {i}: `box` must be four numbers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = float(box[0]), float(box[1]), float(box[2]), float(box[3])
    if x1 <= x0 or y1 <= y0:
        raise _bad(where, f"region {i}: `box` must have x1 > x0 and y1 > y0")
    source = g.get("source", "manual")
    if source not in SOURCES:
        raise _bad(where, f"region {i}: `source` must be one of {', '.join(SOURCES)}")
    score = g.get("score", 1.0)
    if not isinstance(score, int | float) or isinstance(score, bool):
        raise _bad(where, f"region {i}: `score` must be a number")
    return Region(frame, cast(Shape, shape), (x0, y0, x1, y1), float(score), cast(Source, source))


def sorted_regions(regions: Iterable[Region]) -> tuple[Region, ...]:
    """Regions in file order: by frame, then left to right, top to bottom."""
    return tuple(sorted(regions, key=lambda r: (r.frame, r.box[0], r.box[1], r.box[2], r.box[3])))
