import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from store import migrate
from store.migrate import include_object
from store.tables import metadata
from store.throwaway import Cluster, create_postgis_database

pytestmark = pytest.mark.postgis


def test_head_matches_tables_module(postgis_url: str) -> None:
    engine = create_engine(postgis_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(postgis_cluster: Cluster) -> None:
    url = create_postgis_database(postgis_cluster, "hexdispatch_migrations")
    migrate.upgrade(url)
    head = migrate.current(url)
    assert head is not None
    command.downgrade(migrate.alembic_config(url), "base")
    assert migrate.current(url) is None
    migrate.upgrade(url.replace("postgresql+psycopg://", "postgresql://"))  # plain libpq URL too
    migrate.upgrade(url)  # idempotent
    assert migrate.current(url) == head
