"""Sealing: walking the inputs, one item at a time, in commit order; and extraction.

Commit order per item (the lock held): intent marker, blob (hard link from staging),
sensitive metadata, sidecars, record signature, record, log entry (commit point), marker
removed. On object storage the marker is an object too, and the archive's advisory lock is
checked right before the log entry. See ``_recovery.py`` for recovery.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import config
from .._fsutil import atomic_write, sha256_file
from ..errors import ArchiveError, InputError, IntegrityError, LockLostError, UsageError, WitnessboxError
from ..ledger.canonical import canonical_bytes, sha256_hex, utc_now
from ..ledger.records import Derivation, ItemRecord, MediaInfo, SensitiveRef
from ..ledger.store import Staged, decrypt_stream
from ..media import proofmode
from ..media.probe import ProbeResult, probe
from ._recovery import clear_marker, write_marker
from ._reports import AddReport, Duplicate, Failure, ProofModeImport, Progress

if TYPE_CHECKING:
    from ._fanout import Prepared, Prestaged
    from .core import Workspace

_SIDECAR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
_MAX_FIELD = 2000


def display(path: Path | str) -> str:
    """A file name safe to print on one line: control characters and undecodable bytes escaped."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _name_fields(path: Path) -> tuple[str, str | None]:
    raw = os.fsencode(path.name)
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), base64.b64encode(raw).decode("ascii")


def _os_error(path: Path, e: OSError) -> InputError:
    reason = {
        errno.ENOENT: "no such file or folder",
        errno.EACCES: "permission denied",
        errno.ELOOP: "symbolic link loop",
        errno.ENAMETOOLONG: "name too long",
        errno.EISDIR: "is a folder",
        errno.EIO: "input/output error",
    }.get(e.errno or 0, e.strerror or str(e))
    return InputError(f"{display(path)}: {reason}; not sealed")


def _walk(paths: Iterable[Path | str], report: AddReport, archive: Path) -> Iterator[Path]:
    archive_real = archive.resolve()
    for given in paths:
        p = Path(given)
        try:
            st = p.stat()
        except OSError as e:
            report.failed.append(Failure(display(p), _os_error(p, e).message))
            continue
        if stat.S_ISDIR(st.st_mode):
            real = p.resolve()
            if real == archive_real or archive_real in real.parents or real in archive_real.parents:
                report.failed.append(Failure(display(p), f"{display(p)}: contains or is inside the archive; not sealed"))
                continue

            def _onerror(e: OSError) -> None:
                fn = Path(e.filename) if e.filename else p
                report.failed.append(Failure(display(fn), _os_error(fn, e).message))

            for dirpath, dirnames, filenames in os.walk(p, onerror=_onerror, followlinks=False):
                d = Path(dirpath)
                dirnames.sort()
                for dn in list(dirnames):
                    if (d / dn).is_symlink():
                        report.skipped.append(Failure(display(d / dn), "symbolic link to a folder: not followed"))
                        dirnames.remove(dn)
                for fn in sorted(filenames):
                    yield d / fn
        else:
            yield p


def _open_regular(path: Path) -> tuple[io.BufferedReader, os.stat_result]:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError(f"{display(path)}: not a regular file (a device, pipe or socket); not sealed")
        # O_NONBLOCK: a file swapped for a pipe after the check must not hang the batch.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise _os_error(path, e) from e
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError(f"{display(path)}: not a regular file (a device, pipe or socket); not sealed")
    os.set_blocking(fd, True)
    f = os.fdopen(fd, "rb")
    if st.st_size == 0:
        f.close()
        raise InputError(f"{display(path)}: zero-byte file; not sealed")
    return f, st


def _check_field(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > _MAX_FIELD:
        raise UsageError(f"--{name.replace('_', '-')} is longer than {_MAX_FIELD} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UsageError(f"--{name.replace('_', '-')} is not valid text") from e
    return value


def _media_info(p: ProbeResult) -> MediaInfo:
    return MediaInfo(
        kind=p.kind, container=p.container, width=p.width, height=p.height, duration_s=p.duration_s,
        rotation=p.rotation, codecs=p.codecs, camera_make=p.camera_make, camera_model=p.camera_model,
        capture_time=p.capture_time, tags=dict(p.tags), warnings=p.warnings + ((p.problem,) if p.problem else ()),
    )


def _probe(path: Path, allow_damaged: bool) -> ProbeResult:
    try:
        result = probe(path)
    except OSError as e:
        raise _os_error(path, e) from e
    if result.problem and not allow_damaged:
        raise InputError(f"{display(path)}: {result.problem}; not sealed (use --allow-damaged to seal it as is)")
    if result.problem:
        # Keep only what identifies the type: nothing extracted from a damaged file is trusted.
        return ProbeResult(result.media_type, result.kind, warnings=result.warnings, problem=result.problem)
    return result


def _is_sealed(ws: Workspace, sha256: str) -> bool:
    """Whether the custody log seals ``sha256`` (lock held): a record file alone is not proof,
    as one nobody logged would turn new evidence into a "duplicate" that is never stored."""
    if not ws.record_path(sha256).exists() or (ws.root / "pending" / f"{sha256}.json").exists():
        return False
    try:
        ws._sync_index()
        with ws.engine.connect() as c:
            row = c.execute(sa.text("SELECT 1 FROM items WHERE sha256 = :s"), {"s": sha256}).first()
    except (sa.exc.SQLAlchemyError, OSError, WitnessboxError):
        return True  # index unusable: the record's presence decides
    return row is not None


def _log_duplicate(ws: Workspace, sha256: str, path: Path, fields: Mapping[str, Any]) -> None:
    name, _ = _name_fields(path)
    details = {"name": name, **{k: v for k, v in fields.items() if v is not None}}
    ws.log_store.append("receive-duplicate", config.actor(), [sha256], details)


def _seal_staged(
    ws: Workspace,
    staged: Staged,
    path: Path,
    result: ProbeResult,
    fields: Mapping[str, str | None],
    *,
    parent: str | None = None,
    derivation: Derivation | None = None,
    sidecars: Mapping[str, Path] | None = None,
) -> ItemRecord:
    """Commit a staged blob as a new item (lock held, sha256 not yet sealed)."""
    sha = staged.sha256
    sens = result.sensitive_json()
    sens_bytes = canonical_bytes(sens) if sens else None
    side_files: dict[str, bytes] = {}
    for sname, spath in (sidecars or {}).items():
        try:
            side_files[sname] = Path(spath).read_bytes()
        except OSError as e:
            raise _os_error(Path(spath), e) from e
    rec_path = ws.record_path(sha)
    sig_path = rec_path.with_name(rec_path.name + ".sig")
    meta_path = ws.meta_path(sha)
    side_dir = ws.sidecar_dir(sha)
    files = [sig_path, rec_path, meta_path, ws.store.blob_path(sha), *(side_dir / n for n in side_files)]
    seq = ws.log_store.size()
    marker = write_marker(ws, sha, "item", sha, seq, files)
    ws.store.commit(staged, replace_orphan=True)  # not sealed (checked under the lock)
    sensitive_ref = None
    if sens_bytes is not None:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        ws._store_file(meta_path, ws.store.encrypt_bytes(sens_bytes))
        sensitive_ref = SensitiveRef(sha256_hex(sens_bytes), tuple(sorted(sens or {})))
    if side_files:
        side_dir.mkdir(parents=True, exist_ok=True)
        for sname, data in side_files.items():
            ws._store_file(side_dir / sname, data)
    name, name_b64 = _name_fields(path)
    record = ItemRecord(
        sha256=sha, sha512=staged.sha512, size=staged.size, media_type=result.media_type, name=name,
        name_bytes_b64=name_b64, received_at=utc_now(), tool=_tool(), encrypted=ws.encrypted,
        source=fields.get("source"), note=fields.get("note"), captured_at=fields.get("captured_at"),
        place=fields.get("place"), metadata=_media_info(result), sensitive=sensitive_ref, parent=parent,
        derivation=derivation, sidecars={n: sha256_hex(d) for n, d in sorted(side_files.items())},
    )
    data = canonical_bytes(record.to_json())
    rec_path.parent.mkdir(parents=True, exist_ok=True)
    ws._store_file(sig_path, ws._signing_key().sign(data))
    ws._store_file(rec_path, data)
    action = "derive" if parent else "add"
    objects = [sha, parent] if parent else [sha]
    details: dict[str, Any] = {"record_sha256": sha256_hex(data), "name": name}
    if derivation is not None:
        details.update(kind=derivation.kind, method=derivation.method)
    ws._check_lock()
    ws.log_store.append(action, config.actor(), objects, details)
    clear_marker(ws, marker)
    ws._records[sha] = record
    return record


def _tool() -> str:
    from .core import TOOL

    return TOOL


def _stage(ws: Workspace, f: io.BufferedReader, path: Path, progress: Progress | None, total: int | None) -> Staged:
    label = display(path.name)
    cb = (lambda n: progress(n, total, label)) if progress is not None else None
    try:
        return ws.store.stage(f, progress=cb, size_hint=os.fstat(f.fileno()).st_size)
    except OSError as e:
        raise _os_error(path, e) from e


def add_files(
    ws: Workspace,
    paths: Iterable[Path | str],
    *,
    source: str | None,
    note: str | None,
    captured_at: str | None,
    place: str | None,
    allow_damaged: bool,
    progress: Progress | None,
) -> AddReport:
    fields = {
        "source": _check_field("source", source),
        "note": _check_field("note", note),
        "captured_at": _check_field("captured_at", captured_at),
        "place": _check_field("place", place),
    }
    ws._signing_key()  # wrong passphrase: fail before anything is written
    report = AddReport()
    files = list(_walk(paths, report, ws.root))
    total = 0
    for p in files:
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    batch = _Batch(ws, fields, allow_damaged, progress, total, report)
    with ws.transaction():
        from . import _fanout

        executor = _fanout.remote_executor()
        # On a cluster, workers stage and fingerprint each file; the driver commits in order.
        batch.pre = _fanout.prestage(ws, executor, files, allow_damaged) if executor is not None else None
        try:
            batch.add_all(files, {}, unzip=True)
        finally:
            if batch.pre is not None:
                batch.pre.close()
    report.warnings.extend(ws.take_warnings())
    return report


class _Batch:
    """One ``add`` run: media first, each with the ProofMode bundle found beside it; then the
    proof-looking files no bundle claimed (sealed as ordinary items: nothing is dropped)."""

    def __init__(self, ws: Workspace, fields: Mapping[str, str | None], allow_damaged: bool,
                 progress: Progress | None, total: int, report: AddReport) -> None:
        self.ws, self.fields, self.allow_damaged = ws, fields, allow_damaged
        self.progress, self.total, self.report = progress, total, report
        self.pre: Prestaged | None = None

    def add_all(self, files: list[Path], labels: Mapping[Path, str], *, unzip: bool) -> None:
        proofs = [p for p in files if proofmode.is_proof_file(p)]
        proof_set = set(proofs)
        proof_dirs = {os.path.abspath(p.parent) for p in proofs}
        claimed: set[str] = set()
        for p in files:
            if p in proof_set:
                continue
            label = labels.get(p) or display(p)
            if unzip and p.suffix.lower() == ".zip" and proofmode.is_proofmode_zip(p):
                self._add_zip(p, label)
                continue
            sha = self._add_guarded(p, label)
            # A failed file is hashed again only where proof files wait for their media.
            if sha is not None or os.path.abspath(p.parent) in proof_dirs:
                claimed |= self._proofs(p, sha, label)
        for p in proofs:
            if os.path.abspath(p) not in claimed:
                self._add_guarded(p, labels.get(p) or display(p))

    def _add_guarded(self, p: Path, label: str) -> str | None:
        """Seal one file; return its sha256 (new or duplicate), or None when it failed."""
        try:
            pre = self.pre.take(p) if self.pre is not None else None
            return _add_one(self.ws, p, self.fields, self.allow_damaged, self.progress, self.total, self.report, label,
                            prepared=pre)
        except InputError as e:
            self.report.failed.append(Failure(label, e.message))
        except LockLostError:
            raise  # another writer may own the archive now: no recovery, no further file
        except ArchiveError as e:
            # Disk full and the like: this file is rolled back by the next recovery.
            self.report.failed.append(Failure(label, f"{label}: {e.message}"))
            self.ws._recover()
        return None

    def _proofs(self, media: Path, sha: str | None, label: str) -> set[str]:
        """Keep the bundle beside ``media`` (if any) as sidecars and log its check; return the
        paths of its proof files (claimed even when the media failed, so that they wait for
        the media instead of becoming items of their own)."""
        try:
            bundle = proofmode.find_bundle(media, sha256=sha)
        except OSError:
            return set()
        if bundle is None:
            return set()
        claimed = {os.path.abspath(f) for f in bundle.files.values()}
        if sha is None:
            return claimed
        try:
            check = proofmode.import_bundle(self.ws, sha, bundle)
        except (WitnessboxError, OSError) as e:
            msg = e.message if isinstance(e, WitnessboxError) else (e.strerror or str(e))
            self.report.warnings.append(f"{label}: ProofMode proof files not kept ({msg}); add the folder again")
            return claimed
        self.report.proofmode.append(ProofModeImport(sha, label, check.sidecars, check))
        if not check.ok:
            self.report.warnings.append(f"{label}: ProofMode proofs do not verify: {'; '.join(check.problems)}")
        return claimed

    def _add_zip(self, z: Path, label: str) -> None:
        """Unpack a ProofMode zip under the archive's ``tmp/`` (``plain-<pid>-``: recovery
        removes it after a crash), seal its media with their bundles, log the zip's hash."""
        ws = self.ws
        dest = ws.root / "tmp" / f"plain-{os.getpid()}-proofmode-{uuid.uuid4().hex[:12]}"
        try:
            try:
                proofmode.extract_zip(z, dest)
                digest = sha256_file(z)
            except InputError as e:
                self.report.failed.append(Failure(label, e.message))
                return
            except OSError as e:
                self.report.failed.append(Failure(label, _os_error(z, e).message))
                return
            members = sorted(dest.iterdir())
            n_added, n_dup = len(self.report.added), len(self.report.duplicates)
            self.add_all(members, {m: f"{label}:{display(m.name)}" for m in members}, unzip=False)
            got = sorted({r.sha256 for r in self.report.added[n_added:]} | {d.sha256 for d in self.report.duplicates[n_dup:]})
            name, _ = _name_fields(z)
            ws.log_action("proofmode-unzip", got, {"name": name, "sha256": digest, "members": [m.name for m in members]})
        finally:
            shutil.rmtree(dest, ignore_errors=True)


def _add_one(
    ws: Workspace, p: Path, fields: Mapping[str, str | None], allow_damaged: bool,
    progress: Progress | None, total: int, report: AddReport, label: str | None = None,
    prepared: Prepared | None = None,
) -> str:
    if prepared is None:
        f, _st = _open_regular(p)
        with f:
            result = _probe(p, allow_damaged)
            staged = _stage(ws, f, p, progress, total)
    else:  # staged by a worker (_fanout)
        staged, result = prepared.unwrap()
        if progress is not None:
            progress(staged.size, total, display(p.name))
    try:
        if _is_sealed(ws, staged.sha256):
            _log_duplicate(ws, staged.sha256, p, fields)
            report.duplicates.append(Duplicate(staged.sha256, _name_fields(p)[0], label or display(p)))
            return staged.sha256
        record = _seal_staged(ws, staged, p, result, fields)
    finally:
        ws.store.discard(staged)
    report.added.append(record)
    computed = None if prepared is None else (
        prepared.fingerprints if prepared.fingerprints is not None else prepared.fingerprint_error)
    ws._after_seal(record, p, computed)
    return record.sha256


def add_derivative(
    ws: Workspace, parent_sha256: str, path: Path, *, kind: str, method: str,
    sidecars: Mapping[str, Path], note: str | None,
) -> ItemRecord:
    parent = ws.resolve(parent_sha256)
    for sname in sidecars:
        if not _SIDECAR_NAME.fullmatch(sname) or ".." in sname:
            raise InputError(f"sidecar name {sname!r} is not a safe file name")
    if not kind or not method:
        raise UsageError("a derivative needs a kind and a method")
    ws._signing_key()
    with ws.transaction():
        f, _ = _open_regular(path)
        with f:
            result = _probe(path, False)
            staged = _stage(ws, f, path, None, None)
        try:
            if _is_sealed(ws, staged.sha256):
                _log_duplicate(ws, staged.sha256, path, {"note": note, "parent": parent})
                return ws._load_record(staged.sha256)
            record = _seal_staged(
                ws, staged, path, result, {"note": _check_field("note", note)},
                parent=parent, derivation=Derivation(kind, method), sidecars=sidecars,
            )
        finally:
            ws.store.discard(staged)
    ws._after_seal(record, path)
    return record


def attach_sidecar(ws: Workspace, sha256: str, name: str, data: bytes) -> Path:
    if not _SIDECAR_NAME.fullmatch(name) or ".." in name:
        raise UsageError(f"sidecar name {name!r} is not a safe file name")
    ws._signing_key()
    with ws.transaction():
        d = ws.sidecar_dir(sha256)
        target = d / name
        if target.exists():
            raise UsageError(f"item {sha256[:12]} already has a sidecar named {name}")
        seq = ws.log_store.size()
        marker = write_marker(ws, f"attach-{sha256}-{name}", "attach", sha256, seq, [target], {"name": name})
        d.mkdir(parents=True, exist_ok=True)
        ws._store_file(target, data)
        ws._check_lock()
        ws.log_store.append("attach", config.actor(), [sha256], {"name": name, "sha256": sha256_hex(data)})
        clear_marker(ws, marker)
    return target


class _HashingWriter(io.RawIOBase):
    def __init__(self, out: Any) -> None:
        self.out = out
        self.h = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.h.update(b)
        self.out.write(b)
        return len(b)


def extract_item(ws: Workspace, sha256: str, out: Path, *, overwrite: bool) -> Path:
    record = ws._load_record(sha256)
    root = ws.root.resolve()
    where = out.resolve()
    if where == root or root in where.parents:
        # Plaintext there defeats encryption at rest; with --overwrite it could replace a blob.
        raise UsageError(f"{display(out)} is inside the archive: extract to a folder outside it")
    if out.is_dir():
        safe = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in record.name).strip()
        out = out / (safe if safe not in ("", ".", "..") else sha256)
    if out.exists() and not overwrite:
        raise UsageError(f"{display(out)} already exists: choose another path or remove it")
    identity = ws._identity()
    ws._signing_key()
    if not out.parent.is_dir():
        raise UsageError(f"folder {display(out.parent)} does not exist")
    try:
        with atomic_write(out, "wb", file_mode=0o600, overwrite=overwrite) as f:
            w = _HashingWriter(f)
            with ws.store.open_blob(sha256) as src:
                if identity is None:
                    while chunk := src.read(1 << 20):
                        w.write(chunk)
                else:
                    decrypt_stream(src, w, identity, what=f"original {sha256}")
            if w.h.hexdigest() != sha256:
                raise IntegrityError(f"original {sha256} does not match its sha256: nothing extracted")
            # Logged before the rename: a plaintext copy never exists without its log entry
            # (an entry whose rename then failed over-reports, which is the safe side).
            if ws.read_only:
                # A read-only copy (handed to a lawyer, on a DVD) cannot record anything; the
                # original's own log keeps its custody. Reading it must still be possible.
                ws._warnings.append("the archive is read-only: this extraction is not recorded in its custody log")
            else:
                ws.log_action("extract", [sha256], {"to_name": _name_fields(out)[0]})
    except FileExistsError as e:
        raise UsageError(f"{display(out)} already exists: choose another path or remove it") from e
    except FileNotFoundError as e:
        raise IntegrityError(f"original {sha256} is missing from the archive") from e
    return out

