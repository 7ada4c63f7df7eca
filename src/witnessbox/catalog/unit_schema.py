"""SQL tables of the units vocabulary, in their own metadata (registered migration ``units`` v1).

Kept apart from :mod:`.schema`: the catalog's first migration creates everything in that
module's metadata, so tables added there later would never be migrated into old archives.
See docs/catalog.md for the layout.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

unit_metadata = sa.MetaData()

unit_kinds = sa.Table(
    "cat_unit_kinds",
    unit_metadata,
    sa.Column("slug", sa.String(80), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

units = sa.Table(
    "cat_units",
    unit_metadata,
    sa.Column("slug", sa.String(80), primary_key=True),
    sa.Column("name_be", sa.String(300), nullable=False),
    sa.Column("name_ru", sa.String(300), nullable=False),
    sa.Column("name_en", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(80), sa.ForeignKey("cat_unit_kinds.slug"), nullable=False),
    sa.Column("parent", sa.String(80), sa.ForeignKey("cat_units.slug"), nullable=True, index=True),
    sa.Column("insignia", sa.Text, nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("sources", sa.Text, nullable=False),  # JSON list of strings
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

observation_units = sa.Table(
    "cat_observation_units",
    unit_metadata,
    # (incident_id, position) of cat_observations; kept in step by Catalog (no cross-metadata FK)
    sa.Column("incident_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("unit_slug", sa.String(80), sa.ForeignKey("cat_units.slug"), nullable=False, index=True),
)

DEFAULT_KINDS: tuple[tuple[str, str], ...] = (
    ("police", "police"),
    ("riot-police", "riot police"),
    ("special-forces", "special forces"),
    ("internal-troops", "internal troops"),
    ("investigative-body", "investigative body"),
    ("prison-service", "prison service"),
    ("other", "other"),
)


def create_unit_tables(conn: Connection) -> None:
    """Create the unit tables and the default kinds where missing (migration ``units`` v1)."""
    unit_metadata.create_all(conn, checkfirst=True)
    if conn.execute(sa.select(sa.func.count()).select_from(unit_kinds)).scalar_one() == 0:
        conn.execute(unit_kinds.insert(), [{"slug": s, "label": la, "position": i} for i, (s, la) in enumerate(DEFAULT_KINDS)])


def _register() -> None:
    from ..ledger.index import register_migration

    register_migration("units", 1, create_unit_tables)


_register()
