"""Build the public site into a folder: fail closed, atomic, reproducible, incremental.

Full build (new OUTDIR, or a previous build was interrupted): the whole site is written into a
staging folder beside OUTDIR (``.NAME.staging-*``), flushed with one ``syncfs``, then swapped
in by renaming OUTDIR aside and the staging folder into its place; the old tree is deleted. A
crash between the two renames is repaired by the next build (``.NAME.old-*`` renamed back).

Incremental build (OUTDIR holds a site with a trusted state): only new or changed files are
written, into the staging folder; everything is computed and checked before OUTDIR is touched.
Then the dirty marker is written, each changed file is moved in with ``os.replace`` (manifest
last), removed files are deleted, the new state is written and the marker removed. Unchanged
files are never rewritten (same inode, same bytes). A crash in between leaves the marker, and
the next build is a full one.

Either way a PublishError leaves OUTDIR exactly as it was ("nothing was published"). Per-file
fsync is avoided on purpose: at 4-6 ms a file it would cost minutes for a 30,000-file site;
one ``syncfs`` before the commit gives the same "absent or complete" guarantee.

``.witnessbox-site.json`` in OUTDIR (not in the manifest; public data only) keeps each page's
fingerprint (the hash of everything it shows plus the templates), each file's sha256 and size,
and the re-encoded media by source, so only pages whose inputs changed are rendered. Nothing in
the output depends on the clock, so a rebuild with no change is byte-identical.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import itertools
import json
import os
import re
import shutil
import stat
import tempfile
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .._fsutil import atomic_write_bytes, exclusive_lock, fsync_dir
from ..catalog import Category, Incident, Region, Unit, region_slug
from ..errors import PublishError, WitnessboxError
from .charts import Chart
from .gate import GateResult, LeftOut, MediaSource
from .media import ENCODER_VERSION, Encoded, encode_or_error
from .site import (
    SITE_FORMAT,
    UNITS_INDEX,
    CatView,
    IncidentView,
    PublishedMedia,
    RegionView,
    Renderer,
    SiteOptions,
    UnitView,
    fingerprint,
    incident_path,
    incidents_csv,
    incidents_json,
    open_data_records,
    region_path,
    search_index_js,
)
from .unit_pages import (
    PublishedUnits,
    region_units,
    select_units,
    unit_records,
    unit_views,
    units_csv,
    units_json,
)

STATE_FILE = ".witnessbox-site.json"
DIRTY_FILE = ".witnessbox-site.dirty"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
LATEST_ON_HOME = 10
# One segment: our closed alphabet, and never "." or ".." (a path must stay inside the site).
_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._-]+"
_SAFE_PATH = re.compile(rf"{_SEGMENT}(/{_SEGMENT})*")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build did. ``written`` files were (re)written; ``unchanged`` ones kept their bytes."""

    outdir: Path
    incidents: int
    media: int
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    left_out: tuple[LeftOut, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "outdir": str(self.outdir),
            "incidents": self.incidents,
            "media": self.media,
            "written": list(self.written),
            "unchanged": len(self.unchanged),
            "removed": list(self.removed),
            "left_out": [asdict(x) for x in self.left_out],
        }


@dataclass(slots=True)
class _State:
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    sizes: dict[str, int] = field(default_factory=dict)
    fps: dict[str, str] = field(default_factory=dict)  # path -> fingerprint of its inputs
    media: dict[str, dict[str, Any]] = field(default_factory=dict)  # source key -> PublishedMedia fields
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # incident fp -> list view

    def dump(self) -> bytes:
        data = {"format": SITE_FORMAT, "files": self.files, "sizes": self.sizes, "fingerprints": self.fps,
                "media": self.media, "summaries": self.summaries}
        return (json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    @classmethod
    def load(cls, path: Path) -> _State | None:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != SITE_FORMAT:
            return None
        files = data.get("files")
        # The state lies in the served folder, where others may write: its paths are later
        # joined to OUTDIR and unlinked, so one outside the site makes the whole state untrusted.
        if not isinstance(files, dict) or not all(isinstance(p, str) and _SAFE_PATH.fullmatch(p) for p in files):
            return None
        try:
            return cls(files, data["sizes"], data["fingerprints"], data["media"], data["summaries"])
        except KeyError:
            return None


IO_THREADS = 2


def _write_new(path: str, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)


class _Immediate:
    """Stands for an executor when IO_THREADS is 0: writes at once."""

    def submit(self, fn: Callable[[str, bytes], None], path: str, data: bytes) -> Future[None]:
        fut: Future[None] = Future()
        fn(path, data)
        fut.set_result(None)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        return None


class _Writer:
    """Writes new or changed files into the staging folder; records unchanged ones of the old site."""

    def __init__(self, staging: Path, old_dir: Path | None, old: _State) -> None:
        # Plain strings, not Path objects: pathlib costs more than the syscalls on 30,000 files.
        self.staging = str(staging)
        self.old_dir = str(old_dir) if old_dir is not None else None
        self.old = old
        self.new = _State()
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self._dirs: set[str] = set()
        self._io: ThreadPoolExecutor | _Immediate = ThreadPoolExecutor(max_workers=IO_THREADS) if IO_THREADS else _Immediate()
        self._pending: list[Future[None]] = []

    def _target(self, rel: str) -> str:
        folder, _, _ = rel.rpartition("/")
        if folder not in self._dirs:
            os.makedirs(os.path.join(self.staging, folder), exist_ok=True)
            self._dirs.add(folder)
        return os.path.join(self.staging, rel)

    def put(self, rel: str, data: bytes, fp: str = "") -> str:
        # Checked before writing: ids and slugs come from the SQL catalog, which could be edited
        # by hand; a "../" there must not write outside the staging folder.
        if not _SAFE_PATH.fullmatch(rel):
            raise PublishError(f"refusing output path {rel[:120]!r}: only [A-Za-z0-9._-] segments inside the site")
        if rel in self.new.files:
            raise PublishError(f"two outputs want the same path {rel}")
        # File creation is kernel time that releases the GIL: done by I/O threads, overlapping
        # with rendering here. flush() waits for them (and raises their first error).
        self._pending.append(self._io.submit(_write_new, self._target(rel), data))
        if len(self._pending) > 4096:
            self._drain(2048)
        sha = hashlib.sha256(data).hexdigest()
        self.new.files[rel], self.new.sizes[rel] = sha, len(data)
        if fp:
            self.new.fps[rel] = fp
        self.written.append(rel)
        return sha

    def _drain(self, keep: int = 0) -> None:
        while len(self._pending) > keep:
            self._pending.pop(0).result()

    def flush(self) -> None:
        """Wait until every file is written; raise the first write error."""
        try:
            self._drain()
        finally:
            self._io.shutdown(wait=True, cancel_futures=True)

    def reuse(self, rel: str, fp: str = "") -> bool:
        """Keep the previous file as is; False when it cannot be trusted or found."""
        if self.old_dir is None or rel not in self.old.files or rel in self.new.files:
            return False
        src = os.path.join(self.old_dir, rel)
        try:
            st = os.lstat(src)
            if not stat.S_ISREG(st.st_mode) or st.st_size != self.old.sizes.get(rel):
                return False
        except OSError:
            return False
        self.new.files[rel], self.new.sizes[rel] = self.old.files[rel], self.old.sizes[rel]
        if fp:
            self.new.fps[rel] = fp
        self.unchanged.append(rel)
        return True

    def put_fp(self, rel: str, fp: str, render: Callable[[], bytes]) -> None:
        """Render and write only when the fingerprint of the page's inputs changed."""
        if self.old.fps.get(rel) == fp and self.reuse(rel, fp):
            return
        self.put(rel, render(), fp)

    def put_if_changed(self, rel: str, data: bytes) -> None:
        """Write ``data`` unless the previous file has exactly these bytes."""
        if self.old.files.get(rel) == hashlib.sha256(data).hexdigest() and self.reuse(rel):
            return
        self.put(rel, data)


def _syncfs(folder: Path) -> None:
    """Flush every file written under ``folder``'s file system in one call (Linux), else sync all."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    except OSError:
        os.sync()
    finally:
        os.close(fd)


def _recover(outdir: Path) -> None:
    """Finish or undo a swap a crash interrupted, and remove stale staging folders."""
    parent = outdir.parent
    olds = sorted(parent.glob(f".{outdir.name}.old-*"))
    if not outdir.exists() and olds:
        os.rename(olds[-1], outdir)
        olds = olds[:-1]
    for p in [*olds, *parent.glob(f".{outdir.name}.staging-*")]:
        shutil.rmtree(p, ignore_errors=True)


def _is_site(outdir: Path) -> bool:
    return (outdir / STATE_FILE).is_file()


def _summary_view(v: IncidentView) -> dict[str, Any]:
    # Keys in sorted order, as the state file stores them: a fresh summary and one read back
    # have the same repr (list pages are fingerprinted by it, see _repr_fp).
    return {"categories": [[c.slug, c.label] for c in v.categories], "category_slugs": list(v.category_slugs),
            "day": v.day, "id": v.id, "place": v.place, "search": v.search, "title": v.title, "url": v.url,
            "when": v.when}


def _view_from_summary(d: Mapping[str, Any]) -> IncidentView:
    cats = tuple(CatView(s, label) for s, label in d["categories"])
    return IncidentView(
        id=d["id"], url=d["url"], title=d["title"], when=d["when"], day=d["day"], precision="", place=d["place"],
        coordinates="", region="", region_url="", categories=cats, category_slugs=tuple(d["category_slugs"]),
        description_html="", observations=(), media=(), sources=(), search=d["search"],
    )


def _incident_fp(tpl: str, inc: Incident, slug: str, media: Sequence[PublishedMedia], unit_names: Mapping[str, str]) -> str:
    """Hash of everything an incident page shows (``updated_at`` left out: a touch with no
    visible change rewrites nothing). Built from builtins only, whose repr is C-fast and stable."""
    obs = tuple((o.unit, o.insignia, o.uniform, tuple((v.type, v.plate) for v in o.vehicles), o.officers,
                 o.unit_slug, unit_names.get(o.unit_slug, "")) for o in inc.observations)
    coords = (inc.coordinates.lat, inc.coordinates.lon) if inc.coordinates else None
    blob = repr((
        tpl, inc.id, inc.title, inc.time.start, inc.time.end, inc.time.precision.value, inc.place, inc.region,
        inc.categories, inc.description, inc.sources, coords, inc.status.value, obs,
        tuple((li.item, li.role.value) for li in inc.links), slug,
        tuple((m.path, m.sha256, m.media_type, m.width, m.height, m.role) for m in media),
    ))
    return hashlib.sha256(blob.encode()).hexdigest()


def build_site(
    outdir: Path,
    gate: GateResult,
    regions: Sequence[Region],
    categories: Sequence[Category],
    *,
    originals: frozenset[str] = frozenset(),
    options: SiteOptions = SiteOptions(),
    progress: Progress | None = None,
    workers: int | None = None,
    strict: bool = False,
    units: Sequence[Unit] = (),
    unit_kinds: Mapping[str, str] | None = None,
    media_from: Path | None = None,
    allow_removals: bool = True,
) -> BuildReport:
    """Build (or rebuild) the public site in ``outdir`` from what passed the gate.

    Args:
        outdir: The site folder: new, empty, or a site built before by witnessbox.
        gate: Output of :func:`.gate.select`: published incidents, cleared media, left-outs.
        regions: Every region (for names and slugs).
        categories: The taxonomy.
        originals: sha256 of every original: a published file equal to one stops the build.
        options: Language, title, base URL.
        progress: Called with (stage, done, total).
        workers: Threads that re-encode media (default: CPU count, at most 8).
        strict: Refuse to publish when any linked medium is left out, including media that
            fail to re-encode (found only while building).
        units: The whole units vocabulary; only units observed in the gated incidents (and
            the units above them) are published (:mod:`.unit_pages`).
        unit_kinds: Kind slug -> label (custom kinds; default kinds are translated).
        media_from: A site of the same build in another language: media it re-encoded (same
            derivative, same encoder) are copied from it instead of encoded again.
        allow_removals: When false, refuse (before writing anything) to remove the page of an
            incident the site already publishes: a lost or damaged catalog must never
            unpublish a registry.

    Raises:
        PublishError: OUTDIR is a non-empty folder that is not a witnessbox site, a
            published file would equal an original, or ``strict`` and media were left out;
            nothing was published.
        LockedError: another build of the same OUTDIR is running.
    """
    outdir = Path(os.path.abspath(outdir))
    if outdir.exists() and not outdir.is_dir():
        raise PublishError(f"{outdir} is a file: give a folder")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(outdir.parent / f".{outdir.name}.lock", wait=False, what=f"publishing to {outdir}"):
        _recover(outdir)
        if outdir.exists() and any(outdir.iterdir()) and not _is_site(outdir):
            raise PublishError(f"{outdir} is not empty and was not built by witnessbox: choose a new or empty folder")
        old = _State.load(outdir / STATE_FILE) if outdir.exists() else None
        if not allow_removals:
            _refuse_removals(outdir, gate)
        # After a crash during an in-place commit the state no longer describes the files:
        # rebuild everything into a fresh tree instead of trusting it.
        incremental = old is not None and not (outdir / DIRTY_FILE).exists()
        staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.staging-", dir=outdir.parent))
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a site is meant to be served
        try:
            # Files of a previous site are kept (in place) only when its state can be trusted.
            trusted = old if incremental else None
            w = _Writer(staging, outdir if trusted else None, trusted or _State())
            try:
                sib_state = _State.load(media_from / STATE_FILE) if media_from is not None else None
                sibling = (Path(os.path.abspath(media_from)), sib_state) if media_from is not None and sib_state else None
                left = _write_site(w, gate, regions, categories, originals, options, progress, workers, units,
                                   unit_kinds or {}, sibling)
                if strict and left:
                    raise PublishError(f"{len(left)} linked media would be left out (first: {left[0]})")
                _write_manifest(w)
            finally:
                w.flush()
            removed = sorted(set(old.files if old else ()) - set(w.new.files))
            _syncfs(staging)
            if incremental:
                _commit_in_place(staging, outdir, w, removed)
            else:
                (staging / STATE_FILE).write_bytes(w.new.dump())
                _syncfs(staging)
                _swap(staging, outdir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    n_media = sum(1 for p in w.new.files if p.startswith("media/"))
    return BuildReport(outdir, len(gate.incidents), n_media, tuple(w.written), tuple(w.unchanged), tuple(removed), left)


def published_incident_pages(outdir: Path) -> list[str]:
    """Site paths of the incident pages ``outdir`` publishes now (empty for no site)."""
    state = _State.load(Path(outdir) / STATE_FILE)
    if state is not None:
        pages = set(state.files)
    else:  # no state to trust: look at the files themselves
        pages = {f"incidents/{p.name}" for p in (Path(outdir) / "incidents").glob("*.html")}
    return sorted(p for p in pages if p.startswith("incidents/") and p.endswith(".html"))


def _refuse_removals(outdir: Path, gate: GateResult) -> None:
    keep = {incident_path(i.id) for i in gate.incidents}
    gone = [p for p in published_incident_pages(outdir) if p not in keep]
    if gone:
        names = ", ".join(p.removeprefix("incidents/").removesuffix(".html") for p in gone[:5])
        raise PublishError(
            f"{len(gone)} incident(s) the site publishes now would be removed ({names}"
            f"{', ...' if len(gone) > 5 else ''}): if they were unpublished on purpose, run again with"
            " --allow-removals; if the catalog was lost or damaged, run `witnessbox reindex` first"
        )


def _commit_in_place(staging: Path, outdir: Path, w: _Writer, removed: Sequence[str]) -> None:
    """Move the few rewritten files into the existing site, manifest last, then the new state.

    Every file is replaced atomically (``os.replace`` of a flushed file). The dirty marker,
    written first and removed last, makes the next build a full one if this is interrupted.
    """
    new_state = w.new.dump()
    if not w.written and not removed:
        if (outdir / STATE_FILE).read_bytes() != new_state:
            atomic_write_bytes(outdir / STATE_FILE, new_state)
        return
    atomic_write_bytes(outdir / DIRTY_FILE, b"a witnessbox build was interrupted; the next one rebuilds everything\n")
    touched: set[str] = set()
    last = (MANIFEST, SUMS)
    for rel in sorted(w.written, key=lambda r: (r in last, r)):
        dst = os.path.join(outdir, rel)
        folder = os.path.dirname(dst)
        os.makedirs(folder, exist_ok=True)
        os.replace(os.path.join(staging, rel), dst)
        touched.add(folder)
    for rel in removed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(outdir, rel))
        touched.add(os.path.dirname(os.path.join(outdir, rel)))
    for folder in touched:
        with contextlib.suppress(OSError):
            fsync_dir(Path(folder))
    atomic_write_bytes(outdir / STATE_FILE, new_state)
    os.unlink(outdir / DIRTY_FILE)
    fsync_dir(outdir)


def _swap(staging: Path, outdir: Path) -> None:
    if outdir.exists():
        aside = outdir.parent / f".{outdir.name}.old-{os.getpid()}"
        os.rename(outdir, aside)
        os.rename(staging, outdir)
        fsync_dir(outdir.parent)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(staging, outdir)
        fsync_dir(outdir.parent)


_WINDOW = 64


def _encoded(todo: Sequence[tuple[MediaSource, str]], n: int) -> Iterator[tuple[tuple[MediaSource, str], Encoded | str]]:
    """Re-encode in order, at most ``_WINDOW`` media in flight (bounded memory for videos).

    Reads happen here, one at a time (the archive is not meant for concurrent use); encoding
    runs in threads. Worker processes were measured 4x slower on small images (IPC per medium).
    """
    pool = ThreadPoolExecutor(max_workers=max(1, n))

    def submit(item: tuple[MediaSource, str]) -> Future[Encoded | str]:
        d = item[0].derivative
        try:
            data = d.read()
        except WitnessboxError as e:  # a damaged or missing derivative is left out, and reported
            failed: Future[Encoded | str] = Future()
            failed.set_result(f"cannot read it ({e.message})")
            return failed
        return pool.submit(encode_or_error, data, d.media_type)

    with pool:
        rest = iter(todo)
        window: deque[tuple[tuple[MediaSource, str], Future[Encoded | str]]] = deque(
            (item, submit(item)) for item in itertools.islice(rest, _WINDOW)
        )
        while window:
            item, fut = window.popleft()
            nxt = next(rest, None)
            if nxt is not None:
                window.append((nxt, submit(nxt)))
            yield item, fut.result()


def _from_sibling(w: _Writer, sibling: tuple[Path, _State] | None, key: str, originals: frozenset[str]) -> dict[str, Any] | None:
    """A medium another language's site of the same build re-encoded: copy its bytes, no re-encode.

    Trusted only when the bytes read back have the recorded SHA-256 (else: encode again).
    """
    if sibling is None or key not in sibling[1].media:
        return None
    d = sibling[1].media[key]
    rel = d["path"]
    if rel in w.new.files:
        return dict(d)
    if not isinstance(rel, str) or not _SAFE_PATH.fullmatch(rel):
        return None
    try:
        data = (sibling[0] / rel).read_bytes()
    except OSError:
        return None
    sha = hashlib.sha256(data).hexdigest()
    if sha != d["sha256"]:
        return None
    if sha in originals:
        raise PublishError(f"a published file would equal original {sha[:16]}: refusing to publish")
    if not w.reuse(rel):
        w.put(rel, data)
    return dict(d)


def _encode_all(
    w: _Writer, sources: Sequence[MediaSource], originals: frozenset[str], progress: Progress | None, workers: int | None,
    sibling: tuple[Path, _State] | None = None,
) -> tuple[dict[str, list[PublishedMedia]], list[LeftOut]]:
    """Re-encode (or reuse) every cleared medium; a medium that fails is left out, not published."""
    out: dict[str, list[PublishedMedia]] = defaultdict(list)
    left: list[LeftOut] = []
    todo: list[tuple[MediaSource, str]] = []
    done: dict[str, dict[str, Any]] = {}
    keys = [hashlib.sha256(f"{ENCODER_VERSION}:{src.derivative.sha256}".encode()).hexdigest() for src in sources]
    for src, key in zip(sources, keys, strict=True):
        cached = w.old.media.get(key) or done.get(key)
        if cached is not None and (cached["path"] in w.new.files or w.reuse(cached["path"])):
            done[key] = cached
            continue
        shared = _from_sibling(w, sibling, key, originals)
        if shared is not None:
            done[key] = shared
            continue
        todo.append((src, key))
    total = len(todo)

    n = workers or min(8, os.cpu_count() or 1)
    seen_todo: dict[str, str] = {}
    for i, ((src, key), res) in enumerate(_encoded(todo, n)):
        if progress:
            progress("media", i + 1, total)
        if key in done or key in seen_todo:
            continue
        if isinstance(res, str):
            left.append(LeftOut(src.incident_id, src.linked_item, f"cannot be re-encoded: {res}"))
            seen_todo[key] = "failed"
            continue
        sha = hashlib.sha256(res.data).hexdigest()
        if sha in originals:
            raise PublishError(f"a published file would equal original {sha[:16]}: refusing to publish")
        rel = f"media/{sha[:32]}.{res.ext}"
        if rel not in w.new.files and not w.reuse(rel):
            w.put(rel, res.data)
        done[key] = {"path": rel, "sha256": sha, "media_type": res.media_type, "width": res.width, "height": res.height}
        seen_todo[key] = rel
    failed = {k for k, v in seen_todo.items() if v == "failed"}
    for src, key in zip(sources, keys, strict=True):
        if key in failed:
            continue
        d = done[key]
        w.new.media[key] = d
        out[src.incident_id].append(PublishedMedia(d["path"], d["sha256"], d["media_type"], d["width"], d["height"], src.role.value))
    return out, left


def _write_site(
    w: _Writer,
    gate: GateResult,
    regions: Sequence[Region],
    categories: Sequence[Category],
    originals: frozenset[str],
    options: SiteOptions,
    progress: Progress | None,
    workers: int | None,
    units: Sequence[Unit],
    unit_kinds: Mapping[str, str],
    sibling: tuple[Path, _State] | None = None,
) -> tuple[LeftOut, ...]:
    r = Renderer(options, categories)
    tpl = r.template_hash
    sources = [m for inc in gate.incidents for m in gate.media.get(inc.id, ())]
    media, failed = _encode_all(w, sources, originals, progress, workers, sibling)
    slug_of = {reg.name: reg.slug for reg in regions}
    incidents = list(gate.incidents)
    by_id = {i.id: i for i in incidents}
    inc_slug = {i.id: slug_of.get(i.region) or region_slug(i.region) for i in incidents}
    pub = select_units(incidents, units)
    unit_names = {s: u.name(options.lang) for s, u in pub.units.items()}

    summaries: dict[str, IncidentView] = {}
    listed: dict[str, dict[str, Any]] = {}  # id -> what a list entry shows (fingerprints of list pages)
    for n, inc in enumerate(incidents):
        rel = incident_path(inc.id)
        fp = _incident_fp(tpl, inc, inc_slug[inc.id], media.get(inc.id, []), unit_names)
        cached = w.old.summaries.get(fp)
        if cached is not None and w.old.fps.get(rel) == fp and w.reuse(rel, fp):
            summaries[inc.id] = _view_from_summary(cached)
            w.new.summaries[fp] = cached
            listed[inc.id] = cached
        else:
            view = r.incident_view(inc, inc_slug[inc.id], media.get(inc.id, []), unit_names)
            w.put(rel, r.incident_page(view), fp)
            summaries[inc.id] = view
            w.new.summaries[fp] = listed[inc.id] = _summary_view(view)
        if progress and (n % 200 == 0 or n + 1 == len(incidents)):
            progress("pages", n + 1, len(incidents))

    cat_views = r.cat_views([c.slug for c in categories])
    by_region: dict[str, list[Incident]] = defaultdict(list)
    for inc in incidents:
        by_region[inc_slug[inc.id]].append(inc)
    u_views = unit_views(r, pub, by_id, inc_slug, unit_kinds)
    region_views: list[RegionView] = []
    chart_title = r.gettext("Incidents per month, by main category")
    for reg in sorted({Region(i.region, inc_slug[i.id]) for i in incidents}, key=lambda x: (x.name.casefold(), x.slug)):
        rel = region_path(reg.slug)
        newest = sorted(by_region[reg.slug], key=lambda i: (i.time.sort_key(), i.id), reverse=True)
        views = [summaries[i.id] for i in newest]
        reg_units = region_units(u_views, newest, pub)
        chart = r.chart(newest, "region-chart", chart_title)
        w.put_fp(rel, _repr_fp(tpl, reg, [listed[i.id] for i in newest], cat_views, reg_units, _chart_fp(chart)),
                 functools.partial(r.region_page, reg, views, cat_views, reg_units, chart))
        region_views.append(RegionView(reg.name, reg.slug, rel, len(views)))

    _write_unit_pages(w, r, tpl, pub, u_views, summaries, listed, by_id, region_views, chart_title, progress)

    counts = Counter(c for i in incidents for c in i.categories)
    cat_counts = [(c, counts[c.slug]) for c in cat_views if counts[c.slug]]
    latest = [summaries[i.id] for i in sorted(incidents, key=lambda i: (i.time.sort_key(), i.id), reverse=True)[:LATEST_ON_HOME]]
    home_chart = r.chart(incidents, "home-chart", chart_title)
    w.put_fp("index.html", fingerprint(tpl, region_views, cat_counts, [_summary_view(v) for v in latest], len(incidents),
                                       _chart_fp(home_chart), len(pub.units)),
             lambda: r.index_page(region_views, cat_counts, latest, len(incidents), home_chart, len(pub.units)))
    # The search page shows region names, not their counts: a new incident does not rewrite it.
    w.put_fp("search.html", fingerprint(tpl, [(v.name, v.slug) for v in region_views], cat_views),
             lambda: r.search_page(region_views, cat_views))
    w.put_fp("methodology.html", fingerprint(tpl), r.methodology_page)

    records = open_data_records(incidents, summaries, media)
    w.put_if_changed("incidents.json", incidents_json(records))
    w.put_if_changed("incidents.csv", incidents_csv(records))
    u_records = unit_records(pub, {i: summaries[i].url for i in summaries})
    w.put_if_changed("units.json", units_json(u_records))
    w.put_if_changed("units.csv", units_csv(u_records))
    # Fingerprinted by what its entries show (the settings are in tpl): an unchanged feed is not
    # rendered again (its Markdown excerpts are most of its cost).
    recent = r.feed_incidents(incidents)
    w.put_fp("feed.atom", _repr_fp(tpl, [(i.id, i.updated_at, i.title, i.description, summaries[i.id].url,
                                          summaries[i.id].categories) for i in recent]),
             lambda: r.feed(recent, summaries))
    w.put_if_changed(
        "search-index.js",
        search_index_js([summaries[i.id] for i in incidents], by_id, {v.slug: v.name for v in region_views},
                        {c.slug: c.label for c in cat_views}, inc_slug),
    )
    static = resources.files("witnessbox.publish").joinpath("static")
    for f in sorted(static.iterdir(), key=lambda p: p.name):
        if f.name.endswith((".css", ".js")):
            w.put_if_changed(f"static/{f.name}", f.read_bytes())
    return (*gate.left_out, *failed)


def _repr_fp(*parts: Any) -> str:
    """Like :func:`.site.fingerprint` for views made only of frozen dataclasses, tuples, lists,
    dicts (built in a fixed key order) and text: their ``repr`` is stable and several times
    faster than JSON of ``asdict``."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _chart_fp(chart: Chart | None) -> Any:
    return None if chart is None else chart.fingerprint()


def _write_unit_pages(
    w: _Writer, r: Renderer, tpl: str, pub: PublishedUnits, views: Mapping[str, UnitView],
    summaries: Mapping[str, IncidentView], listed: Mapping[str, Mapping[str, Any]], by_id: Mapping[str, Incident],
    region_views: Sequence[RegionView], chart_title: str, progress: Progress | None,
) -> None:
    """One page per published unit and the units index; each rewritten only when its inputs changed."""
    order = sorted(views.values(), key=lambda v: (v.name.casefold(), v.slug))
    for n, v in enumerate(order):
        ids = sorted(pub.incidents.get(v.slug, ()), key=lambda i: (by_id[i].time.sort_key(), i), reverse=True)
        incs = [summaries[i] for i in ids]
        chart = r.chart([by_id[i] for i in ids], "unit-chart", chart_title)
        w.put_fp(v.url, _repr_fp(tpl, v, [listed[i] for i in ids], _chart_fp(chart)),
                 functools.partial(r.unit_page, v, incs, chart))
        if progress and (n % 100 == 0 or n + 1 == len(order)):
            progress("unit pages", n + 1, len(order))
    used = list(dict.fromkeys(v.kind_slug for v in order))
    kinds = [CatView(k, next(v.kind for v in order if v.kind_slug == k)) for k in used]
    kinds.sort(key=lambda c: c.label.casefold())
    regions = [rv for rv in region_views if any(rv.slug in v.region_slugs for v in order)]
    w.put_fp(UNITS_INDEX, _repr_fp(tpl, order, kinds, regions), lambda: r.units_index_page(order, kinds, regions))


def _write_manifest(w: _Writer) -> None:
    files = sorted(w.new.files)
    # Paths are our own ([A-Za-z0-9._/-] only, checked here), so plain formatting is valid JSON.
    if not all(_SAFE_PATH.fullmatch(p) for p in files):
        raise PublishError("an output path has characters outside [A-Za-z0-9._/-]")
    entries = ",\n".join(f'{{"path": "{p}", "sha256": "{w.new.files[p]}", "size": {w.new.sizes[p]}}}' for p in files)
    head = json.dumps({"algorithm": "sha256", "format": SITE_FORMAT})[:-1]
    w.put_if_changed(MANIFEST, f'{head}, "files": [\n{entries}\n]}}\n'.encode())
    sums = "".join(f"{w.new.files[p]}  {p}\n" for p in files)
    w.put_if_changed(SUMS, sums.encode())


def read_manifest(outdir: Path) -> dict[str, str]:
    """Path -> sha256 of every file the manifest of a built site lists.

    Raises:
        PublishError: the manifest is missing or unreadable.
    """
    try:
        data = json.loads((outdir / MANIFEST).read_bytes())
        return {f["path"]: f["sha256"] for f in data["files"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PublishError(f"no readable manifest in {outdir}: {e}") from e


def verify_site(outdir: Path) -> list[str]:
    """Problems found when checking every file of a built site against its manifest (empty: fine)."""
    listed = read_manifest(outdir)
    problems = []
    present = {
        p.relative_to(outdir).as_posix()
        for p in outdir.rglob("*")
        if p.is_file() and p.name not in (MANIFEST, SUMS, STATE_FILE, DIRTY_FILE)
    }
    for rel in sorted(present - set(listed)):
        problems.append(f"{rel}: not in the manifest")
    for rel, sha in sorted(listed.items()):
        p = outdir / rel
        if not p.is_file():
            problems.append(f"{rel}: missing")
        elif hashlib.sha256(p.read_bytes()).hexdigest() != sha:
            problems.append(f"{rel}: sha256 differs from the manifest")
    return problems
