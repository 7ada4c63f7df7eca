"""What every command module shares: opening the archive, the passphrase prompt, output helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from .. import config
from ..errors import UsageError


def prompt_passphrase() -> str:
    """The passphrase from ``$WITNESSBOX_PASSPHRASE``, else a hidden prompt on a terminal.

    Raises:
        UsageError: No variable is set and stdin is not a terminal.
    """
    env = config.passphrase_from_env()
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise UsageError("no passphrase: set WITNESSBOX_PASSPHRASE (stdin is not a terminal)")
    value: str = typer.prompt("Archive passphrase", hide_input=True)
    return value


def open_workspace(archive: Path | None) -> Any:
    """Open the archive; the passphrase is asked for only when a key is needed."""
    from ..workspace import Workspace

    return Workspace.open(config.archive_path(archive), prompt_passphrase)


def print_json(value: Any) -> None:
    """JSON for scripts on stdout (UTF-8 kept readable)."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def one_line(text: str) -> str:
    """Printable on one line: file names may hold newlines or escape sequences."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
