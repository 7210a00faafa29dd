"""Shared fixtures: a throwaway PostgreSQL + PostGIS cluster for the tests marked ``postgis``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from store.migrate import upgrade
from store.throwaway import Cluster, ClusterUnavailable, create_postgis_database, throwaway_cluster

# No test asserts a wall-clock time, and hypothesis's default 200 ms deadline is one: on shared
# CI cores it fails correct code. Example counts stay per test.
settings.register_profile("hexdispatch", deadline=None)
settings.load_profile("hexdispatch")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgis_cluster() -> Iterator[Cluster]:
    """One cluster per test session, run as an unprivileged user, removed afterwards.

    Missing PostgreSQL/PostGIS skips the PostGIS tests on a developer machine but fails loudly in
    CI (``CI=true``), where these tests must run.
    """
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except ClusterUnavailable as exc:
        if _in_ci():
            pytest.fail(f"PostGIS tests cannot run in CI: {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgis_url(postgis_cluster: Cluster) -> str:
    """SQLAlchemy URL of a PostGIS database on the throwaway cluster, migrated to head."""
    url = create_postgis_database(postgis_cluster, "hexdispatch_test")
    upgrade(url)
    return url
