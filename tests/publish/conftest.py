"""The session fixture of the publish tests: a real archive with hostile content, published once.

See publish_fixtures.py for what it holds and why.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _review_done import approve_reviewed, redacted_copy
from publish_fixtures import (
    CONTACT,
    HOSTILE_REGION,
    PASS,
    PLATE_XSS,
    TESTIMONY,
    XSS,
    Published,
    jpeg_with_everything,
    mp4_with_metadata,
)

from witnessbox.catalog import Catalog, IncidentInput, Observation, Unit, Vehicle, make_timespan
from witnessbox.workspace import Workspace


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    root = tmp_path_factory.mktemp("publish")
    src = root / "in"
    src.mkdir()
    files = {
        "photo1.jpg": jpeg_with_everything((200, 30, 30)),
        "photo2.jpg": jpeg_with_everything((30, 200, 30)),
        "photo3.jpg": jpeg_with_everything((30, 30, 200)),
        "clip.mp4": mp4_with_metadata(40),
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    ws = Workspace.init(root / "archive", PASS)
    rep = ws.add([src / n for n in files])
    by_name = {r.name: r.sha256 for r in rep.added}
    originals = {n: files[n] for n in files}
    # Redacted copies that still carry metadata: the publisher must strip it by re-encoding.
    der = root / "der"
    der.mkdir()
    (der / "photo1-red.jpg").write_bytes(jpeg_with_everything((10, 10, 10)))
    (der / "photo2-red.jpg").write_bytes(jpeg_with_everything((20, 20, 20)))
    (der / "photo3-thumb.jpg").write_bytes(jpeg_with_everything((30, 30, 30)))
    (der / "clip-red.mp4").write_bytes(mp4_with_metadata(90))
    d1 = redacted_copy(ws, by_name["photo1.jpg"], der / "photo1-red.jpg", width=64, height=48)
    d2 = redacted_copy(ws, by_name["photo2.jpg"], der / "photo2-red.jpg", width=64, height=48)
    d3 = ws.add_derivative(by_name["photo3.jpg"], der / "photo3-thumb.jpg", kind="thumbnail", method="resize")
    dv = redacted_copy(ws, by_name["clip.mp4"], der / "clip-red.mp4", width=64, height=48, frames=10, fps=10.0)
    for d in (d1, dv):
        approve_reviewed(ws, d.sha256)  # a review completed through the library, then approved
    # A thumbnail cannot be approved any more (only a reviewed redacted copy can); an approval
    # of one recorded by an older witnessbox (replayed from the custody log) must still be left
    # out by the gate.
    with ws.transaction():
        Catalog(ws.engine).approve(d3.sha256, "older-witnessbox",
                                   lambda c: ws.log_action(c.action, c.objects, dict(c.details)))
    inc = ws.incidents
    inc.add_region(HOSTILE_REGION)
    inc.add_region("Мінск")
    inc.add(IncidentInput(
        id="xss-1", title="T " + XSS, time=make_timespan("2020-08-10T22:15"), place="P " + XSS, region=HOSTILE_REGION,
        categories=("beating", "chemical-agents"),
        description="# Head\n\n" + XSS + "\n\n[click](javascript:alert(4)) ![i](http://tracker.example/x.png)\n\n"
        "<iframe src=x></iframe> **ok**",
        sources=("javascript:alert(5)", "https://example.org/report?a=1&b=<2>", XSS),
    ))
    inc.observe("xss-1", Observation(unit="U " + XSS, insignia="I " + XSS, uniform="F " + XSS,
                                     vehicles=(Vehicle("V " + XSS, PLATE_XSS),), officers=7))
    inc.link("xss-1", by_name["photo1.jpg"], "primary")
    inc.link("xss-1", by_name["clip.mp4"], "corroborating")
    inc.link("xss-1", by_name["photo2.jpg"], "context")  # its derivative is not approved
    inc.link("xss-1", by_name["photo3.jpg"], "context")  # approved, but a thumbnail, not redacted
    inc.add_testimony("xss-1", TESTIMONY, language="be", given_on="2020-08-11", contact=CONTACT)
    inc.add(IncidentInput(id="nomedia-1", title="Затрыманне без відэа", time=make_timespan("2020-08-11"),
                          place="Плошча Незалежнасці", region="Мінск", categories=("arbitrary-detention",),
                          description="Людзей **затрымлівалі** ля мэтро."))
    inc.add(IncidentInput(id="draft-1", title="DRAFT-ONLY-TITLE", time=make_timespan("2020-08-12"), place="",
                          region="Мінск", categories=("other",)))
    inc.link("draft-1", by_name["photo1.jpg"], "primary")
    # A unit named only by the draft must not reach the site; one named by a published incident must.
    ws.units.add(Unit("draft-unit", "DRAFT-ONLY-UNIT", "DRAFT-ONLY-UNIT", "DRAFT-ONLY-UNIT", "police"))
    ws.units.add(Unit("omon-xss", "АМАП " + XSS, "", "OMON " + XSS, "riot-police", insignia="I " + XSS, notes=XSS))
    inc.observe("draft-1", Observation(unit_slug="draft-unit"))
    inc.observe("xss-1", Observation(unit="as written", unit_slug="omon-xss"))
    for i in ("xss-1", "nomedia-1"):
        inc.set_status(i, "verified")
        inc.set_status(i, "published")
    report = ws.publishing.publish(root / "site")
    ws.publishing.publish(root / "site-be", lang="be")
    yield Published(
        ws=ws, site=root / "site", site_be=root / "site-be", report=report, originals=originals,
        approved={"photo1": d1.sha256, "clip": dv.sha256}, unapproved={"photo2": d2.sha256, "photo3": d3.sha256},
    )
    ws.close()


