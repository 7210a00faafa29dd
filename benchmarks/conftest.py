"""Benchmark fixtures: a durable throwaway PostGIS cluster (fsync on), migrated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.migrate import upgrade
from store.throwaway import create_postgis_database, throwaway_cluster


@pytest.fixture(scope="session")
def bench_postgis_url() -> Iterator[str]:
    """A PostGIS database on a cluster with default durability (fsync, synchronous commit)."""
    with throwaway_cluster(durable=True) as cluster:
        url = create_postgis_database(cluster, "hexdispatch_bench")
        upgrade(url)
        yield url
