"""Fixtures for redaction tests: small generated pictures and videos, one real face photo."""

from __future__ import annotations

from pathlib import Path

import pytest

from redact_helpers import make_video

FACE_PHOTO = "maksssksksss0.png"  # facemask-dev photo with several clear faces


@pytest.fixture(scope="session")
def face_photo(facemask_dev: Path) -> Path:
    return facemask_dev / "images" / FACE_PHOTO


@pytest.fixture
def small_video(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.mp4")
