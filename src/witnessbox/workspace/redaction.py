"""Redaction inside an archive: a sealed, logged redacted copy of an item (``ws.redaction``)."""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..media.credentials import SUPPORTED_TYPES
from ..media.formats import media_kind, output_name
from ..redact.pipeline import ProgressHook, Redactor, RedactOptions, _no_progress
from ..redact.regions import RegionsFile, regions_path
from ..redact.suggestions import SuggestionsFile

if TYPE_CHECKING:
    from ..ledger.records import ItemRecord
    from .core import Workspace


class Redaction:
    """The redaction use cases of one open archive.

    The original is decrypted to a private temporary file only for the time of the redaction;
    the redacted copy and its regions file are sealed with ``ws.add_derivative`` (its record
    names the original as ``parent``, the method and the regions file) and the action is
    appended to the custody log. Fail closed: if anything fails, nothing is sealed.
    """

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def redact_item(
        self,
        id_prefix: str,
        *,
        options: RedactOptions | None = None,
        regions: Path | None = None,
        progress: ProgressHook = _no_progress,
    ) -> ItemRecord:
        """Redact an archived photo or video and seal the copy as a derivative.

        Args:
            id_prefix: The item's sha256 or a unique prefix of it.
            options: Detection and fill settings (defaults: docs/redaction.md).
            regions: Re-render from this reviewed regions file instead of detecting.
            progress: Told about frames done.

        Returns:
            The record of the sealed redacted copy (``parent`` = the original).

        Raises:
            NotFoundError: No such item.
            UnsupportedMediaError: The item is not a supported photo or video.
            InputError: The item cannot be decoded, or the regions file does not fit it.
            RedactionError: Detection or rendering failed (nothing sealed).
            PassphraseError: Wrong or missing passphrase.
        """
        return self.redact_reviewed(id_prefix, options=options, regions=regions, progress=progress)

    def redact_reviewed(
        self,
        id_prefix: str,
        *,
        options: RedactOptions | None = None,
        regions: Path | RegionsFile | None = None,
        suggestions: SuggestionsFile | None = None,
        sidecars: Mapping[str, bytes] | None = None,
        actor: str | None = None,
        redactor: Redactor | None = None,
        progress: ProgressHook = _no_progress,
    ) -> ItemRecord:
        """:meth:`redact_item` with what a review adds (``ws.review`` saves through this).

        Args:
            suggestions: Written beside the re-rendered regions file (a review keeps them).
            sidecars: More files sealed beside the copy (the review record), by name.
            actor: Who is logged as having redacted (the reviewer).
            redactor: Use this redactor (tests give one with a scripted detector).
        """
        ws = self._ws
        ws.require_writable()  # the copy is sealed into the archive: refuse before any work
        sha = ws.resolve(id_prefix)
        rec = ws.item(sha)
        media_kind(Path(rec.name))
        opts = options or (redactor.options if redactor is not None else RedactOptions())
        redactor = redactor or Redactor(opts, workers=1)
        tmp_root = ws.root / "tmp"
        tmp_root.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="redact-", dir=tmp_root) as td:
            out = Path(td) / output_name(Path(rec.name))
            with ws.plaintext_path(sha) as src:
                res = redactor.redact_file(src, out, regions=regions, progress=progress, name=rec.name,
                                           suggestions=suggestions)
            side = regions_path(out)
            seal = {side.name: side}
            if res.suggestions_file is not None:
                seal[res.suggestions_file.name] = res.suggestions_file
            for name, data in (sidecars or {}).items():
                extra = Path(td) / name
                extra.write_bytes(data)
                seal[name] = extra
            method = f"witnessbox-redact fill={opts.fill.value}" + (" regions=reviewed" if regions else "")
            sealed, credentials = self._with_content_credentials(out, sha, method, res.regions)
            with ws.transaction():
                derived = ws.add_derivative(sha, sealed, kind="redacted", method=method, sidecars=seal)
                ws.log_action(
                    "redact",
                    [sha, derived.sha256],
                    {
                        "fill": opts.fill.value,
                        "regions": res.regions,
                        "frames": res.frames,
                        "regions_file": side.name,
                        "reviewed": regions is not None,
                        "content_credentials": credentials,
                    },
                    actor=actor,
                )
        return derived

    def _with_content_credentials(self, out: Path, parent: str, method: str, regions: int) -> tuple[Path, bool]:
        """Sign the redacted copy with a C2PA manifest (issue 5): the action and the original's
        sha256 only, never its pixels or metadata. Formats C2PA cannot carry (TIFF, GIF...) are
        sealed without one; any other failure fails the redaction (nothing is sealed).

        Returns:
            The file to seal (same name as ``out``) and whether it carries credentials.
        """
        media_type = mimetypes.guess_type(out.name)[0] or "application/octet-stream"
        if media_type not in SUPPORTED_TYPES:
            return out, False
        signed_dir = out.parent / "signed"
        signed_dir.mkdir()
        signed = signed_dir / out.name
        self._ws.exports.sign_redacted_file(
            out, signed, media_type, parent_sha256=parent, method=method, description=f"{regions} regions hidden"
        )
        return signed, True

