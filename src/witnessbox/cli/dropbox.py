"""CLI of the drop box: ``witnessbox dropbox recipient | serve | import | reply | list``.

``serve`` runs the public app and needs no archive (only its public recipient); the other
commands work on the archive (``ws.dropbox``).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import typer
from rich.table import Table

from ..errors import DropBoxError, InputError, UsageError
from ._common import one_line as _clean
from ._common import open_workspace as _open
from ._common import out

_out = out  # never interprets markup (cli/_common.py)
dropbox_app = typer.Typer(help="The drop box: anonymous submissions encrypted on arrival to the archive.",
                          no_args_is_help=True)
_ARCHIVE = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE).")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dropbox_app.command("recipient")
def recipient(
    out: Path = typer.Option(..., "--out", "-o", help="File to write the archive's public age recipient to."),
    archive: Path = _ARCHIVE,
) -> None:
    """Write the archive's public encryption recipient for `witnessbox dropbox serve --recipient`."""
    with _open(archive) as ws:
        path = ws.dropbox.recipient(out)
    _out.print(f"recipient written to {_clean(str(path))}")


@dropbox_app.command("serve")
def serve(
    inbox: Path = typer.Option(..., "--inbox", help="Inbox folder (created on first start)."),
    recipient_file: Path = typer.Option(..., "--recipient", help="File written by `witnessbox dropbox recipient`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless --behind-proxy)."),
    port: int = typer.Option(8485, "--port", help="Port to listen on."),
    behind_proxy: bool = typer.Option(
        False, "--behind-proxy",
        help="A TLS reverse proxy or a Tor onion service is in front: allows a non-loopback --host and "
             "marks the session cookie Secure."),
    max_file_mb: int = typer.Option(2048, "--max-file-mb", help="Largest file accepted (MiB)."),
    max_total_mb: int = typer.Option(4096, "--max-total-mb", help="Largest submission accepted (MiB)."),
    strip_mb: int = typer.Option(512, "--strip-mb", help="Largest photo/video whose metadata is removed in memory (MiB)."),
) -> None:
    """Run the public drop box (no archive key needed; nothing unencrypted is written)."""
    from ..dropbox import Limits
    from ..web.dropbox import DropBoxConfig
    from ..web.dropbox import serve as _serve

    if not _loopback(host) and not behind_proxy:
        raise UsageError(f"refusing to listen on {host}: the drop box must sit behind a TLS proxy or an onion "
                         "service; listen on 127.0.0.1, or pass --behind-proxy if one is in front (docs/dropbox.md)")
    try:
        rcpt = recipient_file.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the recipient file {recipient_file}: run `witnessbox dropbox recipient -o FILE`") from e
    limits = Limits(max_file=max_file_mb * 2**20, max_total=max_total_mb * 2**20, strip_in_memory=strip_mb * 2**20)
    config = DropBoxConfig(inbox=inbox, recipient=rcpt, limits=limits, secure_cookie=behind_proxy)
    _out.print(f"drop box on http://{host}:{port}/ (inbox {_clean(str(inbox))}); no access log is kept")
    _serve(config, host, port)


@dropbox_app.command("import")
def import_(
    inbox: Path = typer.Argument(..., help="Inbox folder (as written by `witnessbox dropbox serve`)."),
    archive: Path = _ARCHIVE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Decrypt, check and seal every new committed submission; refuse damaged or half-written ones."""
    with _open(archive) as ws:
        report = ws.dropbox.import_(inbox)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for s in report.imported:
            _out.print(f"imported {s.id}: {s.files} file(s), incident {_clean(s.incident or '')}")
        if report.already:
            _out.print(f"{len(report.already)} submission(s) already imported")
        for sid, reason in report.refused:
            _out.print(f"REFUSED {_clean(sid)}: {_clean(reason)}")
    if not report.ok:
        raise typer.Exit(DropBoxError.exit_code)


@dropbox_app.command("reply")
def reply(
    submission: str = typer.Argument(..., help="Submission id (see `witnessbox dropbox list`)."),
    message_file: Path = typer.Option(..., "--message-file", help="UTF-8 text file with the reply."),
    inbox: Path = typer.Option(None, "--inbox", help="Inbox folder (default: the one it was imported from)."),
    archive: Path = _ARCHIVE,
) -> None:
    """Write a reply that only the holder of the submission's codename can read."""
    try:
        message = message_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {message_file} as UTF-8 text") from e
    with _open(archive) as ws:
        reply_id = ws.dropbox.reply(submission, message, inbox=inbox)
    _out.print(f"reply {reply_id} written for {_clean(submission)}")


@dropbox_app.command("list")
def list_(
    inbox: Path = typer.Option(None, "--inbox", help="List this inbox's submissions (default: those imported)."),
    archive: Path = _ARCHIVE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Submissions: id, day received, number of files, imported or not."""
    with _open(archive) as ws:
        rows = ws.dropbox.list(inbox)
    if as_json:
        print(json.dumps([r.to_json() for r in rows], indent=2, ensure_ascii=False))
        return
    table = Table("id", "day", "files", "state", "incident")
    for r in rows:
        state = "imported" if r.imported else ("ready" if r.committed else "half-written")
        table.add_row(r.id, r.day, str(r.files), state, _clean(r.incident or ""))
    _out.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``dropbox`` command group to the root app."""
    app.add_typer(dropbox_app, name="dropbox")
