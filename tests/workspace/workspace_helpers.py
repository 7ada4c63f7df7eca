"""Helpers shared by the archive tests, in a module of its own: ``from conftest import`` is
ambiguous when pytest runs several test folders that each have a conftest.py."""

from __future__ import annotations

from pathlib import Path

PASSPHRASE = "correct horse battery staple"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of an archive except the catalog, for 'untouched' assertions."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("catalog.sqlite") and p.name != "lock":
            out[str(p.relative_to(root))] = p.read_bytes()
    return out
