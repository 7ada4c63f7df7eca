"""ProofMode proof bundles: recognise them beside a media file and check their OpenPGP signatures.

ProofMode (Guardian Project) writes, for each photo or video, a set of proof files named
after the media's SHA-256 ``H`` (older versions: after the media's file name ``M``):

- ``H.proof.json`` / ``H.proof.csv``: the proof metadata (it includes ``File Hash SHA256``);
- ``H.asc``: a detached OpenPGP signature over the media bytes;
- ``H.proof.json.asc`` / ``H.proof.csv.asc``: signatures over the proof files;
- ``pubkey.asc``: the device's OpenPGP public key;
- optional ``H.ots`` (OpenTimestamps), ``H.gst`` (SafetyNet), ``H.nostr``, ``H.c2pa``.

witnessbox keeps every proof file unchanged as a sidecar of the item (proof metadata may
hold the device's location: it is evidence for a court, never published) and records the
outcome of :func:`verify_bundle`. OpenPGP is checked with PGPy; when PGPy cannot read a
key or signature and ``gpg`` is on the PATH, with ``gpg`` in a throw-away home folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import warnings
import zipfile
import zlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from .._fsutil import sha256_file

PUBKEY = "pubkey.asc"
#: Suffixes after ``H`` or ``M`` that ProofMode writes (longest first, for matching).
PROOF_SUFFIXES = (
    ".proof.json.asc",
    ".proof.csv.asc",
    ".proof.json",
    ".proof.csv",
    ".nostr",
    ".c2pa",
    ".asc",
    ".ots",
    ".gst",
)
_HASH_FIELDS = ("File Hash SHA256", "FileHashSHA256", "file_hash_sha256")

VALID, INVALID, MISSING, UNCHECKED = "valid", "invalid", "missing", "unchecked"


@dataclass(frozen=True)
class ProofBundle:
    """The proof files found for one media file."""

    media: Path
    sha256: str
    files: Mapping[str, Path]  # sidecar name (as in the bundle) -> path

    @property
    def sidecar_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.files))


@dataclass(frozen=True)
class ProofCheck:
    """Outcome of checking a bundle; ``ok`` only when every present signature is valid,
    the media signature is present, and the proof names this media's hash."""

    ok: bool
    method: str  # "pgpy" | "gpg" | "none"
    signer_fingerprint: str | None
    media_signature: str  # valid | invalid | missing | unchecked
    proof_signatures: Mapping[str, str] = field(default_factory=dict)  # proof file -> status
    proof_names_this_media: bool | None = None
    problems: tuple[str, ...] = ()
    #: Sidecar names the bundle's files are kept under (set by :func:`import_bundle`).
    sidecars: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The dict witnessbox records (in the custody log and the item's details)."""
        return {
            "format": "witnessbox-proofmode-check/1",
            "ok": self.ok,
            "method": self.method,
            "signer_fingerprint": self.signer_fingerprint,
            "media_signature": self.media_signature,
            "proof_signatures": dict(sorted(self.proof_signatures.items())),
            "proof_names_this_media": self.proof_names_this_media,
            "problems": list(self.problems),
        }


def is_proof_file(path: Path) -> bool:
    """Whether ``path`` looks like a ProofMode proof file (so a folder scan should not seal it
    as an item of its own, but as a sidecar of its media)."""
    name = Path(path).name
    return name == PUBKEY or any(name.endswith(s) and len(name) > len(s) for s in PROOF_SUFFIXES)


def find_bundle(media: Path, sha256: str | None = None) -> ProofBundle | None:
    """Look beside ``media`` for its ProofMode proof files.

    Args:
        media: The media file.
        sha256: Its SHA-256 when already known (saves a read).

    Returns:
        The bundle, or None when no proof file names this media (by hash or by name).
    """
    media = Path(media)
    if is_proof_file(media):
        return None
    digest = sha256 or sha256_file(media)
    folder = media.parent
    files: dict[str, Path] = {}
    for stem in (digest, media.name):
        for suffix in PROOF_SUFFIXES:
            p = folder / (stem + suffix)
            if p.is_file() and p.name not in files:
                files[p.name] = p
    if not files:
        return None
    if (folder / PUBKEY).is_file():
        files[PUBKEY] = folder / PUBKEY
    return ProofBundle(media=media, sha256=digest, files=files)


def _proof_hashes(name: str, data: bytes) -> set[str]:
    """The media hashes a proof file states (JSON object, or CSV with a header row)."""
    found: set[str] = set()
    text = data.decode("utf-8", "replace")
    rows: list[Mapping[str, Any]] = []
    if name.endswith(".json"):
        try:
            v = json.loads(text)
        except ValueError:
            return found
        rows = [v] if isinstance(v, dict) else [r for r in v if isinstance(r, dict)] if isinstance(v, list) else []
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    for r in rows:
        for f in _HASH_FIELDS:
            val = r.get(f)
            if isinstance(val, str) and val.strip():
                found.add(val.strip().lower())
    return found


class _PGPy:
    name = "pgpy"

    def __init__(self, pubkey_armored: bytes) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgpy

            self._pgpy = pgpy
            self.key, _ = pgpy.PGPKey.from_blob(pubkey_armored.decode("ascii"))
        self.fingerprint = str(self.key.fingerprint).replace(" ", "")

    def verify(self, data: bytes, sig_armored: bytes) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sig = self._pgpy.PGPSignature.from_blob(sig_armored.decode("ascii"))
            try:
                return bool(self.key.verify(data, sig))
            except self._pgpy.errors.PGPError:
                return False


class _Gpg:
    name = "gpg"

    def __init__(self, gpg: str, pubkey_armored: bytes, home: Path) -> None:
        self._gpg, self._home = gpg, home
        env = dict(os.environ, GNUPGHOME=str(home))
        self._env = env
        proc = subprocess.run([gpg, "--batch", "--import"], input=pubkey_armored, env=env, capture_output=True, timeout=60)
        if proc.returncode != 0:
            raise ValueError("gpg cannot import pubkey.asc")
        out = subprocess.run([gpg, "--batch", "--with-colons", "--fingerprint"], env=env, capture_output=True, text=True, timeout=60).stdout
        self.fingerprint = next((ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:")), None)

    def verify(self, data: bytes, sig_armored: bytes) -> bool:
        with tempfile.TemporaryDirectory(dir=self._home) as tmp:
            d, s = Path(tmp) / "data", Path(tmp) / "data.asc"
            d.write_bytes(data)
            s.write_bytes(sig_armored)
            proc = subprocess.run([self._gpg, "--batch", "--status-fd", "1", "--verify", str(s), str(d)], env=self._env, capture_output=True, text=True, timeout=60)
        return proc.returncode == 0 and "[GNUPG:] GOODSIG" in proc.stdout


def verify_bundle(bundle: ProofBundle, *, use_gpg: bool | None = None) -> ProofCheck:
    """Check a bundle's OpenPGP signatures and that its proof names this media's hash.

    Args:
        bundle: From :func:`find_bundle`.
        use_gpg: True forces ``gpg``; False forbids it; None uses PGPy and falls back to
            ``gpg`` (when on the PATH) if PGPy cannot read the key or a signature.

    Returns:
        The outcome (never raises for a bad bundle: a failed check is a recorded fact).
    """
    files = bundle.files
    problems: list[str] = []
    if PUBKEY not in files:
        return ProofCheck(False, "none", None, UNCHECKED, {}, None, ("no pubkey.asc beside the proof files",))
    pub = files[PUBKEY].read_bytes()
    with tempfile.TemporaryDirectory(prefix="witnessbox-gpg-") as home:
        verifier: _PGPy | _Gpg | None = None
        gpg = shutil.which("gpg")
        if use_gpg is not True:
            try:
                verifier = _PGPy(pub)
            except Exception as e:  # PGPy raises many types for keys it cannot parse
                problems.append(f"PGPy cannot read pubkey.asc ({type(e).__name__})")
        if verifier is None and use_gpg is not False and gpg:
            try:
                verifier = _Gpg(gpg, pub, Path(home))
            except (ValueError, OSError, subprocess.SubprocessError) as e:
                problems.append(str(e))
        if verifier is None:
            return ProofCheck(False, "none", None, UNCHECKED, {}, None, tuple(problems or ["no OpenPGP verifier available"]))

        def check(target: Path, sig_name: str) -> str:
            sig = files.get(sig_name)
            if sig is None:
                return MISSING
            try:
                return VALID if verifier.verify(target.read_bytes(), sig.read_bytes()) else INVALID
            except Exception as e:  # a malformed signature is an invalid one, and says why
                problems.append(f"{sig_name}: unreadable signature ({type(e).__name__})")
                return INVALID

        media_sig = MISSING
        for stem in (bundle.sha256, bundle.media.name):
            if stem + ".asc" in files:
                media_sig = check(bundle.media, stem + ".asc")
                break
        proof_sigs: dict[str, str] = {}
        stated: set[str] = set()
        for name, path in files.items():
            if name.endswith((".proof.json", ".proof.csv")):
                proof_sigs[name] = check(path, name + ".asc")
                stated |= _proof_hashes(name, path.read_bytes())
        names_media = (bundle.sha256 in stated) if stated else None
        if media_sig != VALID:
            problems.append(f"media signature {media_sig}")
        problems.extend(f"{n} signature {s}" for n, s in sorted(proof_sigs.items()) if s != VALID)
        if names_media is False:
            problems.append("the proof names another file's hash")
        ok = media_sig == VALID and all(s == VALID for s in proof_sigs.values()) and names_media is not False
        return ProofCheck(ok, verifier.name, verifier.fingerprint, media_sig, proof_sigs, names_media, tuple(problems))


class _Archive(Protocol):
    """What :func:`import_bundle` needs of an archive (``Workspace`` has it)."""

    def sidecars(self, sha256: str) -> dict[str, Path]: ...

    def attach_sidecar(self, sha256: str, name: str, data: bytes) -> Path: ...

    def log_action(self, action: str, objects: Iterable[str], details: Mapping[str, Any] | None = None) -> Any: ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def sidecar_name(name: str) -> str:
    """The archive-safe sidecar name for a proof file name (contents never change)."""
    safe = _UNSAFE.sub("_", name).lstrip("._-+") or "proof"
    return safe[:200]


def import_bundle(archive: _Archive, sha256: str, bundle: ProofBundle, *, use_gpg: bool | None = None) -> ProofCheck:
    """Keep every proof file as a sidecar of the sealed item and log the signature check.

    Idempotent: files already attached with the same name and bytes are not attached again;
    a different file under a name already taken is kept as ``<sha256[:12]>-<name>``. The
    outcome is logged as action ``proofmode-check`` with :meth:`ProofCheck.to_json` details,
    whatever it is (a failed check is evidence too).

    Raises:
        UsageError, NotFoundError, PassphraseError: From the archive.
    """
    have = archive.sidecars(sha256)
    kept: list[str] = []
    for name in bundle.sidecar_names:
        data = bundle.files[name].read_bytes()
        target = sidecar_name(name)
        if target in have and have[target].read_bytes() != data:
            # Another file of the same name came earlier (a new pubkey.asc...): keep both, so
            # the check logged below always refers to files the archive holds.
            target = sidecar_name(f"{hashlib.sha256(data).hexdigest()[:12]}-{name}")
        if target not in have:
            archive.attach_sidecar(sha256, target, data)
        kept.append(target)
    check = verify_bundle(bundle, use_gpg=use_gpg)
    details = check.to_json()
    details["files"] = sorted(kept)
    archive.log_action("proofmode-check", [sha256], details)
    return replace(check, sidecars=tuple(sorted(kept)))


_ZIP_MAX_BYTES = 8 * 1024**3


def is_proofmode_zip(path: Path) -> bool:
    """Whether ``path`` is a zip exported by ProofMode (it holds ``pubkey.asc`` and proof files)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [Path(n).name for n in zf.namelist()]
    except (OSError, zipfile.BadZipFile):
        return False
    return PUBKEY in names and any(n.endswith((".proof.json", ".proof.csv")) for n in names)


def extract_zip(path: Path, dest: Path) -> list[Path]:
    """Unpack a ProofMode zip into the new folder ``dest``; return its media files.

    Members are flattened to their base names (ProofMode zips are flat); links, names that
    would leave ``dest``, duplicates and archives larger than 8 GiB are refused.

    Raises:
        InputError: Not a ProofMode zip, or an unsafe one.
    """
    from ..errors import InputError

    if not is_proofmode_zip(path):
        raise InputError(f"{path} is not a ProofMode zip (no pubkey.asc with proof files)")
    dest.mkdir(parents=True)
    try:
        return _unpack(path, dest)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        # A flipped byte or a truncated download: a bad input like any other, reported by
        # name; nothing from this zip is sealed (its proofs would not match anyway).
        raise InputError(f"{path}: damaged ProofMode zip ({e}); nothing from it was sealed: get a fresh copy") from e


def _unpack(path: Path, dest: Path) -> list[Path]:
    from ..errors import InputError

    media: list[Path] = []
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > _ZIP_MAX_BYTES:
            raise InputError(f"{path} unpacks to more than 8 GiB")
        seen: set[str] = set()
        for info in infos:
            name = Path(info.filename).name
            if (info.external_attr >> 16) & 0o170000 == 0o120000 or not name or name in (".", "..") or name in seen:
                raise InputError(f"{path} holds an unsafe or duplicate member {info.filename!r}")
            seen.add(name)
            with zf.open(info) as src, open(dest / name, "xb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            if not is_proof_file(dest / name):
                media.append(dest / name)
    return sorted(media)
