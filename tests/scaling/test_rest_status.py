"""A courier's status set over REST on a worker in front of shards reaches the shard holding
the courier: before its first ping (kept until a shard takes it), and after (in order with its
pings); the worker's courier view reads the shard's state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from scaling import codec, keys
from scaling.codec import Pings
from store.memory import MemoryStore
from tests.scaling.conftest import EAST, run_async
from tests.scaling.test_cluster import API_KEY, TENANT, rest_call, rest_post, workers
from tests.scaling.test_dispatch import AREA, shards_in_a_thread

pytestmark = pytest.mark.redis


async def _until(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def test_status_set_on_a_worker_reaches_the_courier_shard(redis_url: str) -> None:
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_api_key(TENANT, "test", secret=API_KEY)
    store.create_geofence(TENANT, "service_zone", AREA, name="area")
    store.create_courier(TENANT, courier_id="east", vehicle="bike", capacity=1)

    async def main() -> None:
        with shards_in_a_thread(redis_url, store, window_s=600) as shards:
            async with workers(redis_url, store, 1) as (ports, _):
                port = ports[0]
                # no shard holds the courier yet: the status waits for its first ping
                status, view = await rest_post(port, "/v1/couriers/east/status", {"status": "busy"})
                assert status == 200, view
                status, view = await rest_call(port, "GET", "/v1/couriers/east")
                assert (status, view["status"], view["position"]) == (200, "offline", None)

                redis = Redis.from_url(redis_url)
                ping = Pings(TENANT, "east", "bike", 1, [(*EAST, time.time(), None, None, None)])
                await redis.xadd(keys.stream(1), {codec.ENTRY_FIELD: codec.encode(ping)})
                await _until(
                    lambda: (
                        "east" in shards[1].index and shards[1].index.get("east").status == "busy"
                    )
                )
                assert await redis.hget(keys.PENDING_STATUS, "east") is None  # taken
                await redis.aclose()

                async def view_status() -> str:
                    _, got = await rest_call(port, "GET", "/v1/couriers/east")
                    return str(got["status"])

                deadline = time.monotonic() + 10
                while await view_status() != "busy":  # the shard saves after applying
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                _, view = await rest_call(port, "GET", "/v1/couriers/east")
                assert view["position"]["coordinates"] == pytest.approx([EAST[1], EAST[0]])

                # held by shard 1 now: the status goes through its stream
                status, _ = await rest_post(port, "/v1/couriers/east/status", {"status": "idle"})
                assert status == 200
                await _until(lambda: shards[1].index.get("east").status == "idle")
                assert "east" not in shards[0].index

    run_async(main)
