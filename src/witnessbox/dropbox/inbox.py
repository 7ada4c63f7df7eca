"""The drop box inbox: what the public server writes and the archive imports.

Layout (all under the inbox folder, mode 0700; see ``docs/dropbox.md``)::

    inbox.json                      format, archive recipient, codename salt and KDF costs
    sources/<lookup>.json           a source's reply recipient (public half of its reply key)
    submissions/<id>/
        file-001.age ...            each file, age-encrypted to the archive while it arrives
        statement.age               the statement and optional fields (JSON), encrypted likewise
        manifest.age                names, sizes, sha256 of each part's age header (JSON), encrypted
        COMMIT                      written last, atomically: the sha256 of manifest.age
    replies/<lookup>/<id>.age       replies, age-encrypted to the source's reply recipient

Commit order of a submission: the parts (each fsynced), ``manifest.age`` (fsynced), then
``COMMIT`` through the atomic-write helper. A folder without ``COMMIT`` is half-written (the
server stopped mid-upload) and is never imported. Nothing is written in plaintext except
``inbox.json``, ``sources/*.json`` (public keys), ``COMMIT`` (hashes, a day and a count).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import pyrage

from .._fsutil import atomic_write_bytes, fsync_dir
from ..errors import DropBoxError, InputError, NotFoundError, SizeLimitError, UsageError
from ..ledger.agestream import AgeWriter, recipient_key
from ..media.probe import sniff
from . import codename as _codename
from .strip import strip, strippable

INBOX_FORMAT = "witnessbox-dropbox-inbox"
MANIFEST_FORMAT = "witnessbox-dropbox-manifest"
COMMIT_FORMAT = "witnessbox-dropbox-commit"
STATEMENT_FORMAT = "witnessbox-dropbox-statement"
REPLY_FORMAT = "witnessbox-dropbox-reply"
VERSION = 1
COMMIT = "COMMIT"
_SUBMISSION_ID = re.compile(r"\d{4}-\d{2}-\d{2}-[0-9a-f]{16}")
_LOOKUP = re.compile(r"[0-9a-f]{32}")
_REPLY_ID = re.compile(r"\d{4}-\d{2}-\d{2}-[0-9a-f]{16}")
_SNIFF = 4096
_WRITEBACK = 16 * 1024 * 1024
STATEMENT_MAX = 100_000
FIELD_MAX = 1000


def today() -> str:
    """The UTC day: the only time the drop box records (never finer)."""
    return datetime.now(timezone.utc).date().isoformat()


def _blur_times(*paths: Path) -> None:
    """Set access and modification times to today's 00:00 UTC: the disk keeps no time finer than
    the day. (The kernel's change time cannot be set; see docs/dropbox.md.)"""
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    for p in paths:
        try:
            os.utime(p, (midnight, midnight))
        except OSError:
            pass  # best effort: a missing path is not worth failing a submission for


def _new_id() -> str:
    return f"{today()}-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Limits:
    """Size limits of one submission (bytes) and the memory budget for removing metadata."""

    max_file: int = 2 * 1024**3
    max_total: int = 4 * 1024**3
    max_files: int = 20
    strip_in_memory: int = 512 * 1024**2


@dataclass(frozen=True)
class Statement:
    """What the source writes; every field optional, none about the source's identity."""

    text: str = ""
    when: str = ""
    where: str = ""
    unit: str = ""
    how_known: str = ""

    def __post_init__(self) -> None:
        if len(self.text) > STATEMENT_MAX:
            raise SizeLimitError(f"the statement is longer than {STATEMENT_MAX} characters")
        for name in ("when", "where", "unit", "how_known"):
            if len(getattr(self, name)) > FIELD_MAX:
                raise SizeLimitError(f"the field {name!r} is longer than {FIELD_MAX} characters")

    def is_empty(self) -> bool:
        return not any(v.strip() for v in (self.text, self.when, self.where, self.unit, self.how_known))

    def to_json(self) -> dict[str, Any]:
        return {"format": STATEMENT_FORMAT, "version": VERSION, "text": self.text, "when": self.when,
                "where": self.where, "unit": self.unit, "how_known": self.how_known}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Statement:
        if d.get("format") != STATEMENT_FORMAT or d.get("version") != VERSION:
            raise DropBoxError("the statement is not a drop-box statement")
        return cls(**{k: str(d.get(k, "")) for k in ("text", "when", "where", "unit", "how_known")})


@dataclass(frozen=True)
class FileEntry:
    """One submitted file, as the (encrypted) manifest describes it."""

    part: str
    name: str
    size: int
    header_sha256: str
    media_type: str | None
    metadata_removed: bool

    def to_json(self) -> dict[str, Any]:
        return {"part": self.part, "name": self.name, "size": self.size, "header_sha256": self.header_sha256,
                "media_type": self.media_type, "metadata_removed": self.metadata_removed}


@dataclass(frozen=True)
class Manifest:
    """The decrypted manifest of a committed submission."""

    submission: str
    received: str
    source: str
    reply_recipient: str
    language: str
    files: tuple[FileEntry, ...]
    statement_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "version": VERSION, "submission": self.submission,
                "received": self.received, "source": self.source, "reply_recipient": self.reply_recipient,
                "language": self.language, "files": [f.to_json() for f in self.files],
                "statement_ciphertext_sha256": self.statement_sha256}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Manifest:
        """Raises: DropBoxError: not a version-1 manifest."""
        try:
            if d["format"] != MANIFEST_FORMAT or d["version"] != VERSION:
                raise DropBoxError("the manifest has an unknown format")
            files = tuple(FileEntry(str(f["part"]), str(f["name"]), int(f["size"]), str(f["header_sha256"]),
                                    f["media_type"], bool(f["metadata_removed"]))
                          for f in d["files"])
            return cls(str(d["submission"]), str(d["received"]), str(d["source"]), str(d["reply_recipient"]),
                       str(d["language"]), files, d["statement_ciphertext_sha256"])
        except (KeyError, TypeError, ValueError) as e:
            raise DropBoxError(f"the manifest is malformed ({e})") from e


@dataclass(frozen=True)
class SubmissionState:
    """What anyone (without keys) can tell about a submission folder."""

    id: str
    day: str
    files: int
    committed: bool


@dataclass(frozen=True)
class Reply:
    id: str
    day: str
    text: str


class _Counting:
    """Wraps the ciphertext file: counts and hashes what the encryptor writes."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()

    def write(self, b: bytes) -> int:
        self.sha256.update(b)
        return self._f.write(b)


def _create(path: Path) -> IO[bytes]:
    """A new file only its owner can read. Parts are streamed, not written atomically: a part is
    only meaningful once ``COMMIT`` (written atomically, last) names the manifest that lists it."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _encrypt_json(path: Path, recipient: str, value: dict[str, Any]) -> str:
    """Write ``value`` encrypted to ``recipient`` (exclusive create, fsynced); its ciphertext sha256."""
    with _create(path) as f:
        c = _Counting(f)
        w = AgeWriter(c, recipient)  # type: ignore[arg-type]
        w.write(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        w.close()
        f.flush()
        os.fsync(f.fileno())
    return c.sha256.hexdigest()


class FileSink:
    """Receives one file's bytes and encrypts them as they arrive (see :meth:`Submission.add_file`).

    With metadata removal asked for, a photo or video is held in memory (never on disk) up to
    ``Limits.strip_in_memory``, stripped and then encrypted; other files stream straight through.
    """

    def __init__(self, sub: Submission, part: str, name: str, strip_metadata: bool) -> None:
        self._sub = sub
        self.part = part
        self.name = name
        self._strip_wanted = strip_metadata
        self._f = _create(sub.folder / part)
        # No hash of the bytes themselves: hashing each gigabyte cost more than encrypting it.
        # The manifest binds the part by its age header instead (see ``age_header``).
        self._age = AgeWriter(self._f, sub.inbox.recipient)
        self._head = bytearray()
        self._decided = False
        self._buffer: bytearray | None = None
        self.media_type: str | None = None
        self.size = 0  # bytes received (the limits count these)
        self._emitted = 0  # bytes encrypted (fewer or more after metadata removal)
        self._written_back = 0
        self._wb_offset = 0
        self._stripped = False

    def _decide(self) -> None:
        self._decided = True
        detected, claimed = sniff(bytes(self._head[:64]), self.name)
        self.media_type = detected or claimed
        head, self._head = self._head, bytearray()
        if self._strip_wanted and strippable(detected):
            self._buffer = head
        else:
            self._emit(head)

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        self._emitted += len(data)
        self._age.write(data if isinstance(data, (bytes, memoryview)) else bytes(data))
        if self._emitted - self._written_back >= _WRITEBACK:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Start writing the ciphertext so far to disk without waiting, and drop it from the page
        cache: the final fsync is then short, and a large upload does not crowd out memory."""
        self._written_back = self._emitted
        if hasattr(os, "posix_fadvise"):
            try:
                self._f.flush()
                os.posix_fadvise(self._f.fileno(), self._wb_offset, 0, os.POSIX_FADV_DONTNEED)
                # Pages still under writeback are not dropped: cover them again next time.
                self._wb_offset = max(0, self._f.tell() - _WRITEBACK)
            except (OSError, ValueError):
                pass

    def write(self, data: bytes | memoryview) -> None:
        """Raises: SizeLimitError: the file or the submission went over its limit.

        ``data`` must not change afterwards (it may still be hashed on another thread)."""
        self.size += len(data)
        self._sub._account(len(data), self.size)
        if not self._decided:
            self._head += data
            if len(self._head) >= _SNIFF:
                self._decide()
            return
        if self._buffer is not None:
            self._buffer += data
            if len(self._buffer) > self._sub.limits.strip_in_memory:
                mib = self._sub.limits.strip_in_memory // 2**20
                raise SizeLimitError(f"metadata can be removed only from files up to {mib} MiB; "
                                     "send larger files without metadata removal")
        else:
            self._emit(data)

    def close(self) -> FileEntry:
        """Finish the file (strip, encrypt the last chunk, fsync).

        Raises:
            InputError: Metadata removal failed on a damaged or hostile picture.
        """
        if not self._decided:
            self._decide()
        if self._buffer is not None:
            assert self.media_type is not None
            data = strip(bytes(self._buffer), self.media_type)
            self._buffer = None
            self._stripped = True
            self._emit(data)
        self._age.close()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        with open(self._sub.folder / self.part, "rb") as f:
            head = age_header(f)
        return FileEntry(self.part, self.name, self._emitted, hashlib.sha256(head).hexdigest(), self.media_type,
                         self._stripped)

    def abort(self) -> None:
        self._buffer = None
        self._f.close()


class Submission:
    """One submission being received. Call :meth:`commit` at the end or :meth:`abort` on error."""

    def __init__(self, inbox: Inbox, keys_lookup: str, reply_recipient: str, language: str, limits: Limits) -> None:
        self.inbox = inbox
        self.limits = limits
        self.id = _new_id()
        self.folder = inbox.root / "submissions" / self.id
        self.folder.mkdir(mode=0o700)
        self._lookup = keys_lookup
        self._reply_recipient = reply_recipient
        self._language = language
        self._files: list[FileEntry] = []
        self._open: FileSink | None = None
        self._total = 0
        self._statement: Statement | None = None

    def _account(self, n: int, file_size: int) -> None:
        self._total += n
        if file_size > self.limits.max_file:
            raise SizeLimitError(f"a file is larger than {self.limits.max_file // 2**20} MiB")
        if self._total > self.limits.max_total:
            raise SizeLimitError(f"the files together are larger than {self.limits.max_total // 2**20} MiB")

    def add_file(self, name: str, *, strip_metadata: bool) -> FileSink:
        """Start the next file; the previous one must be closed.

        Raises:
            SizeLimitError: More files than the limit allows.
        """
        if self._open is not None:
            raise UsageError("close the previous file first")
        if len(self._files) >= self.limits.max_files:
            raise SizeLimitError(f"at most {self.limits.max_files} files can be sent at once")
        # The name is the source's; it is kept only inside the encrypted manifest.
        safe = "".join(c for c in name if c.isprintable())[:255] or "unnamed"
        self._open = FileSink(self, f"file-{len(self._files) + 1:03d}.age", safe, strip_metadata)
        return self._open

    def close_file(self) -> FileEntry:
        assert self._open is not None
        sink, self._open = self._open, None
        entry = sink.close()
        self._files.append(entry)
        return entry

    def set_statement(self, statement: Statement) -> None:
        self._statement = statement

    @property
    def file_count(self) -> int:
        return len(self._files)

    def commit(self) -> SubmissionState:
        """Write the statement, the manifest, then ``COMMIT`` (the commit point).

        Raises:
            InputError: Nothing to submit (no file and an empty statement).
        """
        if self._open is not None:
            raise UsageError("a file is still open")
        st = self._statement
        if not self._files and (st is None or st.is_empty()):
            raise InputError("nothing to send: add a file or write a statement")
        st_sha = None
        if st is not None and not st.is_empty():
            st_sha = _encrypt_json(self.folder / "statement.age", self.inbox.recipient, st.to_json())
        day = self.id[:10]
        manifest = Manifest(self.id, day, self._lookup, self._reply_recipient, self._language,
                            tuple(self._files), st_sha)
        m_sha = _encrypt_json(self.folder / "manifest.age", self.inbox.recipient, manifest.to_json())
        commit = {"format": COMMIT_FORMAT, "version": VERSION, "submission": self.id, "received": day,
                  "files": len(self._files), "manifest_sha256": m_sha}
        atomic_write_bytes(self.folder / COMMIT, json.dumps(commit, sort_keys=True).encode() + b"\n", file_mode=0o600)
        _blur_times(*self.folder.iterdir(), self.folder, self.folder.parent)
        fsync_dir(self.folder.parent)
        return SubmissionState(self.id, day, len(self._files), True)

    def abort(self) -> None:
        """Remove the folder (a refused upload leaves nothing behind)."""
        if self._open is not None:
            self._open.abort()
            self._open = None
        shutil.rmtree(self.folder, ignore_errors=True)
        _blur_times(self.folder.parent)


@dataclass
class OpenedSubmission:
    """A committed submission whose manifest decrypted and whose ciphertexts match it."""

    state: SubmissionState
    manifest: Manifest
    folder: Path
    statement: Statement | None = None
    problems: list[str] = field(default_factory=list)


class Inbox:
    """An inbox folder (see the module docstring for the layout)."""

    def __init__(self, root: Path, recipient: str, salt: bytes, kdf: _codename.KdfParams) -> None:
        self.root = root
        self.recipient = recipient
        self.salt = salt
        self.kdf = kdf

    @classmethod
    def create(cls, root: Path, recipient: str, kdf: _codename.KdfParams = _codename.KdfParams()) -> Inbox:
        """Make a new inbox (the folder may exist but must be empty).

        Raises:
            InputError: ``recipient`` is not an age X25519 recipient, or the folder is not empty.
        """
        try:
            recipient_key(recipient)
        except ValueError as e:
            raise InputError(f"the recipient file does not hold an age recipient: {e}") from e
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(root.iterdir()):
            raise InputError(f"{root} is not empty and not a drop-box inbox")
        for sub in ("sources", "submissions", "replies"):
            (root / sub).mkdir(mode=0o700)
        salt = secrets.token_bytes(16)
        header = {"format": INBOX_FORMAT, "version": VERSION, "recipient": recipient.strip(),
                  "salt": base64.b64encode(salt).decode(), "kdf": kdf.to_json()}
        atomic_write_bytes(root / "inbox.json", json.dumps(header, indent=2).encode() + b"\n", file_mode=0o600)
        return cls(root, recipient.strip(), salt, kdf)

    @classmethod
    def open(cls, root: Path) -> Inbox:
        """Raises: NotFoundError: no inbox there. InputError: damaged header."""
        try:
            d = json.loads((root / "inbox.json").read_text("utf-8"))
        except FileNotFoundError as e:
            raise NotFoundError(f"no drop-box inbox at {root}: start `witnessbox dropbox serve` once to create it") from e
        except (OSError, ValueError) as e:
            raise InputError(f"the inbox header {root / 'inbox.json'} is unreadable: {e}") from e
        if not isinstance(d, dict) or d.get("format") != INBOX_FORMAT or d.get("version") != VERSION:
            raise InputError(f"{root / 'inbox.json'} is not a version-{VERSION} drop-box inbox")
        try:
            salt = base64.b64decode(d["salt"], validate=True)
            recipient_key(d["recipient"])
        except (KeyError, ValueError, TypeError) as e:
            raise InputError(f"the inbox header is damaged: {e}") from e
        return cls(root, d["recipient"], salt, _codename.KdfParams.from_json(d["kdf"]))

    @classmethod
    def open_or_create(cls, root: Path, recipient: str) -> Inbox:
        """The inbox at ``root``, created for ``recipient`` if absent.

        Raises:
            UsageError: The inbox exists for another recipient.
        """
        if (root / "inbox.json").exists():
            inbox = cls.open(root)
            if inbox.recipient != recipient.strip():
                raise UsageError(f"the inbox {root} encrypts to another recipient than the one given")
            return inbox
        return cls.create(root, recipient)

    # -- sources -------------------------------------------------------------------------------
    def derive(self, codename: str) -> _codename.SourceKeys | None:
        """The keys of a codename (slow on purpose), or None when it is not shaped like one."""
        norm = _codename.normalize(codename)
        return None if norm is None else _codename.derive(norm, self.salt, self.kdf)

    def _source_path(self, lookup: str) -> Path:
        if not _LOOKUP.fullmatch(lookup):
            raise UsageError("bad source lookup id")
        return self.root / "sources" / f"{lookup}.json"

    def register_source(self, keys: _codename.SourceKeys) -> None:
        """Record a new source's reply recipient (idempotent)."""
        path = self._source_path(keys.lookup)
        if not path.exists():
            data = {"reply_recipient": keys.recipient}
            atomic_write_bytes(path, json.dumps(data).encode() + b"\n", file_mode=0o600)
            _blur_times(path, path.parent)

    def source_exists(self, lookup: str) -> bool:
        return self._source_path(lookup).exists()

    def source_recipient(self, lookup: str) -> str:
        """Raises: NotFoundError: no such source."""
        try:
            return str(json.loads(self._source_path(lookup).read_text("utf-8"))["reply_recipient"])
        except (OSError, ValueError, KeyError) as e:
            raise NotFoundError("no such source in this inbox") from e

    # -- submissions ---------------------------------------------------------------------------
    def new_submission(self, keys: _codename.SourceKeys, *, language: str, limits: Limits = Limits()) -> Submission:
        """Start receiving a submission from a signed-in source."""
        if not self.source_exists(keys.lookup):
            raise NotFoundError("no such source in this inbox")
        return Submission(self, keys.lookup, keys.recipient, language, limits)

    def _folders(self) -> Iterator[Path]:
        base = self.root / "submissions"
        for p in sorted(base.iterdir()) if base.is_dir() else []:
            if p.is_dir() and _SUBMISSION_ID.fullmatch(p.name):
                yield p

    def submissions(self) -> list[SubmissionState]:
        """Every submission folder, committed or not (no key needed)."""
        out = []
        for p in self._folders():
            commit = self._read_commit(p)
            n = int(commit.get("files", 0)) if commit else len(list(p.glob("file-*.age")))
            out.append(SubmissionState(p.name, p.name[:10], n, commit is not None))
        return out

    def _read_commit(self, folder: Path) -> dict[str, Any] | None:
        try:
            d = json.loads((folder / COMMIT).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return d if isinstance(d, dict) else None

    def folder(self, submission_id: str) -> Path:
        """Raises: NotFoundError: no such submission."""
        if not _SUBMISSION_ID.fullmatch(submission_id) or not (self.root / "submissions" / submission_id).is_dir():
            raise NotFoundError(f"no submission {submission_id[:40]!r} in the inbox")
        return self.root / "submissions" / submission_id

    def open_submission(self, submission_id: str, identity: pyrage.x25519.Identity) -> OpenedSubmission:
        """Check a committed submission against its ``COMMIT`` and decrypt its manifest and statement.

        Each part's age header is checked against the manifest (a part swapped in from elsewhere
        has another header); the caller decrypts the parts, and age's authentication of every
        chunk under the file key that only this header wraps refuses any changed byte, and the
        size check a truncation at a chunk boundary.

        Raises:
            DropBoxError: Half-written, damaged, tampered, or not for this key.
        """
        folder = self.folder(submission_id)
        commit = self._read_commit(folder)
        if commit is None:
            raise DropBoxError(f"{submission_id} is half-written (no COMMIT): left untouched")
        if (commit.get("format"), commit.get("version"), commit.get("submission")) != (COMMIT_FORMAT, VERSION, submission_id):
            raise DropBoxError(f"{submission_id}: COMMIT does not describe this submission")
        manifest_blob = _read(folder / "manifest.age", submission_id)
        if hashlib.sha256(manifest_blob).hexdigest() != commit.get("manifest_sha256"):
            raise DropBoxError(f"{submission_id}: manifest.age does not match COMMIT (tampered)")
        manifest = Manifest.from_json(_decrypt_json(manifest_blob, identity, f"{submission_id}/manifest.age"))
        if manifest.submission != submission_id or manifest.received != commit.get("received") \
                or len(manifest.files) != commit.get("files"):
            raise DropBoxError(f"{submission_id}: the manifest does not match COMMIT (tampered)")
        expected = {f.part for f in manifest.files} | {"manifest.age", COMMIT}
        if manifest.statement_sha256:
            expected.add("statement.age")
        found = {p.name for p in folder.iterdir()}
        if found != expected:
            raise DropBoxError(f"{submission_id}: unexpected or missing files: "
                               f"{', '.join(sorted(found ^ expected))[:200]}")
        for f in manifest.files:
            if not re.fullmatch(r"file-\d{3}\.age", f.part):
                raise DropBoxError(f"{submission_id}: bad part name in the manifest")
            try:
                with open(folder / f.part, "rb") as fh:
                    head = age_header(fh)
            except (OSError, ValueError) as e:
                raise DropBoxError(f"{submission_id}/{f.part} is not an age file ({e})") from e
            if hashlib.sha256(head).hexdigest() != f.header_sha256:
                raise DropBoxError(f"{submission_id}/{f.part} is not the part the manifest lists (tampered)")
        statement = None
        if manifest.statement_sha256:
            blob = _read(folder / "statement.age", submission_id)
            if hashlib.sha256(blob).hexdigest() != manifest.statement_sha256:
                raise DropBoxError(f"{submission_id}/statement.age does not match the manifest (tampered)")
            statement = Statement.from_json(_decrypt_json(blob, identity, f"{submission_id}/statement.age"))
        state = SubmissionState(submission_id, manifest.received, len(manifest.files), True)
        return OpenedSubmission(state, manifest, folder, statement)

    # -- replies -------------------------------------------------------------------------------
    def write_reply(self, lookup: str, text: str) -> str:
        """Encrypt a reply to the source's reply recipient; its id.

        Raises:
            NotFoundError: No such source.
            InputError: Empty or huge reply.
        """
        if not text.strip():
            raise InputError("the reply is empty")
        if len(text) > STATEMENT_MAX:
            raise SizeLimitError(f"the reply is longer than {STATEMENT_MAX} characters")
        recipient = self.source_recipient(lookup)
        reply_id = _new_id()
        folder = self.root / "replies" / lookup
        folder.mkdir(mode=0o700, exist_ok=True)
        blob = pyrage.encrypt(json.dumps({"format": REPLY_FORMAT, "version": VERSION, "id": reply_id,
                                          "day": reply_id[:10], "text": text}, ensure_ascii=False).encode(),
                              [pyrage.x25519.Recipient.from_str(recipient)])
        atomic_write_bytes(folder / f"{reply_id}.age", blob, file_mode=0o600)
        _blur_times(folder / f"{reply_id}.age", folder, folder.parent)
        return reply_id

    def replies(self, keys: _codename.SourceKeys) -> list[Reply]:
        """Decrypt the source's replies with the key only its codename gives (oldest first)."""
        folder = self.root / "replies" / keys.lookup
        if not _LOOKUP.fullmatch(keys.lookup) or not folder.is_dir():
            return []
        identity = pyrage.x25519.Identity.from_str(keys.identity)
        out = []
        for p in sorted(folder.glob("*.age")):
            if not _REPLY_ID.fullmatch(p.stem):
                continue
            try:
                d = json.loads(pyrage.decrypt(p.read_bytes(), [identity]))
                if d.get("format") == REPLY_FORMAT and d.get("id") == p.stem:
                    out.append(Reply(p.stem, str(d["day"]), str(d["text"])))
            except (OSError, ValueError, KeyError, pyrage.DecryptError):
                continue  # a damaged reply is not shown; the archive can send it again
        return out


def age_header(f: IO[bytes]) -> bytes:
    """The header of an age v1 file and the 16-byte payload nonce after it.

    The header wraps the file key to the recipient (a fresh ephemeral share per file) and is
    MACed with it; the payload is authenticated chunk by chunk under a key derived from the file
    key and this nonce. So these bytes pin the whole file: no other ciphertext that decrypts can
    start with them unless its writer knew the file key, which only the receiving server held,
    in memory, while writing.

    Raises:
        ValueError: Not an age v1 file.
    """
    head = f.read(8192)
    if not head.startswith(b"age-encryption.org/v1\n"):
        raise ValueError("no age v1 header")
    mac_line = head.find(b"\n--- ")
    end = head.find(b"\n", mac_line + 1) if mac_line >= 0 else -1
    if end < 0 or len(head) < end + 1 + 16:
        raise ValueError("truncated age header")
    return head[: end + 1 + 16]


def _read(path: Path, sid: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DropBoxError(f"{sid}/{path.name} is missing or unreadable ({e.strerror})") from e


def _decrypt_json(blob: bytes, identity: pyrage.x25519.Identity, what: str) -> dict[str, Any]:
    try:
        d = json.loads(pyrage.decrypt(blob, [identity]))
    except pyrage.DecryptError as e:
        raise DropBoxError(f"{what} cannot be decrypted with the archive key (damaged, tampered or for another archive)") from e
    except ValueError as e:
        raise DropBoxError(f"{what} is not JSON") from e
    if not isinstance(d, dict):
        raise DropBoxError(f"{what} is not a JSON object")
    return d
