"""A throwaway redis-server for the scale-out tests, and a two-shard map across Nairobi."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import h3.api.basic_int as h3i
import pytest

from scaling.shard_map import ShardMap
from scaling.throwaway_redis import RedisServer, RedisUnavailable, throwaway_redis

T = TypeVar("T")

WEST = (-1.28, 36.80)
EAST = (-1.28, 37.20)
"""Two points in different resolution-4 cells (about 44 km apart)."""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server per session; missing redis-server skips outside CI and fails in CI."""
    try:
        with throwaway_redis() as server:
            yield server
    except RedisUnavailable as exc:
        if _in_ci():
            pytest.fail(f"Redis tests cannot run in CI: {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The server, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` on a thread of its own: an earlier test of the session (the
    browser tests' sync Playwright) may have left an event loop running on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def two_shards() -> ShardMap:
    """Shard 1 owns the resolution-4 cell of `EAST`; every other cell is shard 0's."""
    east = h3i.latlng_to_cell(*EAST, 4)
    assert h3i.latlng_to_cell(*WEST, 4) != east
    return ShardMap(resolution=4, cells={east: 1}, default=0)
