"""The ``witnessbox`` command line: a thin shell over :class:`witnessbox.workspace.Workspace`.

Each command group lives in its own module with a ``register(app)`` function. Errors are
caught in exactly one place, :func:`main`, and printed as one line with their exit code.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from .. import __version__
from ..errors import WitnessboxError
from . import archive, demo, export, incidents, publish, redact, review, trace, web

app = typer.Typer(
    name="witnessbox",
    help="Seal, protect, document, trace, hand over and publish citizen footage. Never identifies anyone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (archive, redact, incidents, publish, export, trace, demo, review, web):
    _module.register(app)


def _version(value: bool) -> None:
    if value:
        print(f"witnessbox {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """witnessbox: seal, protect, document, trace, hand over and publish citizen footage."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn any :class:`WitnessboxError` into one line on stderr and its exit code."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        # Without standalone mode click returns the code of a `typer.Exit` instead of exiting.
        rc = app(args=argv, standalone_mode=False)
    except WitnessboxError as e:
        err.print(f"[bold red]error:[/] {escape(e.message)}", markup=True)
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
