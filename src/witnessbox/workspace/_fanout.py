"""The per-file compute of ``add`` and ``verify``, fanned out over an executor (Ray).

``add``: a worker opens one input, probes it, reads it once to hash (SHA-256, SHA-512) and
age-encrypt it into a staging file in the archive's ``tmp/`` (with the archive's *public*
recipient only), and fingerprints it; the driver, under the archive lock, commits the staged
results in input order exactly as a local run does (marker, blob, record, log entry).

``verify``: the driver opens each blob's age header with the archive identity and hands a
worker that blob's file key only (a 16-byte key that opens that one blob); the worker reads
the ciphertext, decrypts and re-hashes it. A blob a worker cannot check is checked again in the
driver, so every problem is named with exactly the words of a local run.

Workers never see the archive identity, the signing key or the passphrase, and never write
the custody log or the catalog. They read inputs and the archive at the same paths as the
driver (one machine, or a shared filesystem mounted at the same path on every node).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyrage

from ..errors import ArchiveError, InputError
from ..executor import Executor, executor_from_env
from ..ledger import agestream
from ..ledger.store import ContentStore, FolderBlobs, Staged
from ..media import proofmode
from ..media.probe import ProbeResult

if TYPE_CHECKING:
    from ..trace import Fingerprints
    from .core import Workspace

def remote_executor() -> Executor | None:
    """The executor ``$WITNESSBOX_EXECUTOR`` names, or None for the local one."""
    executor = executor_from_env()
    return None if executor.name == "local" else executor


def _no_state() -> None:
    return None


def close(results: Iterator[object] | None) -> None:
    """Stop the workers behind an ``imap`` iterator (no-op for None or a plain iterator)."""
    stop = getattr(results, "close", None)
    if stop is not None:
        stop()


# -- add -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What a worker made of one input: a staged blob, its probe and fingerprints; or the
    one-line error a local run would have raised (``archive``: an ArchiveError, else InputError)."""

    staged: Staged | None
    probe: ProbeResult | None
    fingerprints: Fingerprints | None = None
    fingerprint_error: str | None = None
    error: str | None = None
    archive: bool = False

    def unwrap(self) -> tuple[Staged, ProbeResult]:
        """Raises: InputError, ArchiveError: as the local run would have."""
        if self.error is not None or self.staged is None or self.probe is None:
            message = self.error or "not staged"
            raise ArchiveError(message) if self.archive else InputError(message)
        return self.staged, self.probe


@dataclass(frozen=True)
class _PrepareJob:
    path: Path
    root: Path
    recipient: str | None  # the archive's public age recipient; None: --no-encryption
    allow_damaged: bool


def _prepare_task(_state: None, job: _PrepareJob) -> Prepared:
    """Worker: open, probe, hash + encrypt to ``tmp/stage-*``, fingerprint one input."""
    from ._sealing import _open_regular, _os_error, _probe

    recipient = pyrage.x25519.Recipient.from_str(job.recipient) if job.recipient else None
    store = ContentStore(job.root, recipient)
    p = job.path
    try:
        f, st = _open_regular(p)
        with f:
            result = _probe(p, job.allow_damaged)
            try:
                staged = store.stage(f, size_hint=st.st_size)
            except OSError as e:
                raise _os_error(p, e) from e
    except InputError as e:
        return Prepared(None, None, error=e.message)
    except ArchiveError as e:
        return Prepared(None, None, error=e.message, archive=True)
    try:
        from ..trace import fingerprint_file

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fps = fingerprint_file(p, flips=True)
    except Exception as e:  # noqa: BLE001 - reported as a warning by the driver, as locally
        return Prepared(staged, result, fingerprint_error=f"{type(e).__name__}: {e}")
    return Prepared(staged, result, fingerprints=fps)


class Prestaged:
    """Worker results for the inputs of one ``add``, taken by the driver in input order.

    ``take(path)`` returns the result for ``path`` when it was sent to the workers (None: the
    driver seals that file itself, as ProofMode files and zips). Results are produced while
    the driver commits the earlier ones; :meth:`close` stops the workers and removes staged
    files nobody took.
    """

    def __init__(self, ws: Workspace, executor: Executor, paths: Sequence[Path], allow_damaged: bool) -> None:
        self._ws = ws
        self._paths = list(paths)
        self._left = Counter(self._paths)
        recipient = str(ws.store.recipient) if ws.store.recipient is not None else None
        jobs = [_PrepareJob(p, ws.root, recipient, allow_damaged) for p in self._paths]
        self._results: Iterator[Prepared] = executor.imap(_prepare_task, jobs, setup=_no_state)
        self._next = 0

    def take(self, path: Path) -> Prepared | None:
        if not self._left[path]:
            return None
        while self._next < len(self._paths):
            p = self._paths[self._next]
            self._next += 1
            self._left[p] -= 1
            got = next(self._results)
            if p == path:
                return got
            self._discard(got)  # never happens while the driver walks the inputs in order
        return None

    def _discard(self, got: Prepared) -> None:
        if got.staged is not None:
            self._ws.store.discard(got.staged)

    def close(self) -> None:
        close(self._results)  # stops the workers; what they staged meanwhile goes at the next recovery


def prestage(ws: Workspace, executor: Executor, files: Sequence[Path], allow_damaged: bool) -> Prestaged:
    """Send the files ``add`` seals one by one (not ProofMode proof files or zips) to workers."""
    mine = [p for p in files if not proofmode.is_proof_file(p)
            and not (p.suffix.lower() == ".zip" and proofmode.is_proofmode_zip(p))]
    return Prestaged(ws, executor, mine, allow_damaged)


# -- verify --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _HashJob:
    sha256: str
    path: Path
    file_key: bytes | None  # None: an archive made with --no-encryption
    skip: bool = False  # the driver could not open the header: it checks that blob itself


def _hash_task(_state: None, job: _HashJob) -> tuple[str, str, int] | None:
    """Worker: the plaintext's (sha256, sha512, size) of one blob; None when it cannot tell
    (missing, damaged): the driver then checks that blob itself, for the exact message."""
    if job.skip:
        return None
    h256, h512 = hashlib.sha256(), hashlib.sha512()
    n = 0

    def write(b: bytes) -> None:
        nonlocal n
        h256.update(b)
        h512.update(b)
        n += len(b)

    try:
        with open(job.path, "rb") as f:
            if job.file_key is None:
                while chunk := f.read(1 << 20):
                    write(chunk)
            else:
                agestream.decrypt_payload(f, job.file_key, write)
    except (OSError, ValueError):
        return None
    return h256.hexdigest(), h512.hexdigest(), n


def blob_hashes(ws: Workspace, executor: Executor, shas: Iterable[str],
                identity: pyrage.x25519.Identity | None) -> Iterator[tuple[str, str, int] | None] | None:
    """The plaintext hashes (sha256, sha512, size) of the blobs of ``shas``, one per sha in
    order, computed on the workers; None for a blob they could not check (the caller checks
    it itself). None instead of an iterator when workers cannot check this archive's blobs
    (blobs on object storage, or no identity to open them).

    File keys are unwrapped lazily, a few blobs ahead of the workers; close the iterator when
    done with it early (stops the workers).
    """
    if not isinstance(ws.store.blobs, FolderBlobs):
        return None
    secret = agestream.identity_key(str(identity)) if identity is not None else None
    if ws.store.encrypted and secret is None:
        return None

    def jobs() -> Iterator[_HashJob]:
        for sha in shas:
            path = ws.store.blob_path(sha)
            if secret is None:
                yield _HashJob(sha, path, None)
                continue
            try:
                with open(path, "rb") as f:
                    yield _HashJob(sha, path, agestream.unwrap_file_key(f, secret))
            except (OSError, ValueError):
                yield _HashJob(sha, path, None, skip=True)

    return executor.imap(_hash_task, jobs(), setup=_no_state)
