"""Shared fixtures: where the real test data lives, and a fresh archive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WITNESSBOX_DATA", PROJECT.parent / "shared" / "data"))

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$WITNESSBOX_DATA``); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set WITNESSBOX_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def facemask_dev(shared_data: Path) -> Path:
    d = shared_data / "facemask-dev"
    if not (d / "images").is_dir():
        pytest.skip(f"{d} not found (set WITNESSBOX_DATA)")
    return d


@pytest.fixture(scope="session")
def video_dir(shared_data: Path) -> Path:
    d = shared_data / "video"
    if not d.is_dir():
        pytest.skip(f"{d} not found (set WITNESSBOX_DATA)")
    return d
