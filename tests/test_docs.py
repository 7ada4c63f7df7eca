"""Every command the CLI offers is documented (README.md or docs/), and every doc link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from witnessbox.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")  # typer may vendor its own click: duck-type the group
    out = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        out.append(name)
        if hasattr(cmd, "commands"):
            out.extend(f"{name} {sub}" for sub in cmd.commands)
    return sorted(out)


def _docs_text() -> str:
    return "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented(command: str) -> None:
    assert f"witnessbox {command}" in _docs_text(), f"`witnessbox {command}` is not in README.md or docs/"


def test_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", (ROOT / "README.md").read_text()):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def _options() -> list[str]:
    from witnessbox.cli._common import registered_commands

    out = []
    for name, cmd in registered_commands(app):
        for p in cmd.params:
            if p.param_type_name == "option" and not getattr(p, "hidden", False):
                out += [f"{name} {o}" for o in p.opts if o.startswith("--") and o != "--help"]
    return sorted(out)


@pytest.mark.parametrize("option", _options())
def test_every_option_is_documented(option: str) -> None:
    opt = option.split()[-1]
    assert re.search(re.escape(opt) + r"(?![\w-])", _docs_text()), f"{option}: `{opt}` is not in README.md or docs/"
