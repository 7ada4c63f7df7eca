"""``witnessbox demo``: the whole chain on sample media that witnessbox makes itself.

Sample photos are public-domain images shipped inside scikit-image; the sample video is
rendered from one of them. Nothing here is real evidence: the demo passphrase is printed.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import typer

DEMO_PASSPHRASE = "demo only - not a secret"
DEMO_USER = "demo-admin"
DEMO_REVIEWER = "demo-reviewer"


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the root app."""

    @app.command("demo")
    def demo(
        outdir: Path = typer.Argument(Path("demo-output"), help="Folder for the demo (replaced if it holds a demo)."),
    ) -> None:
        """Build a demo archive from sample media: seal, redact, document, publish, export, verify."""
        run_demo(outdir)


def _say(step: str, text: str) -> None:
    from ._common import safe

    typer.echo(f"[{step}] {safe(text)}")


def make_samples(folder: Path) -> list[Path]:
    """Write two photos (one with GPS EXIF, to show it is stripped) and a short video."""
    import av
    import numpy as np
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    astronaut = Image.fromarray(data.astronaut())  # type: ignore[no-untyped-call]
    exif = Image.Exif()
    exif[0x010F] = "DemoPhone"  # Make
    exif[0x0110] = "Model 1"  # Model
    exif[0x0132] = "2026:03:25 14:03:00"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (53.0, 54.0, 0.0), 3: "E", 4: (27.0, 33.0, 0.0)})
    photo = folder / "street-photo.jpg"
    buf = io.BytesIO()
    astronaut.save(buf, "JPEG", quality=92, exif=exif)
    photo.write_bytes(buf.getvalue())
    coffee = folder / "context.png"
    Image.fromarray(data.coffee()).save(coffee)  # type: ignore[no-untyped-call]

    video = folder / "clip.mp4"
    frame = np.asarray(astronaut.resize((1024, 1024)))
    with av.open(str(video), "w", options={"movflags": "faststart"}) as out:
        out.metadata["location"] = "+53.9000+027.5500/"
        out.metadata["creation_time"] = "2026-03-25T14:03:00Z"
        stream = out.add_stream("libx264", rate=Fraction(25, 1))
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i in range(50):  # a window panning over the photo, as a phone would
            x = 100 + i * 4
            window = Image.fromarray(frame[150:150 + 540, x:x + 960]).resize((640, 360))
            for packet in stream.encode(av.VideoFrame.from_image(window)):  # type: ignore[no-untyped-call]
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return [photo, coffee, video]


def run_demo(outdir: Path) -> None:
    """Run the whole chain in ``outdir`` and print where to look."""
    from ..catalog.models import IncidentInput, Observation, Precision, Role, Status, TimeSpan
    from ..catalog.units import Unit
    from ..workspace import Workspace

    if outdir.exists():
        if not (outdir / ".witnessbox-demo").exists():
            from ..errors import UsageError

            raise UsageError(f"{outdir} exists and is not a witnessbox demo folder; choose another")
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    (outdir / ".witnessbox-demo").write_text("made by `witnessbox demo`; safe to delete\n")
    passphrase = os.environ.get("WITNESSBOX_PASSPHRASE", DEMO_PASSPHRASE)

    samples = make_samples(outdir / "samples")
    _say("seal", f"sample media written to {outdir / 'samples'} (scikit-image public-domain photos)")
    ws = Workspace.init(outdir / "archive", passphrase)
    report = ws.add(samples, source="demo", place="Demo Square")
    for rec in report.added:
        _say("seal", f"{rec.sha256[:12]}  {rec.media_type:<12} {rec.name}")

    copies = []
    for rec in report.added:
        if rec.metadata.kind not in ("image", "video"):
            continue
        copy = ws.redaction.redact_item(rec.sha256)
        copies.append(copy)
        _say("protect", f"{rec.name}: redacted copy {copy.sha256[:12]} sealed (faces hidden, metadata stripped)")

    inc = ws.incidents
    inc.add_region("Demo region")
    incident = inc.add(IncidentInput(
        title="Detention at the demo square",
        time=TimeSpan(start=datetime(2026, 3, 25, 14, 0), end=None, precision=Precision.EXACT),
        place="Demo Square", region="Demo region", categories=("arbitrary-detention",),
        description="Sample incident made by `witnessbox demo`. **Not real.**",
    ))
    for rec in report.added:
        inc.link(incident.id, rec.sha256, Role.PRIMARY)
    # A unit is an institution: the site gets a page for it, with a monthly chart; nobody is named.
    ws.units.add(Unit("demo-riot-police", "Дэма-АМАП", "Демо-ОМОН", "Demo riot police", "riot-police",
                      insignia="sample chevron (not real)"))
    inc.observe(incident.id, Observation(unit="demo riot police", unit_slug="demo-riot-police", officers=6))
    # Approval needs a completed review, on every path: the demo plays a reviewer who checks
    # each copy (accepts every track, dismisses every suggestion, is shown every frame).
    for copy in copies:
        _review(ws, copy.sha256)
        ws.publishing.approve(copy.sha256, reviewer=DEMO_REVIEWER)
    _say("review", f"{DEMO_REVIEWER} reviewed and approved {len(copies)} redacted copies")
    inc.set_status(incident.id, Status.VERIFIED)
    inc.set_status(incident.id, Status.PUBLISHED)
    _say("document", f"incident {incident.id} linked to {len(report.added)} items, published status")

    site = ws.publishing.publish(outdir / "site")
    _say("publish", f"site built in {outdir / 'site'} ({len(site.written)} files written)")

    bag = outdir / "evidence-package"
    ws.exports.export([incident.id], bag, recipient="demo court")
    check = ws.exports.verify(bag)
    _say("hand over", f"evidence package {bag}: {'verifies' if check.ok else 'FAILS verification'}")

    result = ws.verify()
    _say("verify", f"archive {'OK' if result.ok else 'BROKEN'}: {result.tree_size} custody log entries")

    account = _demo_account(ws, outdir, passphrase)
    _say("team", f"web app account '{DEMO_USER}' (admin); its passphrase and one-time codes are in {account}")
    typer.echo("")
    from ._common import safe

    typer.echo(safe(f"Open {outdir / 'site' / 'index.html'} in a browser; the archive is {outdir / 'archive'}"))
    exe = sys.argv[0] if sys.argv[0].endswith("witnessbox") else "witnessbox"
    typer.echo(safe(f"(demo passphrase: '{passphrase}'). Try: WITNESSBOX_ARCHIVE={outdir / 'archive'} {exe} list"))
    typer.echo(safe(f"Web app: WITNESSBOX_ARCHIVE={outdir / 'archive'} {exe} serve, then open http://127.0.0.1:8484/"))
    typer.echo(safe(f"and sign in as '{DEMO_USER}' with the passphrase and a recovery code (or the TOTP link) in {account}"))


def _review(ws: Any, copy: str) -> None:
    """Review one copy as the demo reviewer, through the library (``ws.review``): the sample
    media hold nothing to leave visible, so every track is accepted and every suggestion
    dismissed; every frame is decoded and shown, as the review screen's player would."""
    rv = ws.review.open(copy, DEMO_REVIEWER)
    for t in rv.tracks():
        if t.decision is None:
            rv.accept(t.id)
    for s in rv.state.undecided_suggestions():
        rv.dismiss_suggestion(s, "demo: sample picture, nothing to hide")
    with rv.frame_reader() as read:
        for n in range(rv.frames):
            read(n)
    rv.show(range(rv.frames))


def _demo_account(ws: Any, outdir: Path, archive_passphrase: str) -> Path:
    """An admin account of the web app with a random passphrase, written (0600) to a file in
    the demo folder: the demo is meant to be opened, and nothing in it is evidence."""
    import secrets

    from .._fsutil import atomic_write_text

    user_passphrase = secrets.token_urlsafe(18)
    enrollment = ws.accounts.add(DEMO_USER, user_passphrase, "admin", archive_passphrase=archive_passphrase)
    path = outdir / "web-sign-in.txt"
    atomic_write_text(path, "\n".join([
        "witnessbox demo: sign-in for the web app (`witnessbox serve`). Demo only: never reuse.",
        f"name:        {DEMO_USER}",
        f"passphrase:  {user_passphrase}",
        f"TOTP link:   {enrollment.totp_uri}",
        "recovery codes (each works once instead of an authenticator code):",
        *(f"  {c}" for c in enrollment.recovery_codes),
        "",
    ]), file_mode=0o600)
    return path
