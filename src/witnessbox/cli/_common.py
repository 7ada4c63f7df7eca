"""What every command module shares: opening the archive, the passphrase prompt, output helpers.

Output rule (every command, every module): text that a user or a file controls (file names,
incident and testimony text, record fields, messages quoting them) goes through :func:`safe`
and is printed on :data:`out` or :data:`err`. Those consoles never interpret rich markup or
emoji codes, so ``[bold red]x.png`` or ``[/b]`` prints as it is; :func:`safe` turns control
characters (ANSI and OSC escapes, newlines, carriage returns), bidi and other invisible format
characters into visible ``\\xNN``/``\\uNNNN`` escapes, so nothing a file name holds can move
the cursor, recolour the terminal, fake a line or reorder what the reader sees. Styling is
added with :func:`styled` (rich ``Text`` spans), never by interpolating into markup.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import config
from ..errors import UsageError

_WIDE = 1 << 15
"""Console width when the output is not a terminal: a table is never cut to 80 columns."""


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True,
        width=None if terminal else _WIDE,
    )


class _LazyConsole:
    """A console made on first use, so that tests (and ``main``) that swap ``sys.stdout``
    get output on the stream in place when the command runs."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    def _get(self) -> Console:
        return _console(self._stderr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


out: Console = _LazyConsole(False)  # type: ignore[assignment]
"""Results (stdout). Never interprets markup."""
err: Console = _LazyConsole(True)  # type: ignore[assignment]
"""Messages, warnings, progress (stderr). Never interprets markup."""


def _escape_char(c: str) -> str:
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe(text: object) -> str:
    """``text`` as one line that shows literally on a terminal.

    Control characters (C0, C1: ESC of ANSI/OSC sequences, newline, tab), format characters
    (bidi marks and overrides, zero-width joiners), line/paragraph separators, private-use
    and unassigned code points become ``\\xNN``/``\\uNNNN``; everything else, any script,
    stays. Rich markup needs no escaping here because the consoles never interpret it.
    """
    s = str(text)
    return "".join(c if c == " " or (c.isprintable() and unicodedata.category(c)[0] != "C") else _escape_char(c) for c in s)


def safe_lines(text: object) -> str:
    """Like :func:`safe` but keeps line breaks (``\n``, ``\r\n``): for multi-line text a
    person reads (a testimony, a description). Each line is :func:`safe`."""
    return "\n".join(safe(line) for line in str(text).replace("\r\n", "\n").split("\n"))


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line made of plain parts and ``(text, style)`` parts; every part is passed through
    :func:`safe` (styles come from code, never from data)."""
    t = Text()
    for p in parts:
        if isinstance(p, tuple):
            t.append(safe(p[0]), style=p[1])
        else:
            t.append(safe(p))
    return t


def table(*columns: str, keep: tuple[str, ...] = ()) -> Table:
    """A borderless table; the ``keep`` columns (ids, times) are never wrapped or cut."""
    t = Table(box=None, highlight=False, pad_edge=False)
    for c in columns:
        if c in keep:
            t.add_column(c, no_wrap=True, overflow="ignore")
        else:
            t.add_column(c, overflow="fold")
    return t


def print_table(t: Table) -> None:
    """Print a table of safe cells on stdout (full width when piped)."""
    out.print(t)


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


_opened: list[Any] = []


def open_workspace(archive: Path | None) -> Any:
    """Open the archive; the passphrase is asked for only when a key is needed.

    ``main`` prints the workspace's warnings (catalog rebuilt, not indexed...) when the
    command ends, whether it succeeded or not.
    """
    from ..workspace import Workspace

    ws = Workspace.open(config.archive_path(archive), prompt_passphrase)
    ws.on_lock_wait = _say_waiting
    _opened.append(ws)
    return ws


def _say_waiting() -> None:
    err.print("waiting: another witnessbox process is writing to this archive; this command goes on"
              " as soon as it finishes (Ctrl-C stops waiting, nothing is changed)")


def take_workspace_warnings() -> list[str]:
    """Warnings of the workspaces opened by this command (each once), and forget them."""
    found: list[str] = []
    while _opened:
        found.extend(_opened.pop(0).take_warnings())
    return list(dict.fromkeys(found))


def unlock_before_progress(ws: Any, *, only_if_encrypted: bool = False) -> None:
    """Ask for the passphrase now, before a progress bar starts: a bar redraws the line the
    hidden prompt is on, so a prompt asked mid-bar is erased and looks like a hang."""
    if only_if_encrypted and not ws.encrypted:
        return
    ws.unlock()


_json_printed: list[bool] = [False]


def print_json(value: Any) -> None:
    """JSON for scripts on stdout (UTF-8 kept readable). ``main`` adds an ``{"error": ..}``
    document on failure only when the command printed none, so stdout is always one JSON
    document under ``--json``."""
    _json_printed[0] = True
    sys.stdout.write(_json_text(value) + "\n")


def _json_text(value: Any) -> str:
    """UTF-8 JSON where the characters a terminal acts on are ``\\u`` escapes: JSON escapes only
    C0 controls itself, so C1 controls (``\\x9b`` is a CSI), bidi and other format characters,
    line/paragraph separators would reach a terminal that shows ``--json`` raw. Outside
    strings the text holds only spaces and the indent's newlines, which stay."""
    text = json.dumps(value, indent=2, ensure_ascii=False)

    def esc(c: str) -> str:
        if c == "\n" or unicodedata.category(c)[0] != "C" and unicodedata.category(c) not in ("Zl", "Zp"):
            return c
        code = ord(c)
        if code > 0xFFFF:
            code -= 0x10000
            return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
        return f"\\u{code:04x}"

    return "".join(esc(c) for c in text)


def json_was_printed(reset: bool = False) -> bool:
    """Whether :func:`print_json` ran in this command (``reset``: forget it, for the next)."""
    done = _json_printed[0]
    if reset:
        _json_printed[0] = False
    return done


def one_line(text: str) -> str:
    """Old name of :func:`safe` (kept for modules written against it)."""
    return safe(text)


@contextmanager
def byte_progress(label: str, enabled: bool = True) -> Iterator[Callable[[int, int | None, str], None] | None]:
    """The ``progress(advance, total, item)`` callback of the library's long operations.

    On a terminal: a rich byte bar on stderr (call :func:`unlock_before_progress` first).
    Otherwise: one line per item on stderr (``sealing: photo.jpg``), so a log of a long run
    shows where it is. ``enabled=False`` (``--json``): nothing.
    """
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        last: list[str] = [""]

        def line(advance: int, total: int | None, item: str) -> None:
            if item and item != last[0]:
                last[0] = item
                err.print(f"{label}: {safe(item)}")

        yield line
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    bar = Progress(
        TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[item]}", markup=False), console=_console(True), transient=True,
    )
    task = bar.add_task(label, total=None, item="")
    with bar:

        def update(advance: int, total: int | None, item: str) -> None:
            bar.update(task, advance=advance, total=total, item=safe(item)[-40:])

        yield update


def is_terminal() -> bool:
    """Whether stderr (where bars and prompts go) is a terminal."""
    return sys.stderr.isatty()


# -- help: one pass over every registered command --------------------------------------------
_METAVARS: dict[object, str] = {str: "TEXT", Path: "PATH", int: "N", float: "NUMBER"}


def _metavar(name: str, hint: object, argument: bool) -> str | None:
    import typing

    args = typing.get_args(hint)
    many = typing.get_origin(hint) in (list, tuple)
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)]
        return _metavar(name, inner[0], argument) if len(inner) == 1 else None
    base = args[0] if many and args else hint
    if base is bool:
        return None
    if argument:
        return name.upper()  # typer adds "..." to a list
    return _METAVARS.get(base)


def _plain_command_class() -> type:
    import re

    from typer.core import TyperCommand

    class PlainCommand(TyperCommand):
        """typer's command with a usage line without ``{}`` around required arguments and an
        Arguments section without Python types (``<list[Path]>``)."""

        def collect_usage_pieces(self, ctx: Any) -> list[str]:
            return [re.sub(r"^\{(.*)\}", r"\1", p) for p in super().collect_usage_pieces(ctx)]

        def format_options(self, ctx: Any, formatter: Any) -> None:
            args, opts = [], []
            for param in self.get_params(ctx):
                rv = param.get_help_record(ctx)
                if rv is None:
                    continue
                if param.param_type_name == "argument":
                    args.append((re.sub(r"\s<[^>]*>$", "", rv[0]), rv[1]))
                else:
                    opts.append(rv)
            if args:
                with formatter.section("Arguments"):
                    formatter.write_dl(args)
            if opts:
                with formatter.section("Options"):
                    formatter.write_dl(opts)

    return PlainCommand


def tidy_help(app: typer.Typer) -> None:
    """Give every parameter of every command registered on ``app`` (and its groups) a plain
    metavar (``PATH``, ``TEXT``, ``N``; arguments by name, ``PATHS...``) where the module set
    none, and plain help output: typer 0.29 otherwise shows Python types (``<list[Path]>``)
    and usage lines like ``{paths}...``. Run once after every module registered."""
    import inspect
    import typing

    from typer.models import ArgumentInfo, OptionInfo

    app.rich_markup_mode = None
    plain = _plain_command_class()
    for cmd in app.registered_commands:
        if cmd.callback is None:
            continue
        if cmd.cls is None or cmd.cls.__name__ == "TyperCommand":
            cmd.cls = plain
        hints = typing.get_type_hints(cmd.callback)
        for pname, p in inspect.signature(cmd.callback).parameters.items():
            info = p.default
            if isinstance(info, (ArgumentInfo, OptionInfo)) and info.metavar is None:
                info.metavar = _metavar(pname, hints.get(pname), isinstance(info, ArgumentInfo))
    for group in app.registered_groups:
        if group.typer_instance is not None:
            tidy_help(group.typer_instance)


def registered_commands(app: typer.Typer) -> list[tuple[str, Any]]:
    """Every command the app offers as (``"incident add"``, click command), groups expanded:
    what the table-driven CLI tests iterate over, so new modules are covered once merged."""
    import typer.main

    found: list[tuple[str, Any]] = []

    def walk(prefix: str, cmd: Any) -> None:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            found.append((prefix, cmd))
            return
        for name, sub in sorted(subs.items()):
            walk(f"{prefix} {name}".strip(), sub)

    walk("", typer.main.get_command(app))
    return found
