"""CLI commands of the archive: init, add, list, show, log, verify, extract, reindex, proof.

Each command is a few lines over :class:`witnessbox.workspace.Workspace`. The passphrase comes
from ``$WITNESSBOX_PASSPHRASE`` or a hidden prompt, asked only when a key is needed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from .. import config
from ..errors import IntegrityError, InputError, UsageError
from ._common import byte_progress as _progress
from ._common import err as _err
from ._common import out as _out
from ._common import safe as _safe
from ._common import open_workspace as _open
from ._common import print_json as _print_json
from ._common import styled, table, unlock_before_progress

ArchiveOpt = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive).")
JsonOpt = typer.Option(False, "--json", help="Print JSON for scripts.")


def init(
    path: Path = typer.Argument(None, hidden=True, help="Old spelling of --archive."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Folder to create (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive)."),
    no_encryption: bool = typer.Option(False, "--no-encryption", help="Store originals unencrypted (public material only)."),
    object_lock: int = typer.Option(None, "--object-lock", metavar="DAYS", help="With $WITNESSBOX_STORE_URL: keep every blob under S3 Object Lock (compliance mode) for DAYS."),
) -> None:
    """Create a new archive and its keys (blobs in $WITNESSBOX_STORE_URL when set)."""
    from ..workspace import Workspace

    if path is not None and archive is not None and path != archive:
        raise UsageError("give the folder once: `witnessbox init -A FOLDER`")
    target = config.archive_path(archive or path)
    if object_lock is not None and not config.store_url():
        raise UsageError(f"--object-lock needs object storage: set {config.ENV_STORE_URL}=s3://BUCKET/PREFIX")
    passphrase = config.passphrase_from_env()
    if passphrase is None:
        if not sys.stdin.isatty():
            raise UsageError("no passphrase: set WITNESSBOX_PASSPHRASE (stdin is not a terminal)")
        passphrase = typer.prompt("New archive passphrase", hide_input=True, confirmation_prompt=True)
    ws = Workspace.init(target, passphrase, encrypted=not no_encryption, object_lock_days=object_lock)
    where = f", blobs in {_safe(ws.store.blobs.url)}" if ws.store.blobs.url else ""
    _err.print(f"created archive {_safe(str(ws.root))} ({'unencrypted' if no_encryption else 'encrypted'}), key id {ws.key_id[:16]}{where}")


def add(
    paths: list[Path] = typer.Argument(..., help="Files and folders (recursive)."),
    source: str = typer.Option(None, "--source", help="How it came in (e.g. 'Signal from a witness')."),
    note: str = typer.Option(None, "--note", help="Free note stored in the signed record."),
    captured_at: str = typer.Option(None, "--captured-at", help="When it was filmed, as told by the sender."),
    place: str = typer.Option(None, "--place", help="Where it was filmed, as told by the sender."),
    allow_damaged: bool = typer.Option(False, "--allow-damaged", help="Seal truncated or corrupt media as is, without metadata."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Seal files and folders into the archive (duplicates are logged, not stored twice).

    ProofMode proof files beside a media file (and ProofMode zips) are kept as its sidecars
    and their OpenPGP signatures checked and logged.
    """
    ws = _open(archive)
    ws.require_writable()
    unlock_before_progress(ws)
    start = ws.log_store.size()
    try:
        with _progress("sealing", not as_json) as cb:
            report = ws.add(paths, source=source, note=note, captured_at=captured_at, place=place,
                            allow_damaged=allow_damaged, progress=cb)
    except KeyboardInterrupt:
        _report_interrupted(ws, start)
        raise typer.Exit(130) from None
    if as_json:
        _print_json(report.to_json())
    else:
        for r in report.added:
            _out.print(f"sealed    {r.sha256[:16]}  {_safe(r.name)}")
        for d in report.duplicates:
            _out.print(f"duplicate {d.sha256[:16]}  {_safe(d.path)} (receipt logged)")
        for s in report.skipped:
            _err.print(f"skipped   {_safe(s.path)}: {_safe(s.error)}")
        for pm in report.proofmode:
            c = pm.check
            state: str | tuple[str, str] = f"signed by {c.signer_fingerprint} ({c.method})" if c.ok else ("does NOT verify", "bold red")
            _out.print(styled(f"proofmode {pm.sha256[:16]}  {len(pm.sidecars)} proof files kept, ", state))
    for w in report.warnings:
        _err.print(f"warning: {_safe(w)}")
    for f in report.failed:
        _err.print(styled(("error:", "bold red"), " ", f.error))
    if report.failed:
        # An error, not typer.Exit: main() runs the app with standalone_mode=False.
        done = len(report.added) + len(report.duplicates)
        raise InputError(f"{len(report.failed)} input(s) not sealed (listed above); {done} other(s) were sealed or already there:"
                         " fix or remove the failed ones and run the same command again")


def _report_interrupted(ws: object, start: int) -> None:
    """Ctrl-C during ``add``: what the log shows as sealed is kept; a rerun goes on."""
    from ..ledger.records import SEAL_ACTIONS

    log = ws.log_store  # type: ignore[attr-defined]
    log.invalidate()
    sealed = [log.read(i) for i in range(start, log.size())]
    sealed = [e for e in sealed if e.action in SEAL_ACTIONS]
    for e in sealed:
        if e.objects:
            name = ws._load_record(e.objects[0]).name  # type: ignore[attr-defined]
            _err.print(f"sealed    {e.objects[0][:16]}  {_safe(name)}")
    _err.print(f"interrupted: {len(sealed)} file(s) were sealed before the interrupt and stay sealed;"
               " a file caught half-sealed is rolled back by the next command. Run the same command again to continue (sealed files are only logged as duplicates).")


def list_items(archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """List sealed items."""
    items = _open(archive).items()
    if as_json:
        _print_json([r.summary() for r in items])
        return
    t = table("id", "name", "type", "size", "received (UTC)", "parent", keep=("id", "received (UTC)", "parent", "size"))
    for r in items:
        t.add_row(r.sha256[:16], _safe(r.name), _safe(r.media_type), str(r.size), _safe(r.received_at[:19]), (r.parent or "")[:16])
    _out.print(t)


def show(item_id: str = typer.Argument(..., metavar="ID", help="Any unique prefix of the sha256."),
         archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Show an item's signed record."""
    ws = _open(archive)
    rec = ws.item(item_id)
    problem = ws.record_problem(rec.sha256)
    data = rec.to_json()
    data["sidecar_files"] = sorted(ws.sidecars(rec.sha256))
    data["signature_ok"] = problem is None
    if as_json:
        _print_json(data)
    else:
        if problem is not None:
            _out.print(styled(("NOT SIGNED AS SHOWN", "bold red"), ": ", problem))
        for k, v in data.items():
            if v in (None, {}, []):
                continue
            text = json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)
            _out.print(styled((k, "bold"), ": ", text))
    if problem is not None:
        raise IntegrityError(f"the record of {rec.sha256[:16]} does not verify ({problem}): it may have been changed; run `witnessbox verify`")


def log(item_id: str = typer.Argument(None, metavar="[ID]", help="Only entries naming this item (id prefix) or other logged id (an incident...)."),
        archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Print the custody log (all, or one item's)."""
    entries = _open(archive).log(item_id)
    if as_json:
        _print_json([e.to_json() for e in entries])
        return
    for e in entries:
        objs = ",".join(o[:12] for o in e.objects)
        _out.print(f"{e.seq:>6} {_safe(e.time[:19])} {_safe(e.action):<18} {_safe(e.actor):<12} {_safe(objs)}")


def verify(archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Re-hash every original, check every signature, the hash chain and the Merkle roots."""
    ws = _open(archive)
    unlock_before_progress(ws, only_if_encrypted=True)
    with _progress("verifying", not as_json) as cb:
        report = ws.verify(progress=cb)
    if as_json:
        _print_json(report.to_json())
    else:
        for n in report.notes:
            _err.print(f"note: {_safe(n)}")
        for p in report.problems:
            _out.print(styled(("BROKEN", "bold red"), " ", p.object, ": ", p.detail))
        status = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        _out.print(f"{status}: {report.items_checked} items, {report.entries_checked} log entries, "
                   f"{report.checkpoints_checked} checkpoints; root {report.root_hash}")
    if not report.ok:
        names = ", ".join(_safe(p.object) for p in report.problems[:5])
        raise IntegrityError(f"{len(report.problems)} problem(s): {names}")


def extract(item_id: str = typer.Argument(..., metavar="ID"),
            output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="File or existing folder to write the original to (a name ending in / must be a folder)."),
            overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
            archive: Path = ArchiveOpt) -> None:
    """Decrypt an original for work (logged)."""
    if output.endswith("/") and not Path(output).is_dir():
        # "-o DIR/" means a folder: never write a file named DIR.
        raise UsageError(f"folder {_safe(output)} does not exist: create it first")
    out = _open(archive).extract(item_id, Path(output), overwrite=overwrite)
    _err.print(f"extracted to {_safe(str(out))}")


def reindex(archive: Path = ArchiveOpt) -> None:
    """Rebuild the catalog (catalog.sqlite) from the archive files."""
    n = _open(archive).reindex()
    _err.print(f"reindexed {n} items")


def proof(seq: int = typer.Argument(..., help="Custody log entry number."),
          output: Path = typer.Option(None, "--output", "-o", help="Write the proof JSON here instead of stdout."),
          archive: Path = ArchiveOpt) -> None:
    """Print an inclusion proof of one custody log entry (self-contained JSON)."""
    from ..ledger.canonical import canonical_bytes

    if output is not None and not output.absolute().parent.is_dir():
        raise UsageError(f"folder {_safe(str(output.absolute().parent))} does not exist")
    data = canonical_bytes(_open(archive).inclusion_proof(seq).to_json())
    if output is None:
        sys.stdout.write(data.decode("utf-8") + "\n")
    else:
        from .._fsutil import atomic_write_bytes

        atomic_write_bytes(output, data)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("init")(init)
    app.command("add")(add)
    app.command("list")(list_items)
    app.command("show")(show)
    app.command("log")(log)
    app.command("verify")(verify)
    app.command("extract")(extract)
    app.command("reindex")(reindex)
    app.command("proof")(proof)
