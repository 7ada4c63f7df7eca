"""Use case: hand evidence over as packages a court can verify offline; content credentials.

``ws.exports`` (created lazily) offers:

- :meth:`Exports.export`: items and incidents to a BagIt package (``witnessbox export``);
- :meth:`Exports.verify`: every check on a package, with the standard tools too
  (``witnessbox verify-export``);
- :meth:`Exports.ensure_content_credentials` and :meth:`Exports.sign_redacted_copy`: the
  archive's C2PA chain and the one call the redaction flow makes for each redacted copy.

Determinism: a package holds the custody entries that concern its items (never earlier
``export`` entries, which would make each export differ from the last) with proofs into the
oldest stored checkpoint that covers them all, so exporting the same items twice gives the
same bytes except the bag date. The export itself is then logged (action ``export``, the
items, the recipient and the SHA-256 of the package's payload manifest).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExportError, InputError, NotFoundError, UsageError, WitnessboxError
from ..catalog.transfer import incident_record
from ..export import bag_verifier
from ..export.bag import opened_bag
from ..export.package import PackageEntry, PackageInput, PackageItem, PackageSummary, item_suffix, write_package
from ..export.timestamp import Timestamp, request_timestamp
from ..ledger.merkle import inclusion_path
from ..media import credentials as _cc
from ._reports import Progress

if TYPE_CHECKING:
    from .core import Workspace

#: Custody actions left out of packages: by-products of exporting (the module docstring says
#: why); they stay in the archive's own log.
_NOT_EXPORTED = frozenset({"export", "catalog.testimony.read"})


@dataclass(frozen=True)
class ToolCheck:
    """One standard tool run over a package."""

    command: str
    ok: bool
    output: str


@dataclass(frozen=True)
class ExportVerification:
    """Outcome of :meth:`Exports.verify`: the built-in verifier and the standard tools."""

    ok: bool
    report: bag_verifier.Report
    tools: tuple[ToolCheck, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verifier": self.report.to_json(),
            "tools": [{"command": t.command, "ok": t.ok, "output": t.output} for t in self.tools],
            "notes": list(self.notes),
        }


class Exports:
    """Evidence packages and content credentials of one open archive."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    # -- selection ---------------------------------------------------------------------------
    def _incident(self, selector: str, include_testimonies: bool) -> tuple[dict[str, Any], list[str]] | None:
        """An incident's exportable JSON and its linked item ids, or None if ``selector``
        names no incident. Testimonies only on request; witness contacts never."""
        try:
            incidents = self._ws.incidents
        except ImportError:  # the incidents capability is not in this build
            return None
        try:
            inc = incidents.get(selector)
        except (NotFoundError, UsageError, InputError):
            return None
        data = incident_record(inc)
        data["links"] = [{"item": link.item, "role": str(getattr(link.role, "value", link.role))} for link in inc.links]
        if include_testimonies:
            data["testimonies"] = []
            # Any: Incidents defines a method named `list`, which confuses mypy's view of its returns.
            infos: Any = incidents.testimonies(inc.id)
            for info in infos:
                t = incidents.read_testimony(info.id)
                # Only these three fields are copied: the witness contact never enters a package.
                data["testimonies"].append({"language": t.language, "given_on": t.given_on, "text": t.text})
        return data, [link.item for link in inc.links]

    def _select(self, selectors: Sequence[str], include_testimonies: bool) -> tuple[list[str], list[dict[str, Any]], list[str]]:
        """Item sha256s (originals with their derivatives), incidents, incident ids."""
        ws = self._ws
        items: dict[str, None] = {}
        incidents: list[dict[str, Any]] = []
        incident_ids: list[str] = []
        for sel in selectors:
            inc = self._incident(sel, include_testimonies)
            if inc is not None:
                data, ids = inc
                incidents.append(data)
                incident_ids.append(str(data.get("id", sel)))
                shas = [ws.resolve(i) for i in ids]
            else:
                try:
                    shas = [ws.resolve(sel)]
                except (NotFoundError, UsageError) as e:
                    if isinstance(e, UsageError) and "several items" in e.message:
                        raise
                    raise NotFoundError(f"no incident or item {sel!r}: see `witnessbox incident list` and `witnessbox list`") from e
            for sha in shas:
                # An original brings its derivatives; a derivative brings its parents.
                rec = ws.item(sha)
                chain = [rec.sha256]
                while rec.parent:
                    rec = ws.item(rec.parent)
                    chain.append(rec.sha256)
                for s in chain:
                    items.setdefault(s, None)
                for child in self._descendants(sha):
                    items.setdefault(child, None)
        return list(items), incidents, incident_ids

    def _descendants(self, sha256: str) -> list[str]:
        out: list[str] = []
        todo = [sha256]
        while todo:
            for child in self._ws.children(todo.pop()):
                if child.sha256 not in out:
                    out.append(child.sha256)
                    todo.append(child.sha256)
        return out

    # -- custody -----------------------------------------------------------------------------
    def _custody(self, objects: Iterable[str]) -> tuple[bytes, bytes, int, list[PackageEntry]]:
        ws = self._ws
        seqs: set[int] = set()
        for obj in objects:
            # Exact: the objects are full item ids and incident ids, never prefixes.
            seqs.update(e.seq for e in ws.log(obj, exact=True) if e.action not in _NOT_EXPORTED)
        need = max(seqs) + 1 if seqs else 1
        sizes = [s for s in ws.checkpoint_sizes() if s >= need]
        if not sizes:
            ws.checkpoint()
            sizes = [s for s in ws.checkpoint_sizes() if s >= need]
        size = sizes[0]
        cp_bytes, cp_sig = ws.read_checkpoint(size)
        leaves = ws.log_leaves(size)
        entries = [PackageEntry(seq, ws.log_entry_bytes(seq), tuple(inclusion_path(seq, leaves))) for seq in sorted(seqs)]
        return cp_bytes, cp_sig, size, entries

    # -- export ------------------------------------------------------------------------------
    def export(
        self,
        selectors: Sequence[str],
        out: Path,
        *,
        zip_output: bool = False,
        recipient: str | None = None,
        tsa_url: str | None = None,
        include_testimonies: bool = False,
        bagging_date: str | None = None,
        progress: Progress | None = None,
    ) -> PackageSummary:
        """Write an evidence package of the given incidents and items to ``out``; logged.

        Args:
            selectors: Incident ids and item id prefixes; an original brings its redacted
                copies, a copy brings its original.
            out: A new folder (or, with ``zip_output``, a new ``.zip`` file).
            zip_output: Write one deterministic zip instead of a folder.
            recipient: To whom it goes (recorded in the package and the custody log).
            tsa_url: An RFC 3161 timestamp authority to timestamp the checkpoint.
            include_testimonies: Put incidents' testimonies in (never witness contacts).
            bagging_date: ``YYYY-MM-DD`` for ``bag-info.txt`` (default: today, UTC).
            progress: Called as originals are copied (bytes).

        Raises:
            UsageError: No selector, or a malformed date.
            NotFoundError: A selector names no incident or item.
            PassphraseError: Wrong or missing passphrase (nothing written).
            ExportError: ``out`` exists, the TSA failed, or writing failed (nothing written).
            IntegrityError: A stored original does not match its record (nothing written).
        """
        ws = self._ws
        ws.require_writable()  # the export is logged: refuse before any work
        if not selectors:
            raise UsageError("name at least one incident or item to export")
        date = bagging_date or dt.datetime.now(dt.timezone.utc).date().isoformat()
        try:
            dt.date.fromisoformat(date)
        except ValueError as e:
            raise UsageError(f"bagging date {date!r} is not YYYY-MM-DD") from e
        out = Path(out)
        if out.exists():
            raise ExportError(f"{out} already exists; choose a new path")
        ws.unlock()  # a wrong passphrase fails here, before anything is read or written
        shas, incidents, incident_ids = self._select(selectors, include_testimonies)
        cp_bytes, cp_sig, size, entries = self._custody([*shas, *incident_ids])
        timestamp: Timestamp | None = request_timestamp(tsa_url, cp_bytes) if tsa_url else None
        items = [self._package_item(sha) for sha in shas]
        has_derivatives = any(i.role == "derivative" for i in items)
        ca = _cc.load_chain(self._keys_dir).ca_pem if has_derivatives and _cc.has_chain(self._keys_dir) else None
        pkg = PackageInput(
            public_key_pem=ws.public_key_pem,
            items=items,
            checkpoint_bytes=cp_bytes,
            checkpoint_sig=cp_sig,
            tree_size=size,
            entries=entries,
            incidents=incidents if incidents else None,
            recipient=recipient,
            c2pa_ca_pem=ca,
            timestamp=timestamp,
            sign=ws.sign,
        )
        try:
            summary = write_package(out, pkg, zip_output=zip_output, bagging_date=date, progress=progress)
        except WitnessboxError:
            raise
        except OSError as e:
            raise ExportError(f"cannot write {out}: {e.strerror}") from e
        try:
            ws.log_action(
                "export",
                [*shas, *incident_ids],
                {
                    "recipient": recipient,
                    "manifest_sha256": summary.manifest_sha256,
                    "tree_size": size,
                    "zip": zip_output,
                    "timestamped": timestamp is not None,
                    "testimonies": include_testimonies,
                },
            )
        except BaseException:
            # Commit order: package, then log entry. An export the log does not record must
            # not stay on disk, or evidence would leave the archive without a trace.
            if out.is_dir():
                shutil.rmtree(out, ignore_errors=True)
            else:
                out.unlink(missing_ok=True)
            raise
        return summary

    def _package_item(self, sha: str) -> PackageItem:
        ws = self._ws
        rec = ws.item(sha)
        rec_path = ws.record_path(sha)
        return PackageItem(
            sha256=sha,
            role="derivative" if rec.parent else "original",
            record_bytes=rec_path.read_bytes(),
            record_sig=rec_path.with_name(rec_path.name + ".sig").read_bytes(),
            suffix=item_suffix(rec.name),
            open_plaintext=lambda: ws.open_original(sha),
            sidecars=ws.sidecars(sha),
            parent=rec.parent,
            size=rec.size,
        )

    # -- verification ------------------------------------------------------------------------
    def verify(self, path: Path, *, tsa_root_pem: bytes | None = None, run_tools: bool = True) -> ExportVerification:
        """Same as :meth:`verify_package` (verifying needs no archive)."""
        return self.verify_package(path, tsa_root_pem=tsa_root_pem, run_tools=run_tools)

    @staticmethod
    def verify_package(path: Path, *, tsa_root_pem: bytes | None = None, run_tools: bool = True) -> ExportVerification:
        """Check a package (folder or zip): the built-in verifier, ``sha256sum -c`` on both
        manifests and ``openssl`` on every signature when those tools exist.

        The package's own ``verify.py`` is not executed (it came with the package); it is
        compared with this witnessbox's copy instead.

        Raises:
            ExportError: ``path`` is not a bag folder or a zip holding one.
        """
        damaged: list[tuple[str, str]] = []
        with opened_bag(Path(path), damaged) as root:
            report = bag_verifier.verify_bag(root)
            for member, reason in damaged:
                report.fail(member, reason)
            tools: list[ToolCheck] = []
            notes: list[str] = list(report.notes)
            if run_tools:
                tools += _run_standard_tools(root, report)
            ours = Path(bag_verifier.__file__).read_bytes()
            shipped = root / "verify.py"
            if shipped.is_file() and shipped.read_bytes() != ours:
                notes.append("verify.py differs from this witnessbox's verifier (made by another version?)")
            ts = root / "data" / "custody" / "checkpoint.json.tsr"
            if ts.is_file() and tsa_root_pem is not None:
                from ..export.timestamp import verify_timestamp

                try:
                    when = verify_timestamp(ts.read_bytes(), (root / "data/custody/checkpoint.json").read_bytes(), tsa_root_pem)
                    notes.append(f"trusted timestamp: {when}")
                except ExportError as e:
                    report.fail("data/custody/checkpoint.json.tsr", e.detail)
            elif ts.is_file():
                notes.append("the package has a trusted timestamp; give the TSA's root certificate to check it")
        ok = report.ok and all(t.ok for t in tools)
        return ExportVerification(ok=ok, report=report, tools=tuple(tools), notes=tuple(notes))

    # -- content credentials -----------------------------------------------------------------
    @property
    def _keys_dir(self) -> Path:
        return self._ws.root / "keys"

    def ensure_content_credentials(self) -> _cc.CredentialChain:
        """The archive's C2PA chain, made now (and logged) if the archive has none.

        Raises:
            PassphraseError: Wrong or missing passphrase.
        """
        if _cc.has_chain(self._keys_dir):
            return _cc.load_chain(self._keys_dir)
        ws = self._ws
        ws.unlock()
        with ws.transaction():
            chain = _cc.create_chain(self._keys_dir, ws.verified_passphrase())
            ws.log_action("content-credentials-init", [], {"ca_sha256": _sha256(chain.ca_pem), "signer_sha256": _sha256(chain.signer_pem), "not_after": chain.not_after})
        return chain

    def sign_redacted_copy(self, data: bytes, media_type: str, *, parent_sha256: str, method: str, description: str | None = None) -> bytes:
        """Embed content credentials in a redacted copy before it is sealed.

        The redaction flow calls this on the final bytes of each copy (after metadata is
        stripped) and seals what it returns with ``ws.add_derivative``.

        Raises:
            UnsupportedMediaError: The media type cannot carry C2PA.
            PassphraseError: Wrong or missing passphrase.
            ArchiveError: The C2PA library refused.
        """
        self.ensure_content_credentials()
        return _cc.sign_redacted(
            data, media_type, keys_dir=self._keys_dir, passphrase=self._ws.verified_passphrase(),
            parent_sha256=parent_sha256, method=method, description=description,
        )


    def sign_redacted_file(self, src: Path, dst: Path, media_type: str, *, parent_sha256: str, method: str, description: str | None = None) -> Path:
        """:meth:`sign_redacted_copy` from file to file, streamed (for videos); ``dst`` is
        written atomically and must be sealed by the caller with ``ws.add_derivative``.

        Raises:
            Same as :meth:`sign_redacted_copy`.
        """
        self.ensure_content_credentials()
        return _cc.sign_redacted_file(
            src, dst, media_type, keys_dir=self._keys_dir, passphrase=self._ws.verified_passphrase(),
            parent_sha256=parent_sha256, method=method, description=description,
        )


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _run_standard_tools(root: Path, report: bag_verifier.Report) -> list[ToolCheck]:
    tools: list[ToolCheck] = []
    if shutil.which("sha256sum"):
        for m in (bag_verifier.MANIFEST, bag_verifier.TAGMANIFEST):
            p = subprocess.run(["sha256sum", "--quiet", "-c", m], cwd=root, capture_output=True, text=True, timeout=3600)
            tools.append(ToolCheck(f"sha256sum -c {m}", p.returncode == 0, (p.stdout + p.stderr).strip()))
    openssl = shutil.which("openssl")
    if openssl:
        sigs = sorted(p.relative_to(root).as_posix() for p in (root / "data").rglob("*.sig"))
        bad = []
        for sig in sigs:
            target = sig[: -len(".sig")]
            p = subprocess.run(
                [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", bag_verifier.PUBLIC_KEY, "-rawin", "-in", target, "-sigfile", sig],
                cwd=root, capture_output=True, text=True, timeout=60,
            )
            if p.returncode != 0:
                bad.append(target)
        tools.append(ToolCheck(f"openssl pkeyutl -verify -rawin ({len(sigs)} signatures)", not bad, "failed: " + ", ".join(bad) if bad else "all verified"))
    return tools
