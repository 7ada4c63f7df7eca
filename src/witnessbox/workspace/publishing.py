"""Use case: approve reviewed derivatives and publish the public site (``ws.publishing``).

``approve`` records that a person reviewed a redacted copy, and is refused unless the review of
``ws.review`` is complete (:meth:`witnessbox.workspace.review.Review.approve`); only approved
derivatives of kind ``redacted`` can reach the site. ``publish``
runs the fail-closed gate (:mod:`witnessbox.publish.gate`) over the catalog and the archive
records, re-encodes what passed and builds the site (:mod:`witnessbox.publish.builder`); every
left-out medium is reported. Both are logged; the publish entry names every derivative
published and the sha256 of the site manifest.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from ..catalog import Approval, Catalog, Change
from ..errors import InputError, PublishError
from ..publish.builder import MANIFEST, BuildReport, Progress, build_site
from ..publish.gate import GateResult, ItemInfo, select
from ..publish.site import SiteOptions

if TYPE_CHECKING:
    from .core import Workspace

PUBLISHABLE_KINDS = frozenset({"redacted"})
"""Derivation kinds a person may approve for publication (redacted copies only)."""


class Publishing:
    """Approval and publication for one open archive."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        # The builder re-encodes in threads; the workspace (log cache, SQL index sync) is not
        # meant for concurrent use, so reads of the archive are serialised.
        self._read_lock = threading.Lock()

    @property
    def _catalog(self) -> Catalog:
        return Catalog(self._ws.engine)

    def _log(self, change: Change) -> None:
        self._ws.log_action(change.action, change.objects, dict(change.details))

    def approve(self, item: str, *, reviewer: str | None = None) -> Approval:
        """Approve a redacted copy for publication as ``reviewer``, through the review checks.

        The same checks as the review screen (``ws.review``; docs/review.md): the item is a
        redacted derivative with a regions file naming its original, every track and every
        suggestion is decided, every frame was shown to this reviewer and nothing is unsaved.
        There is no way around them: an approval by accident is impossible on every path.
        Logged (``approve`` with the reviewer as actor, and ``review.approve``).

        Args:
            item: The redacted copy (id or unique prefix); an original is refused, not resolved
                to its newest copy (approve what you reviewed).
            reviewer: Who approves (default: ``$WITNESSBOX_ACTOR``, the signed-in identity, or
                the login name).

        Raises:
            NotFoundError: no such item.
            InputError: the item is an original, not a redacted copy, or has no regions file,
                or its regions file names another original.
            ReviewError: the review is not complete (the message says what is missing).
        """
        rec = self._ws.item(item)
        if rec.parent is None:
            raise InputError(
                f"{rec.sha256[:16]} is an original: only a redacted derivative can be approved; redact it first"
            )
        review = self._ws.review.open(rec.sha256, reviewer or config.actor(), log=False)
        return review.approve()

    def revoke(self, item: str) -> None:
        """Withdraw an approval; logged (action ``approve.revoke``).

        Raises:
            NotFoundError: no such item or not approved.
        """
        sha = self._ws.resolve(item)
        with self._ws.transaction():
            self._catalog.revoke(sha, self._log)

    def approvals(self) -> dict[str, Approval]:
        """Current approvals by derivative sha256."""
        return self._catalog.approvals()

    def _read(self, sha: str) -> bytes:
        with self._read_lock, self._ws.open_original(sha) as f:
            return f.read()

    def gate(self) -> tuple[GateResult, frozenset[str]]:
        """What would be published now, and the sha256 of every original (for the output check)."""
        records = self._ws.items()
        items = {
            r.sha256: ItemInfo(
                r.sha256, r.parent, r.media_type, r.derivation.kind if r.derivation else "",
                functools.partial(self._read, r.sha256),
            )
            for r in records
        }
        approvals = {k: a.at for k, a in self._catalog.approvals().items()}
        # An archive that requires two reviewers counts only copies approved by two different
        # ones (ws.review); any failure to tell propagates, so nothing is published by default.
        approvals = self._ws.review.publishable(approvals)
        result = select(self._ws.incidents.list(), items, approvals, allowed_kinds=PUBLISHABLE_KINDS)
        return result, frozenset(r.sha256 for r in records if r.parent is None)

    def publish(
        self,
        outdir: Path,
        *,
        lang: str = "en",
        title: str = "",
        base_url: str = "",
        strict: bool = False,
        progress: Progress | None = None,
        languages: tuple[str, ...] = (),
        media_from: Path | None = None,
        allow_removals: bool = False,
    ) -> BuildReport:
        """Build or update the public site in ``outdir``; logged (action ``publish``).

        Args:
            outdir: New or empty folder, or a site built before by witnessbox.
            lang: Interface language (``en``, ``be`` or ``ru``).
            title: Site title (default: the translated "Incident registry").
            base_url: Public URL of the site, for absolute links in the Atom feed.
            strict: Refuse to publish when any linked medium would be left out (by the gate, or
                because it cannot be re-encoded).
            progress: Called with (stage, done, total).
            languages: Set when this site is one of several built side by side under
                ``../<lang>/`` (:meth:`publish_all`): every page links its translations.
            media_from: A site built just before from the same gate (another language): its
                re-encoded media are copied (checked by SHA-256) instead of encoded again.
            allow_removals: Let the build remove pages of incidents the site publishes now
                (they were unpublished). Without it such a build is refused, so that a lost
                or damaged catalog never empties a published registry.

        Raises:
            PublishError: ``strict`` and media would be left out, incidents published
                now would be removed (without ``allow_removals``), a published file would equal
                an original, or OUTDIR is not a site; nothing was published.
            PassphraseError: wrong passphrase (needed to decrypt derivatives and to log).
        """
        self._ws.require_writable()  # the publication is logged: refuse before building
        gate, originals = self.gate()
        if strict and gate.left_out:
            raise PublishError(f"{len(gate.left_out)} linked media would be left out (first: {gate.left_out[0]})")
        if any(gate.media.values()):
            self._ws.unlock()  # unlock once here, not concurrently in the encoding threads
        kinds = {k.slug: k.label for k in self._ws.units.kinds()}
        report = build_site(
            Path(outdir), gate, self._ws.incidents.regions(), self._ws.incidents.categories(),
            originals=originals, options=SiteOptions(lang=lang, title=title, base_url=base_url, languages=languages),
            progress=progress, strict=strict, units=self._ws.units.list(), unit_kinds=kinds, media_from=media_from,
            allow_removals=allow_removals,
        )
        manifest_sha = hashlib.sha256((report.outdir / MANIFEST).read_bytes()).hexdigest()
        published = sorted({m.derivative.sha256 for ms in gate.media.values() for m in ms})
        self._ws.log_action(
            "publish",
            published,
            {
                "outdir": str(report.outdir),
                "lang": lang,
                "incidents": report.incidents,
                "media": report.media,
                "left_out": len(report.left_out),
                "manifest_sha256": manifest_sha,
            },
        )
        return report

    def publish_all(
        self,
        outdir: Path,
        *,
        title: str = "",
        base_url: str = "",
        strict: bool = False,
        progress: Progress | None = None,
        allow_removals: bool = False,
    ) -> list[BuildReport]:
        """Build the site in every interface language, under ``OUTDIR/<lang>/``, each logged.

        ``allow_removals`` is passed to each build (see :meth:`publish`).

        ``OUTDIR/index.html`` lets a visitor choose a language. Each language tree is built and
        committed like a single site (fail closed, atomic, incremental); all come from the same
        gate, so a later language failing cannot publish anything an earlier one did not.

        Raises:
            PublishError: OUTDIR holds something other than witnessbox sites; or as :meth:`publish`.
        """
        from .._fsutil import atomic_write_bytes
        from ..publish.builder import STATE_FILE
        from ..publish.text import LANGUAGES

        root = Path(outdir)
        marker = root / ROOT_MARKER
        if root.exists() and any(root.iterdir()) and not marker.is_file():
            raise PublishError(f"{root} is not empty and was not built by witnessbox --all-languages: choose a new or empty folder")
        for lang in LANGUAGES:
            sub = root / lang
            if sub.exists() and any(sub.iterdir()) and not (sub / STATE_FILE).is_file():
                raise PublishError(f"{sub} is not a witnessbox site: choose a new or empty folder")
        root.mkdir(parents=True, exist_ok=True)
        order = tuple(sorted(LANGUAGES, key=("be", "ru", "en").index))
        atomic_write_bytes(marker, (json.dumps({"format": "witnessbox-sites-1", "languages": list(order)}) + "\n").encode())
        reports: list[BuildReport] = []
        for lang in order:
            reports.append(self.publish(
                root / lang, lang=lang, title=title, base_url=f"{base_url.rstrip('/')}/{lang}/" if base_url else "",
                strict=strict, progress=progress, languages=order, media_from=root / order[0] if reports else None,
                allow_removals=allow_removals,
            ))
        atomic_write_bytes(root / "index.html", _chooser(order))
        return reports


ROOT_MARKER = ".witnessbox-sites.json"


def _chooser(langs: tuple[str, ...]) -> bytes:
    """The language chooser at the root of a multi-language site (no script, no request)."""
    from ..publish.site import LANGUAGE_NAMES

    links = "\n".join(f'<li><a href="{lang}/index.html" hreflang="{lang}" lang="{lang}">{LANGUAGE_NAMES[lang]}</a></li>' for lang in langs)
    return (
        '<!DOCTYPE html>\n<html lang="be">\n<head>\n<meta charset="utf-8">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; base-uri 'none'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n<meta name="referrer" content="no-referrer">\n'
        f"<title>witnessbox</title>\n</head>\n<body>\n<ul>\n{links}\n</ul>\n</body>\n</html>\n"
    ).encode("utf-8")
