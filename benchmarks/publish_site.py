"""Site build speed: 10,000 published incidents with 20,000 linked, approved small images, 300 units.

Data (generated, deterministic): a catalog (SQLite file under benchmarks/out/publish/) with N
incidents over 12 regions imported from one CSV, each linked to two originals whose approved
``redacted`` derivatives are small generated JPEGs (96x64, ~2 KB, held in memory as the bytes
the archive would decrypt). The typed inputs are what ``ws.publishing.publish`` builds from an
archive; sealing 40,000 items into a real archive first is left out (minutes of signing and
encryption on this machine; see ``--archive`` for an end-to-end run on a smaller archive).

Units (issue 17): a vocabulary of U units (a ministry, 12 regional directorates, the rest
detachments under them); every incident has one or two observations naming a unit by slug
(every detachment is observed). Their pages, the units index, the monthly charts (home, 12
regions, every unit) and units.json/.csv are part of every build.

Timed: (1) full build into an empty folder: gate, 20,000 re-encodes, 10,000 incident pages,
region pages, unit pages, charts, home, search index, open data, feed, manifest; (2) rebuild
with no change; (3) rebuild after one incident's title changed.
Anchor: ``shutil.copytree`` of the finished site (the I/O floor for the same files).
Targets (issue 4): full build <= 60 s, rebuild after one change <= 5 s.

Usage: .venv/bin/python benchmarks/publish_site.py [--incidents 10000] [--per-incident 2] [--units 300]
       .venv/bin/python benchmarks/publish_site.py --archive --incidents 200
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, ImageDraw

from witnessbox.catalog import Catalog, IncidentInput, Unit, UnitRegistry, create_schema, import_file
from witnessbox.catalog import schema as t
from witnessbox.catalog import unit_schema as tu
from witnessbox.publish.builder import build_site
from witnessbox.publish.gate import ItemInfo, select

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "publish"
REGIONS = ["Мінск", "Брэст", "Віцебск", "Гомель", "Гродна", "Магілёў", "Барысаў", "Пінск", "Ліда", "Орша", "Бабруйск", "Салігорск"]
CATS = ["beating", "arbitrary-detention", "chemical-agents", "less-lethal-weapons", "firearms", "other"]


def _image(i: int) -> bytes:
    im = Image.new("RGB", (96, 64), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
    d = ImageDraw.Draw(im)
    d.rectangle((i % 60, i % 30, i % 60 + 30, i % 30 + 20), fill=((i * 7) % 256, 255 - (i % 256), 128))
    for bit in range(24):  # the number itself as a row of blocks: every image is distinct
        d.rectangle((bit * 4, 56, bit * 4 + 3, 63), fill=(255, 255, 255) if (i >> bit) & 1 else (0, 0, 0))
    b = io.BytesIO()
    im.save(b, "JPEG", quality=80)
    return b.getvalue()


def _units(engine: sa.Engine, n_incidents: int, n_units: int) -> UnitRegistry:
    """A tree of units and one or two observations by slug per incident (bulk inserted)."""
    reg = UnitRegistry(engine, now=lambda: "2026-01-01T00:00:00+00:00")
    if n_units <= 0:
        return reg
    reg.add(Unit("mvd", "МУС", "МВД", "Ministry of Internal Affairs", "other"))
    heads = [reg.add(Unit(f"uus-{k:02d}", f"УУС {r}", f"УВД {r}", f"Police of region {k}", "police", parent="mvd")).slug
             for k, r in enumerate(REGIONS)]
    kinds = ["riot-police", "police", "special-forces", "internal-troops", "investigative-body"]
    leaves = []
    for k in range(max(0, n_units - 1 - len(heads))):
        u = reg.add(Unit(f"unit-{k:03d}", f"Падраздзяленне {k}", f"Подразделение {k}", f"Detachment {k}", kinds[k % 5],
                         parent=heads[k % len(heads)], insignia=f"шэўрон №{k}"))
        leaves.append(u.slug)
    leaves = leaves or heads
    obs, refs = [], []
    for i in range(n_incidents):
        chosen = [leaves[i % len(leaves)]] + ([leaves[(i * 7 + 3) % len(leaves)]] if i % 3 == 0 else [])
        for pos, slug in enumerate(dict.fromkeys(chosen)):
            iid = f"by-{i:05d}"
            obs.append({"incident_id": iid, "position": pos, "unit": f"АМАП {slug}", "insignia": "", "uniform": "",
                        "vehicles": "[]", "officers": 5})
            refs.append({"incident_id": iid, "position": pos, "unit_slug": slug})
    with engine.begin() as c:
        c.execute(t.observations.insert(), obs)
        c.execute(tu.observation_units.insert(), refs)
    return reg


def _setup(n: int, per: int) -> tuple[Catalog, dict[str, ItemInfo], dict[str, str]]:
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "catalog.sqlite"
    db.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{db}")
    create_schema(engine)
    cat = Catalog(engine, now=lambda: "2026-01-01T00:00:00+00:00")
    for r in REGIONS:
        cat.add_region(r)
    src = OUT / "incidents.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "start", "end", "precision", "place", "region", "categories", "description", "status"])
        for i in range(n):
            w.writerow([f"by-{i:05d}", f"Затрыманне і збіццё №{i}", f"20{20 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00",
                        "", "exact", f"Вуліца {i % 300}", REGIONS[i % len(REGIONS)], ";".join({CATS[i % 6], CATS[(i // 6) % 6]}),
                        f"**Сведкі** бачылі, як людзей {i} *затрымлівалі*.\n\n- пункт\n- [крыніца](https://example.org/{i})",
                        "published"])
    t0 = time.perf_counter()
    import_file(cat, src)
    print(f"setup: imported {n} incidents from CSV in {time.perf_counter() - t0:.2f} s")
    items: dict[str, ItemInfo] = {}
    approvals: dict[str, str] = {}
    links = []
    for i in range(n):
        for k in range(per):
            j = i * per + k
            orig = hashlib.sha256(f"original-{j}".encode()).hexdigest()
            data = _image(j)
            der = hashlib.sha256(data).hexdigest()
            items[orig] = ItemInfo(orig, None, "image/jpeg", "", lambda: b"")
            items[der] = ItemInfo(der, orig, "image/jpeg", "redacted", lambda d=data: d)
            approvals[der] = "2026-01-01T00:00:00+00:00"
            links.append({"incident_id": f"by-{i:05d}", "item": orig, "role": "primary" if k == 0 else "corroborating", "position": k})
    with engine.begin() as c:
        c.execute(t.links.insert(), links)
    return cat, items, approvals


def _build(cat: Catalog, items: dict[str, ItemInfo], approvals: dict[str, str], out: Path,
           reg: UnitRegistry) -> tuple[float, object]:
    t0 = time.perf_counter()
    gate = select(cat.list(), items, approvals, allowed_kinds=frozenset({"redacted"}))
    rep = build_site(out, gate, cat.regions(), cat.categories(),
                     originals=frozenset(s for s, it in items.items() if it.parent is None),
                     units=reg.list(), unit_kinds={k.slug: k.label for k in reg.kinds()})
    return time.perf_counter() - t0, rep


def typed(n: int, per: int, n_units: int) -> None:
    cat, items, approvals = _setup(n, per)
    reg = _units(cat.engine(), n, n_units)
    site = OUT / "site"
    shutil.rmtree(site, ignore_errors=True)
    full, rep = _build(cat, items, approvals, site, reg)
    files = sum(1 for p in site.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    same, rep_same = _build(cat, items, approvals, site, reg)
    inc = cat.get("by-00042")
    cat.replace(inc.id, IncidentInput(id=inc.id, title=inc.title + " (абноўлена)", time=inc.time, place=inc.place,
                                      region=inc.region, categories=inc.categories, description=inc.description,
                                      status=inc.status))
    one, rep_one = _build(cat, items, approvals, site, reg)
    copy_dst = OUT / "site-copy"
    shutil.rmtree(copy_dst, ignore_errors=True)
    t0 = time.perf_counter()
    shutil.copytree(site, copy_dst)
    anchor = time.perf_counter() - t0
    shutil.rmtree(copy_dst)
    n_unit_pages = sum(1 for p in (site / "units").glob("*.html")) - 1
    print(f"site: {rep.incidents} incidents, {rep.media} media, {n_unit_pages} unit pages, {files} files, "
          f"{size / 2**20:.1f} MiB, cpus={os.cpu_count()}")
    print(f"anchor copytree of the site:        {anchor:7.2f} s")
    print(f"full build:                         {full:7.2f} s  ({full / anchor:5.1f}x anchor; target <= 60 s: {'OK' if full <= 60 else 'MISSED'})")
    print(f"rebuild, no change:                 {same:7.2f} s  ({same / anchor:5.2f}x anchor; {len(rep_same.written)} files written)")  # type: ignore[attr-defined]
    print(f"rebuild, one incident changed:      {one:7.2f} s  ({one / anchor:5.2f}x anchor; target <= 5 s: {'OK' if one <= 5 else 'MISSED'}; "
          f"{len(rep_one.written)} files written: {', '.join(rep_one.written)})")  # type: ignore[attr-defined]


def archive(n: int, per: int) -> None:
    """End to end through a real encrypted archive (sealing is not timed)."""
    from witnessbox.catalog import Status, make_timespan
    from witnessbox.workspace import Workspace

    root = OUT / "archive-run"
    shutil.rmtree(root, ignore_errors=True)
    (root / "in").mkdir(parents=True)
    (root / "der").mkdir()
    ws = Workspace.init(root / "archive", "bench")
    t0 = time.perf_counter()
    with ws.transaction():
        for r in REGIONS:
            ws.incidents.add_region(r)
        for i in range(n):
            ws.incidents.add(IncidentInput(id=f"a{i}", title=f"Інцыдэнт {i}", time=make_timespan(f"2020-08-{1 + i % 28:02d}"),
                                           place="Плошча", region=REGIONS[i % len(REGIONS)], categories=(CATS[i % 6],),
                                           status=Status.PUBLISHED))
            for k in range(per):
                j = i * per + k
                p = root / "in" / f"o{j}.jpg"
                p.write_bytes(_image(j + 10**6))
                orig = ws.add([p]).added[0].sha256
                d = root / "der" / f"d{j}.jpg"
                d.write_bytes(_image(j))
                side = d.with_name(d.name + ".regions.json")  # nothing to hide: a generated picture
                side.write_text(json.dumps({
                    "version": 1, "media": {"width": 96, "height": 64, "frames": 1}, "source_sha256": orig,
                    "regions": [], "method": {"fill": "solid", "detector": "bench", "params": {}},
                    "tool": {"name": "witnessbox", "version": "bench"},
                }) + "\n", encoding="utf-8")
                der = ws.add_derivative(orig, d, kind="redacted", method="bench", sidecars={side.name: side})
                # Approval goes through a completed review, as on every path (docs/review.md).
                rv = ws.review.open(der.sha256, "bench-reviewer")
                rv.show(range(rv.frames))
                ws.publishing.approve(der.sha256, reviewer="bench-reviewer")
                ws.incidents.link(f"a{i}", orig, "primary")
    print(f"setup: sealed {2 * n * per} items for {n} incidents in {time.perf_counter() - t0:.1f} s (not timed below)")
    t0 = time.perf_counter()
    rep = ws.publishing.publish(root / "site")
    full = time.perf_counter() - t0
    ws.incidents.edit("a3", title="Інцыдэнт 3 (абноўлена)")
    t0 = time.perf_counter()
    rep2 = ws.publishing.publish(root / "site")
    one = time.perf_counter() - t0
    print(f"archive publish: {rep.incidents} incidents, {rep.media} media: full {full:.2f} s, after one change {one:.2f} s "
          f"({len(rep2.written)} files written)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=10_000)
    ap.add_argument("--per-incident", type=int, default=2)
    ap.add_argument("--units", type=int, default=300, help="units in the vocabulary (typed run)")
    ap.add_argument("--archive", action="store_true", help="run end to end through a real archive")
    a = ap.parse_args()
    if a.archive:
        archive(a.incidents, a.per_incident)
    else:
        typed(a.incidents, a.per_incident, a.units)


if __name__ == "__main__":
    main()
