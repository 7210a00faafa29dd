"""The k nearest couriers across shards equal the single-index answer (brute force oracle)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from geo.cells import polygon_cover
from geo.distance import great_circle_m_array
from scaling.gateway import Gateway, nearest_across
from scaling.shard import Shard
from scaling.shard_map import ShardMap, balanced, save
from tests.scaling.conftest import run_async
from tracking import LiveIndex
from tracking.hub import Hub

W, S, E, N = 36.5, -1.6, 37.3, -1.0
"""A box about 90 km across: several resolution-4 cells, so boundaries run through it."""


def _city(seed: int, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return [f"c{i}" for i in range(n)], rng.uniform(S, N, n), rng.uniform(W, E, n)


def _map(n_shards: int) -> ShardMap:
    from shapely.geometry import box

    interior, boundary = polygon_cover(box(W, S, E, N), 4)
    return balanced([*interior.tolist(), *boundary.tolist()], n_shards, 4)


def _shards(shard_map: ShardMap, seed: int, n: int) -> dict[int, LiveIndex]:
    """Each courier in the index of the shard owning its position."""
    ids, lats, lngs = _city(seed, n)
    out = {s: LiveIndex(clock=lambda: 1e9) for s in shard_map.shards}
    owner = np.array([shard_map.shard_of(a, b) for a, b in zip(lats, lngs, strict=True)])
    for s, index in out.items():
        mine = np.flatnonzero(owner == s)
        if mine.size:
            index.upsert_many([ids[i] for i in mine], lats[mine], lngs[mine], 1e9 - 1)
    return out


def _brute(seed: int, n: int, lat: float, lng: float, k: int) -> list[tuple[str, float]]:
    ids, lats, lngs = _city(seed, n)
    d = great_circle_m_array(lat, lng, lats, lngs)
    order = np.lexsort((np.array(ids), d))[:k]
    return [(ids[i], float(d[i])) for i in order]


MAP3 = _map(3)
SHARDS3 = _shards(MAP3, seed=7, n=600)


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(S - 0.1, N + 0.1),
    lng=st.floats(W - 0.1, E + 0.1),
    k=st.integers(1, 40),
)
def test_nearest_across_shards_equals_brute_force(lat: float, lng: float, k: int) -> None:
    async def ask(shard: int) -> list[tuple[str, float]]:
        return [(str(c), m) for c, m in SHARDS3[shard].nearest(lat, lng, k)]

    got = run_async(lambda: nearest_across(MAP3, ask, lat, lng, k))
    want = _brute(7, 600, lat, lng, k)
    assert [c for c, _ in got] == [c for c, _ in want] or np.allclose(
        [m for _, m in got], [m for _, m in want], rtol=0, atol=1e-3
    )
    assert np.allclose([m for _, m in got], [m for _, m in want], rtol=0, atol=1e-3)


def test_fewer_couriers_than_k_asks_every_shard() -> None:
    async def ask(shard: int) -> list[tuple[str, float]]:
        return [(str(c), m) for c, m in SHARDS3[shard].nearest(-1.3, 36.8, 1000)]

    got = run_async(lambda: nearest_across(MAP3, ask, -1.3, 36.8, 1000))
    assert [c for c, _ in got] == [c for c, _ in _brute(7, 600, -1.3, 36.8, 1000)]


@pytest.mark.redis
def test_nearest_over_redis_asks_the_neighbouring_shard(redis_url: str) -> None:
    """Two shard tasks answering over Redis request/reply; the point sits next to the
    boundary, so some of its nearest couriers are the other shard's."""
    shard_map = _map(2)
    lat = -1.3
    lng = next(  # the first longitude where the owner changes along the parallel
        b
        for a, b in zip(np.arange(W, E, 0.005), np.arange(W + 0.005, E, 0.005), strict=False)
        if shard_map.shard_of(lat, a) != shard_map.shard_of(lat, b)
    )

    async def main() -> None:
        redis = Redis.from_url(redis_url)
        stored = await save(redis, shard_map)
        indexes = _shards(stored, seed=3, n=300)
        stop = asyncio.Event()
        shards = [Shard(s, redis, stored) for s in stored.shards]
        for sh in shards:
            sh.index = indexes[sh.id]
        tasks = [asyncio.create_task(sh.serve_requests(stop)) for sh in shards]
        gateway = Gateway(Redis.from_url(redis_url), Hub(), None)
        await gateway.start()
        try:
            got = await gateway.nearest(lat, lng, 25)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await gateway.stop()
            await redis.aclose()
        want = _brute(3, 300, lat, lng, 25)
        assert [c for c, _ in got] == [c for c, _ in want]
        owners = {stored.shard_of(*_position(3, 300, c)) for c, _ in got}
        assert owners == {0, 1}

    run_async(main)


def _position(seed: int, n: int, courier: str) -> tuple[float, float]:
    ids, lats, lngs = _city(seed, n)
    i = ids.index(courier)
    return float(lats[i]), float(lngs[i])
