"""Complete the review of a redacted copy through the library, the honest way.

Approval is refused on every path until the review is complete (docs/review.md). Tests,
fixtures and benchmarks that need an approved copy go through here: every undecided track is
accepted (it stays hidden), every undecided suggestion dismissed with a reason, every frame
recorded as shown to the reviewer (through ``Review.frame_reader``, the player the screen uses),
and only then ``ws.publishing.approve``. Nothing is skipped or faked: no catalog row is written
by hand.

``redacted_copy`` seals a hand-made redacted file (fixtures that test what the publisher does
with the bytes) with the regions file a review needs (naming its original; the listed regions
are what the file claims to hide).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

from witnessbox.catalog import Approval
from witnessbox.ledger.records import ItemRecord
from witnessbox.workspace import Workspace
from witnessbox.workspace.review import Review

REVIEWER = "test-reviewer"


def complete_review(ws: Workspace, item: str, reviewer: str = REVIEWER, *, decode: bool = False) -> Review:
    """Decide everything undecided and show every frame to ``reviewer``; returns the review.

    ``decode``: show the frames by decoding each through the review's frame reader (what the
    screen does); otherwise record them shown (``Review.show``, what playback records).
    """
    rv = ws.review.open(item, reviewer)
    for t in rv.tracks():
        if t.decision is None:
            rv.accept(t.id)
    for s in rv.state.undecided_suggestions():
        rv.dismiss_suggestion(s, "checked: not a face")
    if decode:
        with rv.frame_reader() as read:
            for n in range(rv.frames):
                read(n)
    rv.show(range(rv.frames))
    assert rv.status().ready, rv.status().blockers()
    return rv


def approve_reviewed(ws: Workspace, item: str, reviewer: str = REVIEWER) -> Approval:
    """Complete the review of ``item`` as ``reviewer``, then approve it through the library."""
    complete_review(ws, item, reviewer)
    return ws.publishing.approve(item, reviewer=reviewer)


def redacted_copy(
    ws: Workspace,
    parent: str,
    path: Path,
    *,
    width: int,
    height: int,
    frames: int = 1,
    fps: float | None = None,
    boxes: Iterable[tuple[int, float, float, float, float]] = (),
    method: str = "test-blur",
) -> ItemRecord:
    """Seal ``path`` as a redacted copy of ``parent`` with a regions file naming ``parent``.

    ``boxes``: ``(frame, x0, y0, x1, y1)`` hidden by the copy (detector regions, one track each).
    """
    media: dict[str, object] = {"width": width, "height": height, "frames": frames}
    if fps is not None:
        media["fps"] = fps
    doc = {
        "version": 1,
        "media": media,
        "source_sha256": ws.resolve(parent),
        "regions": [{"frame": f, "shape": "ellipse", "box": [x0, y0, x1, y1], "score": 0.9, "source": "detector"}
                    for f, x0, y0, x1, y1 in boxes],
        "method": {"fill": "blur", "detector": "test", "params": {}},
        "tool": {"name": "witnessbox", "version": "test"},
    }
    with tempfile.TemporaryDirectory() as d:
        side = Path(d) / (path.name + ".regions.json")
        side.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        return ws.add_derivative(parent, path, kind="redacted", method=method, sidecars={side.name: side})
