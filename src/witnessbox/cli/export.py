"""CLI commands: export (evidence packages) and verify-export.

Each is a few lines over ``ws.exports`` (:mod:`witnessbox.workspace.exports`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import IntegrityError
from ._common import open_workspace as _open
from .incidents import safe

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int | None, str], None] | None]:
    """A rich byte progress bar on stderr (only on a terminal)."""
    if not _err.is_terminal:
        yield None
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[item]}"), console=_err, transient=True)
    task = bar.add_task(label, total=None, item="")
    with bar:

        def update(advance: int, total: int | None, item: str) -> None:
            bar.update(task, advance=advance, total=total, item=item[-40:])

        yield update


def export(
    selectors: list[str] = typer.Argument(..., metavar="(INCIDENT|ID)...", help="Incident ids and item id prefixes."),
    out: Path = typer.Option(..., "--out", "-o", help="New folder (or .zip with --zip) to write."),
    zip_output: bool = typer.Option(False, "--zip", help="Write one deterministic zip file."),
    recipient: str = typer.Option(None, "--recipient", help="To whom it goes (recorded in the package and the custody log)."),
    tsa: str = typer.Option(None, "--tsa", metavar="URL", help="RFC 3161 timestamp authority for the checkpoint."),
    include_testimonies: bool = typer.Option(False, "--include-testimonies", help="Include incidents' testimonies (never witness contacts)."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Write an evidence package (BagIt) that anyone can verify offline with standard tools."""
    ws = _open(archive)
    with _progress("exporting") as progress:
        s = ws.exports.export(
            selectors, out, zip_output=zip_output, recipient=recipient, tsa_url=tsa,
            include_testimonies=include_testimonies, progress=progress,
        )
    if as_json:
        print(json.dumps(s.to_json(), indent=2))
        return
    where = safe(str(s.path))
    _out.print(f"wrote {where}: {s.originals} originals, {s.derivatives} redacted copies, {s.entries} custody entries", markup=False)
    _out.print(f"payload manifest sha256 {s.manifest_sha256} (logged); check it with: cd {where} && python3 verify.py", markup=False)


def verify_export(
    path: Path = typer.Argument(..., help="A package folder or zip."),
    tsa_root: Path = typer.Option(None, "--tsa-root", help="Root certificate (PEM) of the timestamp authority."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Check a package: manifests, signatures, canonical JSON, Merkle proofs, with standard tools too."""
    from ..workspace.exports import Exports

    root_pem = tsa_root.read_bytes() if tsa_root else None
    # Verification needs no archive: Exports only uses the workspace for exporting.
    v = Exports.verify_package(path, tsa_root_pem=root_pem)
    if as_json:
        print(json.dumps(v.to_json(), indent=2, ensure_ascii=False))
    else:
        # Everything below may quote names and text from the package, which may be hostile:
        # no rich markup (a stray "[/x]" would crash) and no control characters (terminal escapes).
        for n in v.notes:
            _out.print(f"note: {safe(n)}", markup=False)
        for t in v.tools:
            detail = "" if t.ok else "\n  " + "\n  ".join(safe(line) for line in t.output.splitlines())
            _out.print(f"{'ok' if t.ok else 'FAILED'}: {safe(t.command)}{detail}", markup=False)
        for f in v.report.failures:
            _out.print(f"FAILED {safe(f.path)}: {safe(f.reason)}", markup=False)
    if not v.ok:
        raise IntegrityError(f"the package {path} does not verify ({len(v.report.failed_paths())} file(s) named above)")
    if not as_json:
        _out.print(f"OK: {safe(str(path))} verifies", markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("export")(export)
    app.command("verify-export")(verify_export)
