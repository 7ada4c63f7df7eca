"""SQL tables of the incident catalog (SQLAlchemy Core) and their migrations.

The migrations are plain functions over a :class:`~sqlalchemy.engine.Connection`, applied in
order inside one transaction each. The workspace registers :data:`MIGRATIONS` with the
archive's migration mechanism; :func:`create_schema` applies them on a bare engine (tests,
tools) keeping its own version row.

Layout (docs/catalog.md): ``cat_regions``, ``cat_categories``, ``cat_incidents``,
``cat_incident_categories``, ``cat_observations``, ``cat_links``, ``cat_testimonies``
(references to encrypted files only), ``cat_approvals``. There is deliberately no table or column for anyone's
personal data.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .models import DEFAULT_CATEGORIES

metadata = sa.MetaData()

regions = sa.Table(
    "cat_regions",
    metadata,
    sa.Column("slug", sa.String(80), primary_key=True),
    sa.Column("name", sa.String(400), nullable=False),
    # casefolded NFC name: two regions differing only in case are one region
    sa.Column("name_key", sa.String(400), nullable=False, unique=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)

categories = sa.Table(
    "cat_categories",
    metadata,
    sa.Column("slug", sa.String(80), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

incidents = sa.Table(
    "cat_incidents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("id_key", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("start", sa.String(40), nullable=False),
    sa.Column("end", sa.String(40), nullable=True),
    sa.Column("start_key", sa.String(40), nullable=False, index=True),
    sa.Column("end_key", sa.String(40), nullable=False),
    sa.Column("precision", sa.String(16), nullable=False),
    sa.Column("place", sa.Text, nullable=False),
    sa.Column("region", sa.String(80), sa.ForeignKey("cat_regions.slug"), nullable=False, index=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("sources", sa.Text, nullable=False),  # JSON list of strings
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("search_text", sa.Text, nullable=False),  # casefolded, for portable LIKE
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

incident_categories = sa.Table(
    "cat_incident_categories",
    metadata,
    sa.Column("incident_id", sa.String(64), sa.ForeignKey("cat_incidents.id"), primary_key=True),
    sa.Column("category", sa.String(80), sa.ForeignKey("cat_categories.slug"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)

observations = sa.Table(
    "cat_observations",
    metadata,
    sa.Column("incident_id", sa.String(64), sa.ForeignKey("cat_incidents.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("unit", sa.Text, nullable=False),
    sa.Column("insignia", sa.Text, nullable=False),
    sa.Column("uniform", sa.Text, nullable=False),
    sa.Column("vehicles", sa.Text, nullable=False),  # JSON list of [type, plate]
    sa.Column("officers", sa.Integer, nullable=True),
)

links = sa.Table(
    "cat_links",
    metadata,
    sa.Column("incident_id", sa.String(64), sa.ForeignKey("cat_incidents.id"), primary_key=True),
    sa.Column("item", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

testimonies = sa.Table(
    "cat_testimonies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(64), sa.ForeignKey("cat_incidents.id"), nullable=False, index=True),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("given_on", sa.String(40), nullable=False),
    sa.Column("has_contact", sa.Boolean, nullable=False),
    # sha256 of the file holding text and contact encrypted to the archive key (the workspace
    # stores it); this table never holds testimony bytes, in clear or not
    sa.Column("blob_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

approvals = sa.Table(
    "cat_approvals",
    metadata,
    sa.Column("item", sa.String(64), primary_key=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
)

_version = sa.Table(
    "cat_schema_version",
    sa.MetaData(),
    sa.Column("version", sa.Integer, nullable=False),
)


def _m1_initial(conn: Connection) -> None:
    metadata.create_all(conn)
    conn.execute(
        categories.insert(),
        [{"slug": c.slug, "label": c.label, "position": i} for i, c in enumerate(DEFAULT_CATEGORIES)],
    )


Migration = Callable[[Connection], None]

MIGRATION_PACKAGE = "catalog"
MIGRATIONS: tuple[tuple[str, Migration], ...] = (("catalog-0001-initial", _m1_initial),)
"""Ordered, named migrations; a name is never reused or edited once released."""


def create_schema(engine: Engine) -> None:
    """Apply the catalog migrations not yet applied to ``engine`` (for a bare engine).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused a statement (nothing applied).
    """
    with engine.begin() as conn:
        _version.create(conn, checkfirst=True)
        row = conn.execute(sa.select(_version.c.version)).first()
        done = row[0] if row else 0
        for _, migrate in MIGRATIONS[done:]:
            migrate(conn)
        from .unit_schema import create_unit_tables

        create_unit_tables(conn)  # the units vocabulary (its own migration in an archive)
        if row is None:
            conn.execute(_version.insert().values(version=len(MIGRATIONS)))
        else:
            conn.execute(_version.update().values(version=len(MIGRATIONS)))


def register() -> None:
    """Register :data:`MIGRATIONS` with the archive's catalog (applied on next ``ws.engine``)."""
    from ..ledger.index import register_migration

    for version, (_, fn) in enumerate(MIGRATIONS, start=1):
        register_migration(MIGRATION_PACKAGE, version, fn)


register()
