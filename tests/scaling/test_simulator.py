"""The simulator's ``--url`` mode against a worker in front of two shards: a small city on the
shard boundary, real driver websockets, orders over REST, offers answered by the drivers."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from scaling import keys
from sims import remote
from sims.city import City
from sims.config import SimConfig
from store.memory import MemoryStore
from tests.scaling.conftest import WEST, run_async, two_shards
from tests.scaling.test_cluster import API_KEY, TENANT, boundary, workers
from tests.scaling.test_dispatch import shards_in_a_thread

pytestmark = pytest.mark.redis


def test_the_simulator_drives_a_sharded_city_across_the_boundary(redis_url: str) -> None:
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_api_key(TENANT, "test", secret=API_KEY)
    line = boundary(two_shards())
    config = SimConfig(
        couriers=16,
        orders_per_s=2.0,
        duration_s=5.0,
        seed=7,
        ping_interval_s=0.25,
        pings_per_message=2,
        tick_s=0.1,
        city=City("boundary", WEST[0], line, 3000.0, 3000.0),
        hotspots=2,
        accept_probability=1.0,
        accept_delay_s=(0.05, 0.2),
        glitch_probability=0.0,
    )

    async def main() -> tuple[dict[str, Any], dict[int, set[str]]]:
        with shards_in_a_thread(redis_url, store, window_s=0.3):
            async with workers(redis_url, store, 1) as (ports, _):
                report = await remote.run_async(
                    f"http://127.0.0.1:{ports[0]}", config, api_key=API_KEY
                )
        redis = Redis.from_url(redis_url)
        held = {s: {k.decode() for k in await redis.hkeys(keys.last_positions(s))} for s in (0, 1)}
        await redis.aclose()
        return report, held

    report, held = run_async(main)
    wall = report["wall"]
    pings = report["pings"]
    assert wall["connect_errors"] == 0
    assert pings["sent"] > 0 and pings["accepted"] == pings["sent"]
    assert report["offers"]["made"] > 0
    assert report["assignment_latency_s"]["count"] > 0
    # the city straddles the boundary: both shards hold couriers, none is held twice
    assert held[0] and held[1] and not held[0] & held[1]
    assert len(held[0] | held[1]) == config.couriers
