"""CLI commands: redact (files and folders with ``-o``, or an archive item by id)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from ..errors import RedactionError, UsageError
from ._common import prompt_passphrase as _passphrase


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[object]:
    """A progress hook drawing rich bars on stderr (files, and frames of the current video)."""
    if not enabled:
        yield lambda what, done, total, label: None
        return
    console = Console(stderr=True)
    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def hook(what: str, done: int, total: int | None, label: str) -> None:
        if what not in tasks:
            tasks[what] = bars.add_task("files" if what == "files" else "frames", total=total)
        desc = "files" if what == "files" else f"frames {label}"
        bars.update(tasks[what], completed=done, total=total, description=desc)

    with bars:
        yield hook


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("redact")
    def redact(
        inputs: list[str] = typer.Argument(..., help="Files or folders (with -o), or one archive item id (without -o)."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Folder for the redacted copies."),
        regions: Path | None = typer.Option(
            None, "--regions", help="Re-render from this (reviewed) regions file instead of detecting."
        ),
        fill: str = typer.Option("solid", "--fill", help="solid (default, irreversible), blur or pixelate."),
        keep_audio: bool = typer.Option(False, "--keep-audio", help="Keep a video's sound (dropped by default)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        archive: Path | None = typer.Option(None, "--archive", help="Archive folder (default $WITNESSBOX_ARCHIVE)."),
    ) -> None:
        """Hide every face in photos and videos; write NAME.regions.json beside each copy."""
        from ..executor import executor_from_env
        from ..redact.pipeline import Redactor, RedactOptions
        from ..redact.render import Fill

        opts = RedactOptions(fill=Fill.parse(fill), keep_audio=keep_audio)
        show = sys.stderr.isatty() and not as_json
        if output is None:
            _redact_item(inputs, opts, regions, archive, as_json, show)
            return
        with _progress_bars(show) as hook:
            report = Redactor(opts).redact_paths([Path(p) for p in inputs], output, regions=regions, progress=hook,  # type: ignore[arg-type]
                                                 executor=executor_from_env())
        if as_json:
            print(json.dumps({
                "redacted": [
                    {"source": str(r.source), "output": str(r.output), "regions_file": str(r.regions_file),
                     "kind": r.kind.value, "frames": r.frames, "regions": r.regions, "source_sha256": r.source_sha256,
                     "suggestions_file": str(r.suggestions_file) if r.suggestions_file else None}
                    for r in report.done
                ],
                "failed": [{"source": str(f.source), "error": f.error} for f in report.failed],
                "skipped": [str(p) for p in report.skipped],
            }, indent=2))
        else:
            err = Console(stderr=True, highlight=False)
            for r in report.done:
                print(f"{r.output}  ({r.regions} regions, {r.frames} frame{'s' if r.frames != 1 else ''})")
            for p in report.skipped:
                err.print(f"skipped (not a supported photo or video): {p}")
            for f in report.failed:
                err.print(f"[red]failed[/]: {f.source}: {f.error}")
        if report.failed:
            raise RedactionError(f"{len(report.failed)} of {len(report.done) + len(report.failed)} file(s) failed (listed above)")


def _redact_item(
    ids: list[str], opts: object, regions: Path | None, archive: Path | None, as_json: bool, show: bool
) -> None:
    from .. import config
    from ..workspace import Workspace

    if len(ids) != 1:
        raise UsageError("without -o, give exactly one archive item id (or use -o OUTDIR for files)")
    ws = Workspace.open(config.archive_path(archive), _passphrase)
    with _progress_bars(show) as hook:
        rec = ws.redaction.redact_item(ids[0], options=opts, regions=regions, progress=hook)  # type: ignore[arg-type]
    if as_json:
        print(json.dumps(rec.summary(), indent=2))
    else:
        print(f"redacted copy sealed: {rec.sha256}  (parent {rec.parent})")
