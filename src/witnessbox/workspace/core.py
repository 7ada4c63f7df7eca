"""The Workspace: one open archive, the object every shell and test uses.

On-disk layout (full formats in ``docs/archive-format.md``)::

    archive.json (+ .sig)          signed header: id, encryption on/off, key id, KDF
    keys/                          signing key pair, age recipient and identity
    blobs/<ab>/<sha256>[.age]      originals and derivatives, read-only (or on S3: store.json)
    store.json                     only when blobs live in object storage: its URL, fixed at init
    records/<ab>/<sha256>.json     signed canonical record (+ .json.sig, raw Ed25519)
    meta/<ab>/<sha256>.json[.age]  sensitive metadata (GPS, serials), encrypted
    sidecars/<ab>/<sha256>/<name>  files stored beside an item (regions, proofs)
    log/entries/, log/checkpoints/ custody log and signed checkpoints
    pending/<sha256>.json          intent markers of items being sealed
    tmp/                           staging; emptied by recovery
    catalog.sqlite                 index (rebuildable), lock: the writers' lock

Commit order for an item: intent marker, blob, sensitive metadata, sidecars, record, log
entry (the commit point), marker removed. Recovery (under the lock, on open and at the start
of every write) rolls back every item whose marker has no matching log entry, so a process
killed at any instant leaves each item wholly present or absent. A checkpoint is signed at
the end of every write transaction. One writer at a time: ``transaction()`` holds the flock
on ``lock``; it is re-entrant within one Workspace (not thread-safe).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, BinaryIO

import pyrage
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .. import __version__
from .. import config
from .._fsutil import atomic_write_bytes, exclusive_lock, fsync_dir
from ..errors import (
    ArchiveError,
    CatalogDamagedError,
    IntegrityError,
    LockLostError,
    NoArchiveError,
    NotFoundError,
    PassphraseRequiredError,
    ReadOnlyArchiveError,
    StoreMismatchError,
    UsageError,
    WitnessboxError,
)
from ..ledger import index as _index
from ..ledger import keys as _keys
from ..ledger.canonical import canonical_bytes, parse_canonical, sha256_hex, utc_now
from ..ledger.custody import CustodyLog
from ..ledger.mirror import ObjectMirror
from ..ledger.records import SEAL_ACTIONS, Checkpoint, InclusionProof, ItemRecord, LogEntry
from ..ledger.store import BlobStore, ContentStore, FolderBlobs, ObjectBlobs, decrypt_stream
from ..ledger.verify import key_id as _key_id
from ..ledger.verify import verify_signature
from ._reports import AddReport, Progress, VerifyReport

if TYPE_CHECKING:
    from ..trace import Fingerprints
    from .accounts import Accounts
    from .exports import Exports
    from .incidents import Incidents
    from .publishing import Publishing
    from .redaction import Redaction
    from .review import Reviews
    from .tracing import Tracing
    from .dropbox import DropBox
    from .units import Units

__all__ = ["Workspace", "ArchiveHeader", "AddReport", "VerifyReport", "Progress"]

_log = logging.getLogger(__name__)

HEADER = "archive.json"
HEADER_FORMAT = "witnessbox-archive/1"
STORE_FILE = "store.json"
STORE_FORMAT = "witnessbox-store/1"
TOOL = f"witnessbox {__version__}"
_HEX = re.compile(r"[0-9a-f]{1,64}")
_KEY_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

PassphraseSource = str | Callable[[], str] | None


@dataclass(frozen=True)
class ArchiveHeader:
    """The signed archive header (``archive.json``)."""

    archive_id: str
    created_at: str
    encrypted: bool
    key_id: str
    age_recipient: str | None
    kdf: _keys.Kdf
    tool: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": HEADER_FORMAT,
            "archive_id": self.archive_id,
            "created_at": self.created_at,
            "encrypted": self.encrypted,
            "key_id": self.key_id,
            "age_recipient": self.age_recipient,
            "kdf": self.kdf.to_json(),
            "tool": self.tool,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ArchiveHeader:
        if d.get("format") != HEADER_FORMAT:
            raise IntegrityError(f"archive header: unknown format {d.get('format')!r}")
        try:
            return cls(
                archive_id=str(d["archive_id"]),
                created_at=str(d["created_at"]),
                encrypted=bool(d["encrypted"]),
                key_id=str(d["key_id"]),
                age_recipient=d.get("age_recipient"),
                kdf=_keys.Kdf.from_json(dict(d["kdf"])),
                tool=str(d["tool"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise IntegrityError(f"archive header: malformed ({e})") from e


class Workspace:
    """An open witnessbox archive. Create with :meth:`init` or :meth:`open`."""

    def __init__(self, root: Path, header: ArchiveHeader, passphrase: PassphraseSource,
                 database_url: str | None | EllipsisType = ...) -> None:
        self.root = root
        self.header = header
        self._passphrase_source = passphrase
        self._passphrase_value: str | None = None
        self._signing: Ed25519PrivateKey | None = None
        self._identity_value: pyrage.x25519.Identity | None = None
        self._depth = 0
        self._lock_cm: contextlib.AbstractContextManager[None] | None = None
        self._lock_held: Callable[[], None] | None = None
        """Raises when the archive's advisory lock in PostgreSQL (if held) was lost."""
        self._engine: sa.Engine | None = None
        # Fixed when the archive is opened: one Workspace never moves its catalog.
        self.database_url = config.database_url() if database_url is ... else database_url
        self._engine_generation = -1
        self._records: dict[str, ItemRecord] = {}
        self._warnings: list[str] = []
        self._catalog_copy: tempfile.TemporaryDirectory[str] | None = None
        self._rebuilding = False
        self.on_lock_wait: Callable[[], None] | None = None
        """Called when a write has to wait for another process's lock (the CLI says so)."""
        # A copy on a USB stick or a DVD, or one handed over without write access: every
        # reading use case works (the catalog is then a private copy), every write refuses.
        self.read_only = not os.access(root, os.W_OK)
        recipient = _keys.load_recipient(root / "keys") if header.encrypted else None
        # The recipient file is not signed; the header is. A swapped file would encrypt new
        # originals to someone else's key.
        if recipient is not None and str(recipient) != header.age_recipient:
            raise IntegrityError(f"keys/{_keys.AGE_PUB} does not match the signed archive header: restore it from a backup")
        self._place(root, recipient)
        self.public_key_pem = (root / "keys" / _keys.SIGNING_PUB).read_bytes()

    def _place(self, root: Path, recipient: pyrage.x25519.Recipient | None) -> None:
        """Where the archive's files live: the folder, or (``store.json``) the blobs and every
        committed file on object storage too (``mirror``), the folder keeping a copy."""
        blobs = _blob_store(root, self.read_only)
        self.store = ContentStore(root, recipient, blobs)
        self.mirror: ObjectMirror | None = None
        if isinstance(blobs, ObjectBlobs) and recipient is not None:
            self.mirror = ObjectMirror(lambda: blobs.s3, root, recipient, self._identity)
        self.log_store = CustodyLog(root, self.mirror)

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path, passphrase: str, *, encrypted: bool = True, object_lock_days: int | None = None) -> Workspace:
        """Create a new archive at ``path`` (absent or an empty folder).

        The archive is built in a hidden sibling folder and renamed into place, so a crash
        never leaves a half-made archive at ``path``. With ``$WITNESSBOX_STORE_URL`` set, its
        blobs live in that object storage from now on (``store.json``; the bucket is made if
        missing); ``object_lock_days`` puts them under S3 Object Lock in compliance mode.

        Raises:
            UsageError: ``path`` exists and is not an empty folder, the passphrase is empty,
                or object storage / Object Lock is asked for where it cannot apply.
            ArchiveError: The folder cannot be written, or the bucket cannot be used.
        """
        path = Path(path)
        if not passphrase:
            raise UsageError("the passphrase must not be empty")
        store_url = config.store_url()
        if object_lock_days is not None:
            if not store_url:
                raise UsageError(f"--object-lock needs object storage: set {config.ENV_STORE_URL}=s3://BUCKET/PREFIX")
            if object_lock_days < 1:
                raise UsageError("--object-lock needs a number of days of at least 1")
        if store_url and not encrypted:
            raise UsageError("object storage holds ciphertext only: an archive with --no-encryption keeps its folder")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(f"{path} already exists and is not an empty folder: choose another path")
        parent = path.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            build = Path(tempfile.mkdtemp(prefix=f".{path.name}.init-", dir=parent))
        except OSError as e:
            raise ArchiveError(f"cannot create {path}: {e.strerror}") from e
        try:
            for d in ("keys", "blobs", "records", "meta", "sidecars", "log/entries", "log/checkpoints", "pending", "tmp"):
                (build / d).mkdir(parents=True)
            made = _keys.create_keys(build / "keys", passphrase, encrypted=encrypted)
            header = ArchiveHeader(
                archive_id=str(uuid.uuid4()),
                created_at=utc_now(),
                encrypted=encrypted,
                key_id=_key_id(made.public_pem),
                age_recipient=made.age_recipient,
                kdf=made.kdf,
                tool=TOOL,
            )
            data = canonical_bytes(header.to_json())
            atomic_write_bytes(build / (HEADER + ".sig"), made.signing_key.sign(data), file_mode=0o444)
            atomic_write_bytes(build / HEADER, data, file_mode=0o444)
            init_details: dict[str, Any] = {"archive_id": header.archive_id, "encrypted": encrypted, "key_id": header.key_id, "tool": TOOL}
            if store_url:
                store_info = {"format": STORE_FORMAT, "url": store_url, "key_prefix": header.archive_id,
                              "object_lock_days": object_lock_days}
                ObjectBlobs(store_url, header.archive_id, build / "tmp", lock_days=object_lock_days).prepare()
                atomic_write_bytes(build / STORE_FILE, canonical_bytes(store_info), file_mode=0o444)
                init_details.update(store=store_url, store_key_prefix=header.archive_id, object_lock_days=object_lock_days)
            ws = cls(build, header, passphrase)
            ws._signing = made.signing_key
            ws.log_store.append("init", config.actor(), [], init_details)
            ws.log_store.write_checkpoint(made.signing_key, header.archive_id, header.key_id)
            # The catalog file exists from the start, so that a missing one later means a lost
            # one (rebuilt from the log, see `engine`). A server catalog is checked and claimed
            # at first use instead (several archives may be made before each gets its schema).
            if not ws.database_url:
                ws.engine.dispose()
                ws._engine = None
                ws._engine_generation = -1
            if path.exists():
                path.rmdir()
            os.rename(build, path)
            fsync_dir(parent)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        ws.root = path
        ws._place(path, ws.store.recipient)
        return ws

    @classmethod
    def open(cls, path: Path | None = None, passphrase: PassphraseSource = None, *,
             database_url: str | None | EllipsisType = ...) -> Workspace:
        """Open an existing archive; the passphrase is asked for only when a key is needed.

        Args:
            path: The archive folder (default: :func:`witnessbox.config.archive_path`).
            passphrase: The passphrase, a function that returns it (called at most once,
                when first needed), or None (operations needing a key then fail).
            database_url: The catalog database (None: the SQLite file); default
                ``$WITNESSBOX_DATABASE_URL`` now. The web app pins the one it started with.

        Raises:
            NoArchiveError: No archive at ``path``.
            IntegrityError: The header's signature does not match the archive key.
        """
        root = config.archive_path(Path(path) if path is not None else None)
        try:
            data = (root / HEADER).read_bytes()
        except (FileNotFoundError, NotADirectoryError) as e:
            raise NoArchiveError(str(root)) from e
        except OSError as e:
            raise ArchiveError(f"cannot read {root / HEADER}: {e.strerror}") from e
        try:
            sig = (root / (HEADER + ".sig")).read_bytes()
            pub = (root / "keys" / _keys.SIGNING_PUB).read_bytes()
        except OSError as e:
            raise IntegrityError(f"archive header signature or public key missing in {root}") from e
        verify_signature(data, sig, pub, what="archive header")
        header = ArchiveHeader.from_json(parse_canonical(data, what="archive header"))
        if _key_id(pub) != header.key_id:
            raise IntegrityError("archive header: the public key does not match the header's key id")
        ws = cls(root, header, passphrase, database_url)
        with contextlib.suppress(WitnessboxError):
            ws._recover_if_idle()
        return ws

    # -- basic properties ----------------------------------------------------------------------
    @property
    def archive_id(self) -> str:
        return self.header.archive_id

    @property
    def encrypted(self) -> bool:
        return self.header.encrypted

    @property
    def key_id(self) -> str:
        return self.header.key_id

    # -- keys ----------------------------------------------------------------------------------
    def _passphrase(self) -> str:
        if self._passphrase_value is None:
            src = self._passphrase_source
            value = src() if callable(src) else src
            if not value:
                raise PassphraseRequiredError()
            self._passphrase_value = value
        return self._passphrase_value

    def _signing_key(self) -> Ed25519PrivateKey:
        """The unlocked signing key; raises PassphraseError before anything is written."""
        if self._signing is None:
            try:
                self._signing = _keys.unlock_signing_key(self.root / "keys", self._passphrase(), self.header.kdf)
            except WitnessboxError:
                self._passphrase_value = None
                raise
        return self._signing

    def _identity(self) -> pyrage.x25519.Identity | None:
        if not self.encrypted:
            return None
        if self._identity_value is None:
            try:
                self._identity_value = _keys.unlock_age_identity(self.root / "keys", self._passphrase())
            except WitnessboxError:
                self._passphrase_value = None
                raise
        return self._identity_value

    def sign(self, data: bytes) -> bytes:
        """A raw 64-byte Ed25519 signature of ``data`` by the archive key (``openssl pkeyutl
        -verify -rawin`` checks it with ``keys/archive-signing.pub.pem``).

        Raises:
            PassphraseError: Wrong or missing passphrase.
        """
        return self._signing_key().sign(data)

    def verified_passphrase(self) -> str:
        """The archive passphrase, checked against the signing key first: for the keys that
        other modules protect with it (the content-credentials leaf key).

        Raises:
            PassphraseError: Wrong or missing passphrase.
        """
        self._signing_key()
        return self._passphrase()

    def unlock(self) -> None:
        """Check the passphrase now (signing key and, if encrypted, the age identity).

        Raises:
            PassphraseError: Wrong or missing passphrase.
        """
        self._signing_key()
        self._identity()

    # -- transactions and recovery -------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the writers' lock; at the outermost exit sign a checkpoint and update the index.

        Use it around several ``log_action`` calls that belong to one command. Re-entrant.

        Raises:
            LockedError: Never when waiting (the default); kept for callers that poll.
        """
        if self.read_only:
            raise ReadOnlyArchiveError(str(self.root))
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        cm = self._writer_lock(wait=True)
        cm.__enter__()
        self._depth = 1
        try:
            self.log_store.invalidate()
            self._recover()
            self._pull()
            start = self.log_store.size()
            lost = False
            try:
                yield
            except LockLostError:
                lost = True  # another writer may hold the archive now: sign nothing more
                raise
            finally:
                if not lost and self.log_store.size() > start and self._signing is not None:
                    self.log_store.write_checkpoint(self._signing, self.archive_id, self.key_id)
                self._sync_index_quietly()
        finally:
            self._depth = 0
            cm.__exit__(None, None, None)

    @contextlib.contextmanager
    def _writer_lock(self, *, wait: bool) -> Iterator[None]:
        """The writers' lock: the folder's ``flock``; for an archive on object storage with
        its catalog on PostgreSQL also the archive's advisory lock there, which writers on
        other machines (other folders, the same catalog and bucket) take too.

        Raises:
            LockedError: ``wait`` is false and another writer holds a lock.
        """
        with exclusive_lock(self.root / "lock", wait=wait, on_wait=self.on_lock_wait):
            if not self.shares_writer_lock:
                yield
                return
            with _index.writer_lock(self.engine, self.archive_id, wait=wait, on_wait=self.on_lock_wait) as held:
                self._lock_held = held
                try:
                    yield
                finally:
                    self._lock_held = None

    @property
    def shares_writer_lock(self) -> bool:
        """Whether writers on several machines share this archive: its files on object storage
        and its catalog on PostgreSQL, whose advisory lock they take in turn (a catalog URL
        naming an SQLite file shares nothing: the folder's lock is the only one)."""
        return self.mirror is not None and bool(self.database_url) and _index.is_postgresql(self.engine)

    def _check_lock(self) -> None:
        """Before a commit point (a seal's log entry): fail when the archive's advisory lock in
        PostgreSQL was lost meanwhile (another machine may be taking over this work).

        Raises:
            LockLostError: The lock's session ended; nothing is committed.
        """
        if self._lock_held is not None:
            self._lock_held()

    def _pull(self) -> None:
        """Keep in the folder what writers on other machines committed (lock held)."""
        if self.mirror is not None:
            from ._recovery import pull_log

            # A second machine starts from the header, keys and store.json alone.
            for d in ("blobs", "records", "meta", "sidecars", "log/entries", "log/checkpoints", "pending", "tmp"):
                (self.root / d).mkdir(parents=True, exist_ok=True)
            pull_log(self)

    def _store_file(self, path: Path, data: bytes) -> None:
        """Write one file of uncommitted work (lock held, listed in an intent marker): in the
        folder, and for an archive on object storage as its object too (an orphan left at
        that name by a killed writer is replaced)."""
        atomic_write_bytes(path, data, file_mode=0o444)
        if self.mirror is not None:
            self.mirror.put_file(path, data, replace=True)

    def read_stored(self, path: Path) -> bytes:
        """The bytes of a committed file as the archive's truth holds them: for an archive on
        object storage its object (checked, decrypted), never the folder's copy (``verify``).

        Raises:
            FileNotFoundError: Missing.
            IntegrityError: The stored object is damaged.
        """
        if self.mirror is None:
            return path.read_bytes()
        try:
            return self.mirror.get(self.mirror.rel(path))
        except NotFoundError as e:
            raise FileNotFoundError(str(path)) from e

    def read_file(self, path: Path) -> bytes:
        """The bytes of a committed file of the archive (a record, a sidecar...): from the
        folder, or for an archive on object storage from the store when this folder does not
        have it yet (then kept here).

        Raises:
            FileNotFoundError: Neither here nor in the store.
            IntegrityError: The stored object is damaged.
        """
        try:
            return path.read_bytes()
        except FileNotFoundError:
            if self.mirror is None:
                raise
        try:
            return self.mirror.pull(path)
        except NotFoundError as e:
            raise FileNotFoundError(str(path)) from e

    def require_writable(self) -> None:
        """Fail now, before any work or prompt, when the archive cannot be written.

        Raises:
            ReadOnlyArchiveError: The archive folder is read-only (a copy on a DVD...).
        """
        if self.read_only:
            raise ReadOnlyArchiveError(str(self.root))

    def _recover_if_idle(self) -> None:
        if self.read_only:
            return
        try:
            with self._writer_lock(wait=False):
                self._recover()
        except (WitnessboxError, OSError, sa.exc.SQLAlchemyError):
            pass  # a writer is active (it recovers) or the lock is not ours: read committed state

    def _recover(self) -> int:
        """Roll back uncommitted items and remove staging leftovers (lock held); return count."""
        from ._recovery import recover

        return recover(self)

    # -- the catalog -----------------------------------------------------------------------------
    @property
    def engine(self) -> sa.Engine:
        """SQLAlchemy engine on the catalog (``catalog.sqlite``, or ``$WITNESSBOX_DATABASE_URL``),
        with every registered migration applied.

        Raises:
            UsageError: ``$WITNESSBOX_DATABASE_URL`` is malformed, not a supported database, or
                the catalog of another archive.
            ArchiveError: The catalog database cannot be reached.
        """
        if self._engine is None:
            path = self._catalog_path()
            missing = not self.database_url and not path.exists()
            try:
                self._engine = _index.create_catalog_engine(self.database_url, path)
            except ValueError as e:
                raise UsageError(f"{config.ENV_DATABASE_URL}: {e}") from e
            if missing and not self._rebuilding:
                self._engine_generation = _index.registry_generation()
                self._migrate()
                self._rebuild_missing_catalog()
        gen = _index.registry_generation()
        if gen != self._engine_generation:
            self._migrate()
            self._engine_generation = gen
        return self._engine

    def _migrate(self) -> None:
        assert self._engine is not None
        try:
            _index.migrate(self._engine)
        except sa.exc.DatabaseError as e:
            if isinstance(e, sa.exc.OperationalError):
                if self.database_url:
                    # The driver's message names host and port, never the password.
                    reason = str(e.orig).strip().splitlines()[0] if e.orig else type(e).__name__
                    raise ArchiveError(
                        f"cannot reach the catalog database ({reason}): check {config.ENV_DATABASE_URL}") from e
                raise ArchiveError(f"cannot open catalog.sqlite ({e.orig}): check the disk, then run `witnessbox reindex`") from e
            raise CatalogDamagedError(str(e.orig)) from e
        if self.database_url:
            try:
                _index.claim_catalog(self._engine, self.archive_id)
            except ValueError as e:
                raise UsageError(f"{config.ENV_DATABASE_URL}: {e}: give each archive its own database or schema") from e

    def _catalog_path(self) -> Path:
        """``catalog.sqlite``, or a private copy of it when the archive is read-only (SQLite
        needs to write beside a database even to read it in WAL mode)."""
        path = self.root / "catalog.sqlite"
        if not self.read_only:
            return path
        if self._catalog_copy is None:
            self._catalog_copy = tempfile.TemporaryDirectory(prefix="witnessbox-catalog-")
            for suffix in ("", "-wal"):
                with contextlib.suppress(FileNotFoundError):
                    shutil.copyfile(self.root / f"catalog.sqlite{suffix}", Path(self._catalog_copy.name) / f"catalog.sqlite{suffix}")
        return Path(self._catalog_copy.name) / "catalog.sqlite"

    def _rebuild_missing_catalog(self) -> None:
        """The catalog is an index of the custody log: when it is missing, rebuild every table
        that the log holds (items, incidents, approvals...), never answer from an empty one."""
        from ._indexing import rebuild_from_log

        if self.log_store.size() <= 1:
            return  # a new archive: only its init entry
        self._rebuilding = True
        try:
            # Under the writers' lock (when we may take it): a writer adding an incident
            # meanwhile would otherwise be replayed twice.
            with contextlib.nullcontext() if self.read_only else self.transaction():
                rebuild_from_log(self)
        finally:
            self._rebuilding = False
        if not self.read_only:
            self._warnings.append("catalog.sqlite was missing: rebuilt from the custody log"
                                  " (run `witnessbox reindex` to recompute copy-tracing fingerprints too)")

    def _sync_index_quietly(self) -> None:
        try:
            self._sync_index()
        except CatalogDamagedError:
            raise
        except sa.exc.DatabaseError as e:
            if not isinstance(e, sa.exc.OperationalError):
                raise CatalogDamagedError(str(e.orig)) from e
            self._warnings.append(f"catalog index not updated ({e.orig}); run `witnessbox reindex`")
        except (sa.exc.SQLAlchemyError, OSError, WitnessboxError) as e:
            self._warnings.append(f"catalog index not updated ({e}); run `witnessbox reindex`")

    def _sync_index(self) -> None:
        from ._indexing import sync_index

        sync_index(self)

    # -- records ---------------------------------------------------------------------------------
    def record_path(self, sha256: str) -> Path:
        return self.root / "records" / sha256[:2] / f"{sha256}.json"

    def meta_path(self, sha256: str) -> Path:
        return self.root / "meta" / sha256[:2] / (f"{sha256}.json.age" if self.encrypted else f"{sha256}.json")

    def sidecar_dir(self, sha256: str) -> Path:
        return self.root / "sidecars" / sha256[:2] / sha256

    def _load_record(self, sha256: str) -> ItemRecord:
        rec = self._records.get(sha256)
        if rec is None:
            path = self.record_path(sha256)
            pulled = self.mirror is not None and not path.exists()
            try:
                data = self.read_file(path)
            except FileNotFoundError as e:
                raise IntegrityError(f"record of item {sha256} is missing") from e
            rec = ItemRecord.from_json(parse_canonical(data, what=f"record {sha256}"))
            self._records[sha256] = rec
            if pulled:
                from ._recovery import pull_item

                pull_item(self, sha256, rec)  # sealed on another machine: its other files too
        return rec

    def resolve(self, id_prefix: str) -> str:
        """The full sha256 of the one item whose id starts with ``id_prefix``.

        Raises:
            UsageError: Not a hex prefix, or more than one item matches.
            NotFoundError: No item matches.
        """
        p = id_prefix.strip().lower()
        if not _HEX.fullmatch(p):
            # Often a mistyped path or a forgotten option: say what an id looks like.
            hint = ", and no file of that name exists" if ("/" in id_prefix or "." in id_prefix) else ""
            raise UsageError(f"{id_prefix!r} is not an item id{hint}: give hex digits of an item's sha256 (see `witnessbox list`)")
        self._sync_index_quietly()
        with self.engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT sha256 FROM items WHERE sha256 >= :lo AND sha256 < :hi ORDER BY sha256 LIMIT 2"),
                {"lo": p, "hi": p + "g"},
            ).all()
        if not rows:
            raise NotFoundError(f"no item with an id starting {p}: see `witnessbox list`")
        if len(rows) > 1:
            raise UsageError(f"id prefix {p} matches several items: give more digits")
        return str(rows[0][0])

    def record_problem(self, sha256: str) -> str | None:
        """Why the stored record of an item does not verify against the archive key (its
        signature, its canonical form), or None when it does. ``witnessbox verify`` checks
        everything; this is the quick check of one record before showing it."""
        from ..ledger.verify import verify_record

        path = self.record_path(sha256)
        try:
            data = self.read_file(path)
            sig = self.read_file(path.with_name(path.name + ".sig"))
        except OSError:
            return "the record or its signature is missing"
        try:
            rec = verify_record(data, sig, self.public_key_pem, what="record")
        except IntegrityError as e:
            return e.detail or e.message
        if rec.sha256 != sha256:
            return f"the record describes another item ({rec.sha256})"
        return None

    def item(self, id_prefix: str) -> ItemRecord:
        """The record of the item whose id starts with ``id_prefix``.

        Raises:
            UsageError: Ambiguous or malformed prefix.
            NotFoundError: No such item.
        """
        return self._load_record(self.resolve(id_prefix))

    def items(self) -> list[ItemRecord]:
        """Every sealed item, in sealing order."""
        self._sync_index_quietly()
        with self.engine.connect() as c:
            shas = [r[0] for r in c.execute(sa.text("SELECT sha256 FROM items ORDER BY seq"))]
        return [self._load_record(s) for s in shas]

    def children(self, sha256: str) -> list[ItemRecord]:
        """Items derived from ``sha256`` (its redacted copies...)."""
        self._sync_index_quietly()
        with self.engine.connect() as c:
            shas = [r[0] for r in c.execute(
                sa.text("SELECT sha256 FROM items WHERE parent=:p ORDER BY seq"), {"p": sha256})]
        return [self._load_record(s) for s in shas]

    def decrypt_bytes(self, blob: bytes) -> bytes:
        """Decrypt a small age blob encrypted to the archive key (testimonies, metadata); not logged.

        Raises:
            PassphraseError: The passphrase is needed and wrong.
            IntegrityError: The blob is not a valid age file for this archive.
        """
        return ContentStore.decrypt_bytes(blob, self._identity())

    def sensitive_metadata(self, sha256: str) -> dict[str, Any] | None:
        """Decrypted sensitive metadata (GPS, serials) of an item, or None (not logged).

        Raises:
            PassphraseError: The passphrase is needed and wrong.
            IntegrityError: The file is missing or does not match its record.
        """
        rec = self._load_record(self.resolve(sha256))
        if rec.sensitive is None:
            return None
        try:
            blob = self.read_file(self.meta_path(rec.sha256))
        except FileNotFoundError as e:
            raise IntegrityError(f"sensitive metadata of {rec.sha256} is missing") from e
        data = ContentStore.decrypt_bytes(blob, self._identity())
        if sha256_hex(data) != rec.sensitive.sha256:
            raise IntegrityError(f"sensitive metadata of {rec.sha256} does not match its record")
        value: dict[str, Any] = json.loads(data)
        return value

    # -- sealing ---------------------------------------------------------------------------------
    def add(
        self,
        paths: Iterable[Path | str],
        *,
        source: str | None = None,
        note: str | None = None,
        captured_at: str | None = None,
        place: str | None = None,
        allow_damaged: bool = False,
        progress: Progress | None = None,
    ) -> AddReport:
        """Seal files and folders (recursively). Exact duplicates are logged, not stored twice.

        Each bad input is reported in ``AddReport.failed`` (one line naming the file) and
        leaves the archive untouched; the rest of the batch goes on.
        A ProofMode bundle beside a file (or a ProofMode zip, unpacked) is kept unchanged as
        the item's sidecars, its signatures checked and logged (``AddReport.proofmode``).

        Args:
            allow_damaged: Seal files that claim to be media but are truncated, corrupt or
                hostile, without their metadata (evidence is sometimes damaged).

        Raises:
            PassphraseError: Wrong or missing passphrase (nothing written).
        """
        from ._sealing import add_files

        self.require_writable()
        return add_files(self, paths, source=source, note=note, captured_at=captured_at, place=place,
                         allow_damaged=allow_damaged, progress=progress)

    def add_derivative(
        self,
        parent_sha256: str,
        path: Path,
        *,
        kind: str,
        method: str,
        sidecars: Mapping[str, Path] | None = None,
        note: str | None = None,
    ) -> ItemRecord:
        """Seal a file derived from an item (e.g. a redacted copy) with its sidecar files.

        The record carries ``parent`` and ``derivation``; sidecar names and hashes are signed
        in the record. An identical derivative already sealed is returned (receipt logged).

        Raises:
            NotFoundError: No parent item.
            InputError: ``path`` or a sidecar is unreadable, or a sidecar name is unsafe.
            PassphraseError: Wrong or missing passphrase (nothing written).
        """
        from ._sealing import add_derivative

        return add_derivative(self, parent_sha256, Path(path), kind=kind, method=method,
                              sidecars=dict(sidecars or {}), note=note)

    def attach_sidecar(self, sha256: str, name: str, data: bytes) -> Path:
        """Store a file beside an already sealed item (e.g. a proof file); logged as ``attach``.

        Raises:
            UsageError: Unsafe name, or a sidecar of that name already exists.
            NotFoundError: No such item.
        """
        from ._sealing import attach_sidecar

        return attach_sidecar(self, self.resolve(sha256), name, data)

    def sidecars(self, sha256: str) -> dict[str, Path]:
        """Files stored beside an item, by name."""
        sha = self.resolve(sha256)
        d = self.sidecar_dir(sha)
        if self.mirror is not None and not d.is_dir():
            from ._recovery import pull_item

            pull_item(self, sha)  # sealed on another machine: keep its files here
        if not d.is_dir():
            return {}
        return {p.name: p for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")}

    def _after_seal(self, record: ItemRecord, plaintext_path: Path, computed: Fingerprints | str | None = None) -> None:
        """Let tracing fingerprint a newly sealed item; its failure never undoes the seal.

        ``computed``: fingerprints a worker made already, or the error it met ("Type: message").
        """
        try:
            if isinstance(computed, str):
                raise _RemoteError(computed)
            # Decoder warnings (damaged EXIF) are already in the record: not printed again.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if computed is None:
                    self.tracing.on_sealed(record, plaintext_path)
                else:
                    self.tracing.on_sealed(record, plaintext_path, computed)
        except Exception as e:  # noqa: BLE001 - the item is sealed and stays sealed
            what = str(e) if isinstance(e, _RemoteError) else f"{type(e).__name__}: {e}"
            msg = f"tracing could not index {record.sha256[:12]} ({what})"
            _log.warning(msg)
            self._warnings.append(msg)

    # -- reading originals -----------------------------------------------------------------------
    @contextlib.contextmanager
    def open_original(self, sha256: str, *, random_access: bool = False) -> Iterator[BinaryIO]:
        """A seekable decrypted stream of an item (not logged: callers log what they do).

        Args:
            random_access: Decrypt each part when it is read instead of the whole item first
                (a player: the first frame of a long video does not wait for the rest; nothing
                plaintext is held beyond a few 64 KiB chunks). Damage is then found by the read
                that reaches it (IntegrityError), not on opening.

        Raises:
            NotFoundError: No such item.
            PassphraseError: Wrong or missing passphrase.
            IntegrityError: The blob is missing or damaged.
        """
        rec = self._load_record(self.resolve(sha256))
        opener = self.store.open_plaintext_random if random_access else self.store.open_plaintext
        with opener(rec.sha256, self._identity(), rec.size) as f:
            yield f

    @contextlib.contextmanager
    def plaintext_path(self, sha256: str) -> Iterator[Path]:
        """A file path holding an item's plaintext, for libraries that need a path (PyAV).

        For an encrypted archive this is a temporary file (mode 0600) under ``tmp/`` that is
        deleted on exit (and by recovery after a crash). Not logged. Never write to it.

        Raises:
            NotFoundError: No such item.
            PassphraseError: Wrong or missing passphrase.
        """
        rec = self._load_record(self.resolve(sha256))
        if not self.encrypted and isinstance(self.store.blobs, FolderBlobs):
            yield self.store.blob_path(rec.sha256)
            return
        ident = self._identity()
        suffix = Path(rec.name).suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", Path(rec.name).suffix) else ""
        # A read-only archive has no writable tmp/: the system's temporary folder then.
        fd, tmp = tempfile.mkstemp(prefix=f"plain-{os.getpid()}-", suffix=suffix,
                                   dir=None if self.read_only else self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as out, self.store.open_blob(rec.sha256) as src:
                if ident is None:
                    shutil.copyfileobj(src, out)
                else:
                    decrypt_stream(src, out, ident, what=f"blob {rec.sha256}")
            yield Path(tmp)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def extract(self, sha256: str, out_path: Path, *, overwrite: bool = False) -> Path:
        """Decrypt an item to ``out_path`` (a file, or a folder to put it in by its name); logged.

        The output is re-hashed while written and removed if it does not match the record.

        Raises:
            NotFoundError: No such item.
            UsageError: ``out_path`` exists (and ``overwrite`` is false) or is inside the archive.
            PassphraseError: Wrong or missing passphrase (nothing written).
            IntegrityError: The stored original does not match its record.
        """
        from ._sealing import extract_item

        return extract_item(self, self.resolve(sha256), Path(out_path), overwrite=overwrite)

    # -- custody log -------------------------------------------------------------------------------
    def log_action(
        self, action: str, objects: Iterable[str], details: Mapping[str, Any] | None = None, *, actor: str | None = None
    ) -> LogEntry:
        """Append an entry to the custody log (checkpointed at the end of the transaction).

        Args:
            action: A short verb, e.g. ``redact``, ``approve``, ``export``, ``publish``.
            objects: sha256 ids (or other hex ids) the action read or changed.
            details: JSON-serializable facts (no personal data).
            actor: Who acted (a reviewer signed in to the web app); default ``config.actor()``.

        Raises:
            UsageError: ``action`` is empty or reserved, or ``details`` is not JSON-serializable.
            PassphraseError: Wrong or missing passphrase (nothing written).
        """
        if not action or not re.fullmatch(r"[a-z][a-z0-9_.-]{0,63}", action):
            raise UsageError(f"bad custody log action {action!r}: use a short lower-case verb")
        if action in SEAL_ACTIONS or action == "init":
            raise UsageError(f"custody log action {action!r} is reserved for the archive itself")
        objs = list(objects)
        for o in objs:
            if not isinstance(o, str) or not 0 < len(o) <= 200 or any(c.isspace() or not c.isprintable() for c in o):
                raise UsageError(f"custody log object {o!r} is not an id (a sha256 or another short token)")
        if actor is not None and (not actor.strip() or not actor.isprintable() or len(actor) > 200):
            raise UsageError("custody log actor must be a short printable name")
        return self._append(action, objs, dict(details or {}), actor=actor)

    def _append(self, action: str, objects: list[str], details: dict[str, Any], *, actor: str | None = None) -> LogEntry:
        self._signing_key()  # a wrong passphrase must fail before the entry is written
        try:
            canonical_bytes(details)
        except ValueError as e:
            raise UsageError(f"custody log details are not valid JSON: {e}") from e
        with self.transaction():
            entry, _ = self.log_store.append(action, actor or config.actor(), objects, details)
        return entry

    def log(self, obj: str | None = None, *, exact: bool = False) -> list[LogEntry]:
        """Custody log entries: all, or those naming one object.

        Args:
            obj: An item id or unique prefix of one, or any other logged object id (an
                incident id...), matched exactly when it is no item's prefix.
            exact: Match ``obj`` exactly, never as an item prefix.

        Raises:
            UsageError: ``obj`` is a hex prefix of several items (and not ``exact``).
        """
        if obj is None:
            return [self.log_store.read(i) for i in range(self.log_store.size())]
        ids = {obj}
        if not exact and _HEX.fullmatch(obj.strip().lower()):
            try:
                ids = {self.resolve(obj)}
            except NotFoundError:
                ids = {obj, obj.strip().lower()}  # hex ids are logged in lower case
        self._sync_index_quietly()
        query = sa.text("SELECT DISTINCT seq FROM entry_objects WHERE sha256 IN :ids ORDER BY seq").bindparams(
            sa.bindparam("ids", expanding=True))
        with self.engine.connect() as c:
            seqs = [r[0] for r in c.execute(query, {"ids": sorted(ids)})]
        return [self.log_store.read(s) for s in seqs]

    def log_entry_bytes(self, seq: int) -> bytes:
        """The exact stored bytes of custody log entry ``seq`` (what its Merkle leaf hashes).

        Raises:
            IntegrityError: The entry is missing.
        """
        return self.log_store.read_bytes(seq)

    def log_leaves(self, tree_size: int) -> list[bytes]:
        """Merkle leaf hashes of the first ``tree_size`` entries (for inclusion paths)."""
        return self.log_store.leaves(tree_size)

    def checkpoint_sizes(self) -> list[int]:
        """Tree sizes of the stored signed checkpoints, ascending."""
        return self.log_store.checkpoint_sizes()

    def read_checkpoint(self, tree_size: int) -> tuple[bytes, bytes]:
        """The exact bytes and raw signature of the checkpoint at ``tree_size``.

        Raises:
            IntegrityError: There is no such checkpoint.
        """
        return self.log_store.read_checkpoint(tree_size)

    def checkpoint(self) -> Checkpoint:
        """Sign a checkpoint for the current log (or return the latest if up to date).

        Raises:
            PassphraseError: Wrong or missing passphrase.
        """
        key = self._signing_key()
        with self.transaction():
            return self.log_store.write_checkpoint(key, self.archive_id, self.key_id)

    def latest_checkpoint(self) -> tuple[bytes, bytes]:
        """The latest checkpoint's exact bytes and raw signature.

        Raises:
            IntegrityError: There is none.
        """
        size = self.log_store.latest_checkpoint_size()
        if size is None:
            raise IntegrityError("the archive has no checkpoint")
        return self.log_store.read_checkpoint(size)

    def inclusion_proof(self, seq: int) -> InclusionProof:
        """Proof that log entry ``seq`` is in the latest checkpoint (one is signed if needed).

        Raises:
            NotFoundError: No entry ``seq``.
        """
        if not 0 <= seq < self.log_store.size():
            raise NotFoundError(f"no custody log entry {seq}")
        latest = self.log_store.latest_checkpoint_size()
        if latest is None or latest <= seq:
            self.checkpoint()
        return self.log_store.inclusion_proof(seq)

    # -- integrity ---------------------------------------------------------------------------------
    def verify(self, progress: Progress | None = None) -> VerifyReport:
        """Re-hash every original, check every signature, the chain and the Merkle roots.

        Never raises for what it finds: each broken object is a ``Problem`` in the report.

        Raises:
            PassphraseError: The passphrase (needed to re-hash encrypted originals) is wrong.
        """
        from ._reports import Problem
        from ._verifying import verify_archive

        report = verify_archive(self, progress)
        # Testimonies live outside the item store (catalog data, logged); check their files too.
        report.problems.extend(Problem("testimonies", p) for p in self.incidents.verify_testimonies())
        return report

    def reindex(self, progress: Progress | None = None) -> int:
        """Rebuild ``catalog.sqlite`` from the archive files; return the number of items.

        Use-case objects that define ``reindex()`` are called afterwards to rebuild their
        tables (their modules register their migrations at import).
        """
        from ._indexing import rebuild

        return rebuild(self, progress)

    def take_warnings(self) -> list[str]:
        """Warnings collected since the last call (index not updated, tracing failed...)."""
        out, self._warnings = self._warnings, []
        return out

    def close(self) -> None:
        """Release the catalog engine and forget unlocked keys."""
        accounts = self.__dict__.get("accounts")
        if accounts is not None:
            accounts.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._engine_generation = -1
        if self._catalog_copy is not None:
            self._catalog_copy.cleanup()
            self._catalog_copy = None
        self._signing = None
        self._identity_value = None
        self._passphrase_value = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- use cases of later capabilities (created on first use) ----------------------------------
    @functools.cached_property
    def redaction(self) -> Redaction:
        from .redaction import Redaction

        return Redaction(self)

    @functools.cached_property
    def incidents(self) -> Incidents:
        from .incidents import Incidents

        return Incidents(self)

    @functools.cached_property
    def publishing(self) -> Publishing:
        from .publishing import Publishing

        return Publishing(self)

    @functools.cached_property
    def exports(self) -> Exports:
        from .exports import Exports

        return Exports(self)

    @functools.cached_property
    def tracing(self) -> Tracing:
        from .tracing import Tracing

        return Tracing(self)

    @functools.cached_property
    def units(self) -> Units:
        from .units import Units

        return Units(self)

    @functools.cached_property
    def review(self) -> Reviews:
        from .review import Reviews

        return Reviews(self)

    @functools.cached_property
    def dropbox(self) -> DropBox:
        from .dropbox import DropBox

        return DropBox(self)

    @functools.cached_property
    def accounts(self) -> Accounts:
        from .accounts import Accounts

        return Accounts(self)


class _RemoteError(Exception):
    """An error a worker met, carried as its text ("Type: message")."""


def _blob_store(root: Path, read_only: bool) -> BlobStore:
    """Where this archive's blobs live: ``store.json`` decides, and ``$WITNESSBOX_STORE_URL``
    must agree with it (a second place for the same archive would split it silently).

    Raises:
        StoreMismatchError: The variable names another place than the archive's own.
    """
    wanted = config.store_url()
    try:
        info = json.loads((root / STORE_FILE).read_bytes())
    except FileNotFoundError:
        if wanted:
            raise StoreMismatchError(f"this archive keeps its blobs in its folder, not in {_safe_url(wanted)}: unset {config.ENV_STORE_URL}") from None
        return FolderBlobs(root)
    except (OSError, ValueError) as e:
        raise IntegrityError(f"{STORE_FILE} is unreadable or damaged ({e})") from e
    if (not isinstance(info, dict) or info.get("format") != STORE_FORMAT or not isinstance(info.get("url"), str)
            or not isinstance(info.get("key_prefix"), str) or not _KEY_PREFIX.fullmatch(info["key_prefix"])):
        raise IntegrityError(f"{STORE_FILE}: unknown format")
    url = str(info["url"])
    if wanted != url:
        hint = f"not in {_safe_url(wanted)}" if wanted else f"and {config.ENV_STORE_URL} is not set"
        raise StoreMismatchError(f"this archive keeps its blobs in {_safe_url(url)}, {hint}: set {config.ENV_STORE_URL}={_safe_url(url)}")
    lock = info.get("object_lock_days")
    return ObjectBlobs(url, str(info["key_prefix"]), None if read_only else root / "tmp", lock_days=int(lock) if lock else None)


def _safe_url(url: str) -> str:
    """A store URL for a one-line message (printable characters only, bounded)."""
    return "".join(c if c.isprintable() else "?" for c in url)[:200]
