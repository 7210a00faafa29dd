import psycopg
import pytest

pytestmark = pytest.mark.postgis


def test_cluster_serves_postgis(postgis_url: str) -> None:
    conninfo = postgis_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        version = conn.execute("SELECT postgis_lib_version()").fetchone()
        user = conn.execute("SELECT current_user").fetchone()
    assert version is not None and version[0].startswith("3.")
    assert user == ("postgres",)
