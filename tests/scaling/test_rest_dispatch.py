"""The tenant's dispatch controls on a worker in front of shards: a batch on demand runs in the
shards, an offer is rejected through the shard that made it, and assigning by hand goes to the
shard owning the pickup, the load to the courier's shard."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from scaling import codec, keys
from scaling.codec import Pings
from store.memory import MemoryStore
from tests.scaling.conftest import EAST, WEST, run_async
from tests.scaling.test_cluster import API_KEY, TENANT, rest_post, workers
from tests.scaling.test_dispatch import AREA, shards_in_a_thread

pytestmark = pytest.mark.redis


def _body(lat: float, lng: float) -> dict[str, object]:
    return {
        "pickup": {"type": "Point", "coordinates": [lng, lat]},
        "dropoff": {"type": "Point", "coordinates": [lng + 0.01, lat]},
    }


async def _until(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def test_dispatch_run_reject_and_assign_by_hand_reach_the_shards(redis_url: str) -> None:
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_api_key(TENANT, "test", secret=API_KEY)
    store.create_geofence(TENANT, "service_zone", AREA, name="area")
    store.create_courier(TENANT, courier_id="east", vehicle="bike", capacity=1)

    async def main() -> None:
        # a long window: only the batch asked for runs
        with shards_in_a_thread(redis_url, store, window_s=600) as shards:
            redis = Redis.from_url(redis_url)
            ping = Pings(TENANT, "east", "bike", 1, [(*EAST, time.time(), None, None, None)])
            await redis.xadd(keys.stream(1), {codec.ENTRY_FIELD: codec.encode(ping)})
            await redis.aclose()
            await _until(lambda: "east" in shards[1].index)
            async with workers(redis_url, store, 1) as (ports, _):
                port = ports[0]
                status, near = await rest_post(port, "/v1/orders", _body(EAST[0], EAST[1] + 0.01))
                assert status == 201, near
                assert shards[1].dispatch is not None
                await _until(lambda: shards[1].dispatch.dispatcher.pool())
                status, run = await rest_post(port, "/v1/dispatch/run", {})
                assert status == 200, run
                (offer,) = run["offers"]
                assert (offer["order_id"], offer["courier_id"]) == (near["id"], "east")
                status, rejected = await rest_post(
                    port, f"/v1/offers/{offer['offer_id']}/reject", {}
                )
                assert (status, rejected["state"]) == (200, "created"), rejected
                # an order picked up in shard 0 given by hand to shard 1's courier
                status, far = await rest_post(port, "/v1/orders", _body(*WEST))
                assert status == 201, far
                status, assigned = await rest_post(
                    port, f"/v1/orders/{far['id']}/assign", {"courier_id": "east"}
                )
                assert status == 200, assigned
                assert (assigned["state"], assigned["courier_id"]) == ("assigned", "east")
                await _until(lambda: shards[1].index.get("east").load == 1)
                status, again = await rest_post(port, "/v1/dispatch/run", {})
                assert (status, again["offers"]) == (200, [])  # east is full, "near" waits
                assert near["id"] in again["unassigned"]

    run_async(main)
