"""A throwaway redis-server for the scale-out tests, and a two-shard map across Nairobi."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import h3.api.basic_int as h3i
import pytest

from scaling import keys
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


async def streams_idle(redis: Any, shards: Iterable[int]) -> bool:
    """Whether every entry of these shards' streams was applied and acknowledged.

    One atomic snapshot (MULTI) of every stream: an entry goes from undelivered (after the
    group's last-delivered id) to pending to acknowledged, and a handover's takeover is added
    to the next stream in the MULTI that acknowledges the handover, so the snapshot never
    finds an entry in neither state. Separate reads could: the pending count read before a
    shard's XREADGROUP and the delivery read after it both look idle while the shard has not
    applied the entry yet (how the crossing test once saw the courier's next-to-last ping).
    """
    pipe = redis.pipeline(transaction=True)
    for s in shards:
        pipe.xinfo_stream(keys.stream(s))
        pipe.xinfo_groups(keys.stream(s))
    replies = await pipe.execute()
    for stream, (group,) in zip(replies[::2], replies[1::2], strict=True):
        if group["pending"] or group["last-delivered-id"] != stream["last-generated-id"]:
            return False
    return True
