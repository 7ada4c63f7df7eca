"""The ``witnessbox`` command line: a thin shell over :class:`witnessbox.workspace.Workspace`.

Each command group lives in its own module with a ``register(app)`` function. Errors are
caught in exactly one place, :func:`main`, and printed as one line with their exit code.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn

import typer

from .. import __version__
from ..errors import WitnessboxError
from ._common import err, json_was_printed, print_json, safe, styled, take_workspace_warnings, tidy_help
from . import archive, demo, dropbox, export, incidents, publish, redact, review, trace, units, web

app = typer.Typer(
    name="witnessbox",
    help="Seal, protect, document, trace, hand over and publish citizen footage. Never identifies anyone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (archive, redact, incidents, publish, export, trace, demo, units, review, dropbox, web):
    _module.register(app)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"witnessbox {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """witnessbox: seal, protect, document, trace, hand over and publish citizen footage."""


ISSUES = "the witnessbox issue tracker"
"""Where a bug is reported (printed above the traceback of an unexpected exception)."""


def _command_path(e: BaseException) -> str:
    ctx = getattr(e, "ctx", None)
    return str(getattr(ctx, "command_path", "") or "witnessbox")


tidy_help(app)


def _as_witnessbox_error(e: BaseException) -> WitnessboxError | None:
    """A user-facing error for the few exceptions of the standard library (and SQLite) that
    mean a mistake or a damaged file rather than a bug; None for everything else."""
    import sqlite3

    from ..errors import CatalogDamagedError, InputError, NotFoundError, UsageError

    name = safe(getattr(e, "filename", None) or "")
    if isinstance(e, FileExistsError):
        return UsageError(f"{name or 'the destination'} already exists: choose another path or remove it")
    if isinstance(e, IsADirectoryError):
        return UsageError(f"{name} is a folder: give a file name (or a folder where the command takes one)")
    if isinstance(e, NotADirectoryError):
        return UsageError(f"{name}: a part of this path is a file, not a folder: check the path")
    if isinstance(e, FileNotFoundError):
        return NotFoundError(f"{name or 'a file'} does not exist: check the path")
    if isinstance(e, PermissionError):
        return InputError(f"permission denied on {name or 'a file'}: check its permissions (or choose another place)")
    if isinstance(e, OSError):
        return InputError(f"{name + ': ' if name else ''}{e.strerror or e}")
    # The catalog is an index rebuilt from the custody log: a damaged one is never a reason to
    # crash, and never fixed silently (that would hide a disk problem).
    orig = getattr(e, "orig", e)
    if isinstance(orig, sqlite3.DatabaseError) and not isinstance(orig, sqlite3.OperationalError):
        return CatalogDamagedError(safe(str(orig)))
    return None


def _fail(e: WitnessboxError, as_json: bool) -> NoReturn:
    if as_json and not json_was_printed():
        print_json({"error": {"type": type(e).__name__, "message": e.message, "exit_code": e.exit_code}})
    err.print(styled(("error:", "bold red"), " ", e.message))
    sys.exit(e.exit_code)


def _print_warnings() -> None:
    for w in take_workspace_warnings():
        err.print(f"warning: {safe(w)}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: every error a user can meet is one line on stderr and its exit code.

    ``WitnessboxError`` prints its message; usage errors (typer's vendored click exceptions,
    reached through ``typer.TyperException`` so that no separate ``click`` is needed) print
    one line naming the command's ``--help``; a few standard-library errors are mapped to the
    error hierarchy (:func:`_as_witnessbox_error`); anything else is a bug: one line saying so
    and where to report it, then the traceback. With ``--json`` a failure also prints
    ``{"error": {...}}`` on stdout, so scripts always get JSON.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    json_was_printed(reset=True)
    try:
        try:
            # Without standalone mode typer returns the code of a `typer.Exit` instead of exiting.
            rc = app(args=args, standalone_mode=False, prog_name="witnessbox")
            sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        finally:
            _print_warnings()
    except WitnessboxError as e:
        _fail(e, as_json)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted: work finished before the interrupt is kept (run the command again to continue)")
        sys.exit(130)
    except typer.TyperException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
            err.print(e.format_message())
            sys.exit(2)
        from ..errors import UsageError

        msg = f"{e.format_message()} (see `{_command_path(e)} --help`)"
        _fail(UsageError(safe(msg)), as_json)
    except BrokenPipeError:
        # `witnessbox log | head`: the reader is gone; stop quietly, as standard tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except Exception as e:
        mapped = _as_witnessbox_error(e)
        if mapped is not None:
            _fail(mapped, as_json)
        err.print(styled(("internal error:", "bold red"), f" this is a bug in witnessbox {__version__}, not your mistake;"
                         f" please report it to {ISSUES} with the traceback below (remove any names it shows)."))
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
