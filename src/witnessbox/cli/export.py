"""CLI commands: export (evidence packages) and verify-export.

Each is a few lines over ``ws.exports`` (:mod:`witnessbox.workspace.exports`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ExportError, IntegrityError, UsageError
from ._common import byte_progress, open_workspace, out, print_json, safe, unlock_before_progress


def export(
    selectors: list[str] = typer.Argument(..., metavar="INCIDENT|ID", help="Incident ids and item id prefixes."),
    output: Path = typer.Option(None, "--output", "-o", help="New folder, or a new .zip file (a name ending in .zip writes a zip).  [required]"),
    old_out: Path = typer.Option(None, "--out", hidden=True, help="Old spelling of --output."),
    zip_output: bool = typer.Option(False, "--zip", help="Write one deterministic zip file (implied by an -o ending in .zip)."),
    recipient: str = typer.Option(None, "--recipient", help="To whom it goes (recorded in the package and the custody log)."),
    tsa: str = typer.Option(None, "--tsa", metavar="URL", help="RFC 3161 timestamp authority for the checkpoint."),
    include_testimonies: bool = typer.Option(False, "--include-testimonies", help="Include incidents' testimonies (never witness contacts)."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Write an evidence package (BagIt) that anyone can verify offline with standard tools."""
    if output is None and old_out is None:
        raise UsageError("give the package's path: -o NEW_FOLDER or -o NEW_FILE.zip")
    if output is not None and old_out is not None:
        raise UsageError("give -o once (--out is its old spelling)")
    output = output if output is not None else old_out
    if output.suffix.lower() == ".zip":
        zip_output = True  # "-o x.zip" means a zip file, never a folder named x.zip
    elif zip_output:
        raise UsageError(f"--zip writes a zip file: give -o a name ending in .zip (not {safe(str(output))})")
    ws = open_workspace(archive)
    ws.require_writable()
    unlock_before_progress(ws)
    with byte_progress("exporting", not as_json) as progress:
        s = ws.exports.export(
            selectors, output, zip_output=zip_output, recipient=recipient, tsa_url=tsa,
            include_testimonies=include_testimonies, progress=progress,
        )
    if as_json:
        print_json(s.to_json())
        return
    where = safe(str(s.path))
    out.print(f"wrote {where}: {s.originals} originals, {s.derivatives} redacted copies, {s.entries} custody entries")
    check = f"unzip {where} && cd {safe(Path(s.path).stem)}" if zip_output else f"cd {where}"
    out.print(f"payload manifest sha256 {s.manifest_sha256} (logged); check it with: {check} && python3 verify.py")


def verify_export(
    path: Path = typer.Argument(..., help="A package folder or zip."),
    tsa_root: Path = typer.Option(None, "--tsa-root", help="Root certificate (PEM) of the timestamp authority."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Check a package: manifests, signatures, canonical JSON, Merkle proofs, with standard tools too."""
    from ..errors import InputError, NotFoundError
    from ..workspace.exports import Exports

    root_pem = None
    if tsa_root is not None:
        try:
            root_pem = tsa_root.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read the TSA root certificate {safe(str(tsa_root))}: {e.strerror}: give the PEM file") from e
    if not path.exists():
        raise NotFoundError(f"{safe(str(path))} does not exist: give a package folder or zip written by `witnessbox export`")
    # Verification needs no archive: Exports only uses the workspace for exporting.
    try:
        v = Exports.verify_package(path, tsa_root_pem=root_pem)
    except ExportError as e:
        # Not a package at all: a wrong path, not a failed export.
        raise InputError(f"{e.detail}: give a package folder or zip written by `witnessbox export`") from e
    if as_json:
        print_json(v.to_json())
    else:
        # Everything below may quote names and text from the package, which may be hostile.
        for n in v.notes:
            out.print(f"note: {safe(n)}")
        for t in v.tools:
            out.print(f"{'ok' if t.ok else 'FAILED'}: {safe(t.command)}")
            if not t.ok:
                for line in t.output.splitlines():
                    out.print(f"  {safe(line)}")
        for f in v.report.failures:
            out.print(f"FAILED {safe(f.path)}: {safe(f.reason)}")
    if not v.ok:
        names = v.report.failed_paths()
        shown = ", ".join(safe(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
        raise IntegrityError(f"the package {safe(str(path))} does not verify: {len(names)} file(s) fail ({shown})")
    if not as_json:
        out.print(f"OK: {safe(str(path))} verifies")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("export")(export)
    app.command("verify-export")(verify_export)
