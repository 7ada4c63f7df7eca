"""CLI commands of the archive: init, add, list, show, log, verify, extract, reindex, proof.

Each command is a few lines over :class:`witnessbox.workspace.Workspace`. The passphrase comes
from ``$WITNESSBOX_PASSPHRASE`` or a hidden prompt, asked only when a key is needed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from .. import config
from ..errors import IntegrityError, InputError, UsageError
from ._common import one_line as _safe
from ._common import open_workspace as _open
from ._common import print_json as _print_json

ArchiveOpt = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive).")
JsonOpt = typer.Option(False, "--json", help="Print JSON for scripts.")

# markup=False: file names and record fields are printed as they are ("[red]x.jpg" is a valid
# name); the few styled lines opt in with markup=True and escape() what they interpolate.
_out = Console(highlight=False, soft_wrap=True, markup=False)
_err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@contextmanager
def _progress(label: str, enabled: bool = True) -> Iterator[Callable[[int, int | None, str], None] | None]:
    """A rich byte progress bar on stderr, as the ``progress`` callback of the library."""
    if not enabled or not _err.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[item]}"), console=_err, transient=True,
    )
    task = bar.add_task(label, total=None, item="")
    with bar:

        def update(advance: int, total: int | None, item: str) -> None:
            bar.update(task, advance=advance, total=total, item=item[:40])

        yield update


def init(
    path: Path = typer.Argument(None, help="Folder to create (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive)."),
    no_encryption: bool = typer.Option(False, "--no-encryption", help="Store originals unencrypted (public material only)."),
) -> None:
    """Create a new archive and its keys."""
    from ..workspace import Workspace

    target = config.archive_path(path)
    passphrase = config.passphrase_from_env()
    if passphrase is None:
        if not sys.stdin.isatty():
            raise UsageError("no passphrase: set WITNESSBOX_PASSPHRASE (stdin is not a terminal)")
        passphrase = typer.prompt("New archive passphrase", hide_input=True, confirmation_prompt=True)
    ws = Workspace.init(target, passphrase, encrypted=not no_encryption)
    _err.print(f"created archive {_safe(str(ws.root))} ({'unencrypted' if no_encryption else 'encrypted'}), key id {ws.key_id[:16]}")


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
    with _progress("sealing", not as_json) as cb:
        report = ws.add(paths, source=source, note=note, captured_at=captured_at, place=place,
                        allow_damaged=allow_damaged, progress=cb)
    if as_json:
        _print_json(report.to_json())
    else:
        for r in report.added:
            _out.print(f"sealed    {r.sha256[:16]}  {_safe(r.name)}")
        for d in report.duplicates:
            _out.print(f"duplicate {d.sha256[:16]}  {_safe(d.path)} (receipt logged)")
        for s in report.skipped:
            _err.print(f"skipped   {_safe(s.path)}: {s.error}")
        for pm in report.proofmode:
            c = pm.check
            state = f"signed by {escape(str(c.signer_fingerprint))} ({escape(str(c.method))})" if c.ok else "[bold red]does NOT verify[/]"
            _out.print(f"proofmode {pm.sha256[:16]}  {len(pm.sidecars)} proof files kept, {state}", markup=True)
    for w in report.warnings:
        _err.print(f"warning: {_safe(w)}")
    for f in report.failed:
        _err.print(f"[bold red]error:[/] {escape(_safe(f.error))}", markup=True)
    if report.failed:
        # An error, not typer.Exit: main() runs click with standalone_mode=False.
        raise InputError(f"{len(report.failed)} input(s) not sealed (see above); the rest were")


def list_items(archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """List sealed items."""
    items = _open(archive).items()
    if as_json:
        _print_json([r.summary() for r in items])
        return
    table = Table("id", "name", "type", "size", "received (UTC)", "parent", box=None)
    for r in items:
        table.add_row(r.sha256[:16], _safe(r.name), r.media_type, str(r.size), r.received_at[:19], (r.parent or "")[:16])
    _out.print(table)


def show(item_id: str = typer.Argument(..., metavar="ID", help="Any unique prefix of the sha256."),
         archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Show an item's signed record."""
    ws = _open(archive)
    rec = ws.item(item_id)
    data = rec.to_json()
    data["sidecar_files"] = sorted(ws.sidecars(rec.sha256))
    if as_json:
        _print_json(data)
        return
    for k, v in data.items():
        if v in (None, {}, []):
            continue
        text = _safe(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v))
        _out.print(f"[bold]{k}[/]: {escape(text)}", markup=True)


def log(item_id: str = typer.Argument(None, metavar="[ID]", help="Only entries naming this item (id prefix) or other logged id (an incident...)."),
        archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Print the custody log (all, or one item's)."""
    entries = _open(archive).log(item_id)
    if as_json:
        _print_json([e.to_json() for e in entries])
        return
    for e in entries:
        objs = ",".join(o[:12] for o in e.objects)
        _out.print(f"{e.seq:>6} {e.time[:19]} {e.action:<18} {_safe(e.actor):<12} {objs}")


def verify(archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Re-hash every original, check every signature, the hash chain and the Merkle roots."""
    ws = _open(archive)
    with _progress("verifying", not as_json) as cb:
        report = ws.verify(progress=cb)
    if as_json:
        _print_json(report.to_json())
    else:
        for n in report.notes:
            _err.print(f"note: {_safe(n)}")
        for p in report.problems:
            _out.print(f"[bold red]BROKEN[/] {escape(_safe(p.object))}: {escape(_safe(p.detail))}", markup=True)
        status = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        _out.print(f"{status}: {report.items_checked} items, {report.entries_checked} log entries, "
                   f"{report.checkpoints_checked} checkpoints; root {report.root_hash}")
    if not report.ok:
        names = ", ".join(_safe(p.object) for p in report.problems[:5])
        raise IntegrityError(f"{len(report.problems)} problem(s): {names}")


def extract(item_id: str = typer.Argument(..., metavar="ID"),
            output: Path = typer.Option(..., "--output", "-o", help="File or existing folder to write the original to."),
            overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
            archive: Path = ArchiveOpt) -> None:
    """Decrypt an original for work (logged)."""
    out = _open(archive).extract(item_id, output, overwrite=overwrite)
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
