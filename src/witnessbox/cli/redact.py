"""CLI commands: redact (files and folders with ``-o``, or an archive item by id)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from ..errors import InputError, PartialRedactionError, RedactionError, UnsupportedMediaError, UsageError
from ._common import err, open_workspace, out, print_json, safe, styled, unlock_before_progress


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[object]:
    """A progress hook (``what, done, total, label``): rich bars on a terminal (files, and
    frames of the current video), one line per file otherwise, nothing with ``--json``."""
    if not enabled:
        yield lambda what, done, total, label: None
        return
    if not sys.stderr.isatty():
        last = [""]

        def line(what: str, done: int, total: int | None, label: str) -> None:
            name = label.rsplit(" (", 1)[0] if what == "frames" else label
            if name and name != last[0]:
                last[0] = name
                err.print(f"redacting: {safe(name)}")

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    bars = Progress(
        TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True, markup=False, emoji=False, highlight=False), transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def hook(what: str, done: int, total: int | None, label: str) -> None:
        if what not in tasks:
            tasks[what] = bars.add_task("files" if what == "files" else "frames", total=total)
        desc = "files" if what == "files" else f"frames {safe(label)[-50:]}"
        bars.update(tasks[what], completed=done, total=total, description=desc)

    with bars:
        yield hook


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("redact")
    def redact(
        inputs: list[str] = typer.Argument(..., metavar="INPUTS", help="Files or folders (with -o), or one archive item id (without -o)."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Folder for the redacted copies."),
        regions: Path | None = typer.Option(
            None, "--regions", help="Re-render from this (reviewed) regions file instead of detecting."
        ),
        fill: str = typer.Option("solid", "--fill", help="solid (default, irreversible), blur or pixelate."),
        keep_audio: bool = typer.Option(False, "--keep-audio", help="Keep a video's sound (dropped by default)."),
        thorough: bool = typer.Option(
            False, "--thorough",
            help="Photos of 800 px and more: look again at weak faces of 16 px and more (hides more faces, "
                 "a little more that is not a face; up to about 15% slower).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
        archive: Path | None = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive)."),
    ) -> None:
        """Hide every face in photos and videos; write NAME.regions.json beside each copy."""
        from ..executor import executor_from_env
        from ..redact.pipeline import Redactor, RedactOptions
        from ..redact.render import Fill

        opts = RedactOptions(fill=Fill.parse(fill), keep_audio=keep_audio)
        if thorough:
            opts = opts.thorough()
        show = not as_json
        if output is None:
            _redact_item(inputs, opts, regions, archive, as_json, show)
            return
        if output.exists() and not output.is_dir():
            raise UsageError(f"{safe(str(output))} is a file: -o takes a folder for the redacted copies")
        with _progress_bars(show) as hook:
            report = Redactor(opts).redact_paths([Path(p) for p in inputs], output, regions=regions, progress=hook,  # type: ignore[arg-type]
                                                 executor=executor_from_env())
        if as_json:
            print_json({
                "redacted": [
                    {"source": str(r.source), "output": str(r.output), "regions_file": str(r.regions_file),
                     "kind": r.kind.value, "frames": r.frames, "regions": r.regions, "source_sha256": r.source_sha256,
                     "suggestions_file": str(r.suggestions_file) if r.suggestions_file else None}
                    for r in report.done
                ],
                "failed": [{"source": str(f.source), "error": f.error} for f in report.failed],
                "skipped": [str(p) for p in report.skipped],
            })
        else:
            for r in report.done:
                out.print(f"{safe(str(r.output))}  ({r.regions} regions, {r.frames} frame{'s' if r.frames != 1 else ''})")
            for p in report.skipped:
                err.print(f"skipped (not a supported photo or video): {safe(str(p))}")
            for f in report.failed:
                err.print(styled(("failed", "red"), ": ", str(f.source), ": ", f.error))
        if report.failed and not report.done:
            raise RedactionError(f"{len(report.failed)} file(s) failed (listed above): fix them and run again")
        if report.failed:
            raise PartialRedactionError(
                f"{len(report.failed)} of {len(report.done) + len(report.failed)} file(s) failed (listed above),"
                f" {len(report.done)} written: fix them and run again on the failed files"
            )


def _redact_item(
    ids: list[str], opts: object, regions: Path | None, archive: Path | None, as_json: bool, show: bool
) -> None:
    if len(ids) != 1:
        raise UsageError("without -o, give exactly one archive item id (or use -o OUTDIR for files)")
    target = ids[0]
    if Path(target).exists():
        raise UsageError(f"{safe(target)} is a file or folder, not an archive item id: give -o OUTDIR to redact files")
    ws = open_workspace(archive)
    ws.require_writable()
    rec = ws.item(target)
    unlock_before_progress(ws)
    try:
        with _progress_bars(show) as hook:
            rec = ws.redaction.redact_item(target, options=opts, regions=regions, progress=hook)
    except UnsupportedMediaError:
        raise
    except InputError as e:
        # The same failure (a regions file of another file, an undecodable item) exits 11 with
        # -o as without it.
        raise RedactionError(e.message) from e
    except KeyboardInterrupt:
        err.print("interrupted: no redacted copy was sealed (a copy is sealed only when complete);"
                  " run the same command again to redact it")
        raise typer.Exit(130) from None
    if as_json:
        print_json(rec.summary())
    else:
        out.print(f"redacted copy sealed: {rec.sha256}  (parent {rec.parent})")
