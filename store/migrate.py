"""Run the Alembic migrations in store/migrations against a database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlalchemy_url(url: str) -> str:
    """The URL with the psycopg 3 driver named (``postgresql://`` alone would mean psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url``, built in code: there is no alembic.ini to keep in sync."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would treat "%" in passwords as a placeholder.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at (None when unmigrated)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: leave out what migrations do not own.

    PostGIS owns ``spatial_ref_sys``; day partitions of ``courier_positions`` are created by the
    track flusher and dropped by ``prune``.
    """
    if (
        type_ == "table"
        and name
        and (name == "spatial_ref_sys" or name.startswith("courier_positions_"))
    ):
        return False
    spatial_filter: Any = alembic_helpers.include_object  # untyped upstream
    return bool(spatial_filter(obj, name, type_, reflected, compare_to))
