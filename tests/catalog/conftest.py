"""Fixtures of the catalog tests: a bare SQL catalog (fast) and a real archive (slower)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from witnessbox.catalog import Catalog, Change, create_schema


class Recorder:
    """A log callback that keeps the changes (stands for ws.log_action in pure tests)."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def __call__(self, change: Change) -> None:
        self.changes.append(change)


@pytest.fixture
def engine(catalog_database_url: str) -> Iterator[sa.Engine]:
    """In-memory SQLite, or the fresh PostgreSQL schema of the second parametrisation."""
    e = sa.create_engine(catalog_database_url)
    create_schema(e)
    yield e
    e.dispose()


@pytest.fixture
def catalog(engine: sa.Engine) -> Catalog:
    cat = Catalog(engine, now=lambda: "2026-01-01T00:00:00+00:00")
    cat.add_region("Мінск")
    cat.add_region("Homiel")
    return cat


@pytest.fixture
def log() -> Recorder:
    return Recorder()

