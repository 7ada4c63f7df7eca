"""Fixtures of the drop-box tests: an archive made once and copied, its recipient file, servers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dropbox_helpers import PASSPHRASE, Server

from witnessbox.workspace import Workspace


@pytest.fixture(scope="session")
def _archive_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dropbox-template") / "archive"
    with Workspace.init(root, PASSPHRASE) as ws:
        ws.dropbox.recipient(root.parent / "recipient.txt")
    return root


@pytest.fixture
def archive(_archive_template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "archive"
    shutil.copytree(_archive_template, dest, symlinks=True)
    shutil.copy(_archive_template.parent / "recipient.txt", tmp_path / "recipient.txt")
    return dest


@pytest.fixture
def recipient_file(archive: Path) -> Path:
    return archive.parent / "recipient.txt"


@pytest.fixture
def ws(archive: Path) -> Iterator[Workspace]:
    with Workspace.open(archive, PASSPHRASE) as w:
        yield w


@pytest.fixture
def server(tmp_path: Path, recipient_file: Path, request: Any) -> Iterator[Server]:
    extra = getattr(request, "param", ())
    s = Server(tmp_path / "inbox", recipient_file, *extra)
    yield s
    s.stop()
