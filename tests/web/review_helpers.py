"""An archive for the review screen's tests: a photo, a video scene and a frame-numbered clip,
each redacted by a scripted detector (exact, fast, no model), linked to a Minsk incident;
users of every role and a reviewer of another region."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from _redact_helpers import redact_helpers


_rh = redact_helpers()
ScriptedDetector = _rh.ScriptedDetector  # type: ignore[attr-defined]
make_numbered_clip = _rh.make_numbered_clip  # type: ignore[attr-defined]
make_scene = _rh.make_scene  # type: ignore[attr-defined]
scene_script = _rh.scene_script  # type: ignore[attr-defined]
frame_number = _rh.frame_number  # type: ignore[attr-defined]
FACE_A, FACE_B, FACE_C, FACE_D, POSTER_V = _rh.FACE_A, _rh.FACE_B, _rh.FACE_C, _rh.FACE_D, _rh.POSTER  # type: ignore[attr-defined]
SCENE_FRAMES = _rh.SCENE_FRAMES  # type: ignore[attr-defined]

from witnessbox.catalog import IncidentInput, make_timespan  # noqa: E402
from witnessbox.redact.detector import Detection  # noqa: E402
from witnessbox.redact.pipeline import Redactor  # noqa: E402
from witnessbox.workspace import Workspace  # noqa: E402
from witnessbox.workspace.accounts import Argon2Cost, parse_totp_uri_secret  # noqa: E402

ARCHIVE_PASS = "correct horse battery staple"
USER_PASS = "violet tundra marmalade kiosk 42"
CHEAP = Argon2Cost(time_cost=1, memory_kib=8192, parallelism=1)

Box = tuple[float, float, float, float]
# The photo (240 x 180): bright squares on dark grey.
PHOTO_W, PHOTO_H = 240, 180
FACE: Box = (30, 30, 70, 70)  # detected, correctly
POSTER: Box = (160, 20, 200, 60)  # detected: a false positive (a face on a poster)
MISSED: Box = (100, 110, 150, 160)  # never detected: the reviewer draws it
NUMBERED_FRAMES = 40

USERS = (
    ("ada", "admin", ()),
    ("rev", "reviewer", ()),
    ("ed", "editor", ()),
    ("vi", "viewer", ()),
    ("homr", "reviewer", ("Homiel",)),
)


class PhotoScript:
    """A photo detector that "sees" exactly FACE and POSTER."""

    name = "scripted"

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        return [Detection(FACE, 0.9), Detection(POSTER, 0.8)]


def photo_bytes() -> bytes:
    a = np.full((PHOTO_H, PHOTO_W, 3), 40, np.uint8)
    for x0, y0, x1, y1 in (FACE, POSTER, MISSED):
        a[int(y0):int(y1), int(x0):int(x1)] = 230
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class ReviewWorld:
    root: Path
    photo: str
    video: str
    numbered: str
    incident: str
    users: dict[str, tuple[str, tuple[str, ...], str, tuple[str, ...]]]  # name -> role, regions, totp secret, codes
    numbered_copy: str = ""
    forged: str = ""


def build(base: Path) -> ReviewWorld:
    root = base / "archive"
    src = base / "src"
    src.mkdir(parents=True)
    (src / "street.png").write_bytes(photo_bytes())
    make_scene(src / "scene.mp4")
    make_numbered_clip(src / "numbered.mp4", frames=NUMBERED_FRAMES, gop=12)
    with Workspace.init(root, ARCHIVE_PASS) as ws:
        ws.incidents.add_region("Minsk")
        ws.incidents.add_region("Homiel")
        slugs = {r.name: r.slug for r in ws.incidents.regions()}
        added = {r.name: r.sha256 for r in ws.add([src / "street.png", src / "scene.mp4", src / "numbered.mp4"]).added}
        photo, video, numbered = added["street.png"], added["scene.mp4"], added["numbered.mp4"]
        ws.redaction.redact_reviewed(photo, redactor=Redactor(detector=PhotoScript(), workers=1))
        ws.redaction.redact_reviewed(video, redactor=Redactor(video_detector=ScriptedDetector(scene_script()), workers=1))
        numbered_copy = ws.redaction.redact_reviewed(
            numbered, redactor=Redactor(video_detector=ScriptedDetector({}), workers=1)).sha256
        inc = ws.incidents.add(IncidentInput(title="Detention", time=make_timespan("2020-08-10"), place="",
                                             region=slugs["Minsk"], categories=("other",)))
        # The numbered clip stays unlinked: its copy is never approved, and the incident is published.
        for sha in (photo, video):
            ws.incidents.link(inc.id, sha)
        ws.accounts.cost = CHEAP
        users = {}
        for name, role, regions in USERS:
            e = ws.accounts.add(name, USER_PASS, role, regions, archive_passphrase=ARCHIVE_PASS)
            users[name] = (role, regions, parse_totp_uri_secret(e.totp_uri), tuple(e.recovery_codes))
    return ReviewWorld(root, photo, video, numbered, inc.id, users, numbered_copy)


def publish(root: Path, incident: str, out: Path) -> dict[str, Path]:
    """Publish the incident (verified, then published); the published media by suffix."""
    with Workspace.open(root, ARCHIVE_PASS) as ws:
        ws.incidents.set_status(incident, "verified")
        ws.incidents.set_status(incident, "published")
        ws.publishing.publish(out)
    media = [p for p in out.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png", ".mp4")
             and "static" not in p.parts]
    return {p.suffix.lower(): p for p in media}


def mean(a: np.ndarray, box: Box, inset: int = 4) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    return float(a[y0 + inset : y1 - inset, x0 + inset : x1 - inset].mean())
