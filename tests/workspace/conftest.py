"""Fixtures for the archive tests: a template archive made once (key derivation is slow by
design), copied per test; helpers to make media files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from witnessbox.workspace import Workspace
from workspace_helpers import PASSPHRASE, copy_archive, snapshot  # noqa: F401  (re-exported)


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    base = tmp_path_factory.mktemp("templates")
    out: dict[str, tuple[Path, object]] = {}
    for name, encrypted in (("enc", True), ("plain", False)):
        if not encrypted and os.environ.get("WITNESSBOX_TEST_STORE") == "s3":
            continue  # S3 holds ciphertext only: the tests that need it are skipped there
        ws = Workspace.init(base / name, PASSPHRASE, encrypted=encrypted)
        # Unlocking the age identity costs seconds (age scrypt); tests reuse the unlocked one.
        out[name] = (ws.root, ws._identity())
        ws.close()
    return out


def _copy(templates: dict[str, tuple[Path, object]], kind: str, dest: Path) -> Path:
    if kind not in templates:
        pytest.skip("unencrypted archives keep their blobs in the folder (S3 holds ciphertext only)")
    return copy_archive(templates[kind][0], dest)


@pytest.fixture
def archive_path(_templates: dict[str, tuple[Path, object]], tmp_path: Path) -> Path:
    """A fresh encrypted archive (copy of the session template)."""
    return _copy(_templates, "enc", tmp_path / "archive")


@pytest.fixture
def plain_archive_path(_templates: dict[str, tuple[Path, object]], tmp_path: Path) -> Path:
    """A fresh archive made with ``encrypted=False``."""
    return _copy(_templates, "plain", tmp_path / "plain-archive")


@pytest.fixture
def unlocked_identity(_templates: dict[str, tuple[Path, object]]) -> object:
    return _templates["enc"][1]


@pytest.fixture
def ws(archive_path: Path, unlocked_identity: object) -> Iterator[Workspace]:
    """An open encrypted workspace with its keys already unlocked."""
    w = Workspace.open(archive_path, PASSPHRASE)
    w._identity_value = unlocked_identity  # type: ignore[assignment]
    yield w
    w.close()


@pytest.fixture
def plain_ws(plain_archive_path: Path) -> Iterator[Workspace]:
    w = Workspace.open(plain_archive_path, PASSPHRASE)
    yield w
    w.close()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder with a few small distinct files, one nested."""
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_bytes(b"alpha\n")
    (d / "b.bin").write_bytes(os.urandom(200_000))
    (d / "sub" / "c.txt").write_bytes(b"gamma\n")
    return d
