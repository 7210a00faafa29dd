"""Orders in scale-out: dispatched by the shard owning the pickup; the offer reaches the driver
through its worker, the driver's accept goes back to that shard, and delivering releases the
courier's load there."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from redis.asyncio import Redis

from api.tokens import issue_driver_token
from scaling.shard import Shard
from scaling.shard_map import save
from store.memory import MemoryStore
from tests.scaling.conftest import EAST, WEST, run_async, two_shards
from tests.scaling.test_cluster import API_KEY, SECRET, TENANT, rest_post, workers

pytestmark = pytest.mark.redis

AREA = {
    "type": "Polygon",
    "coordinates": [[[36.6, -1.5], [37.4, -1.5], [37.4, -1.0], [36.6, -1.0], [36.6, -1.5]]],
}


async def _recv(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of one type, on its own or inside a delta (others are skipped)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        for msg in frame["messages"] if frame["type"] == "delta" else [frame]:
            if msg["type"] == kind:
                return dict(msg)


@contextlib.contextmanager
def shards_in_a_thread(
    url: str, store: MemoryStore, window_s: float = 0.1
) -> Iterator[list[Shard]]:
    """Shards 0 and 1 on an event loop of their own, as shard processes would be (the worker
    answers a driver's accept with a blocking request to them, on a thread)."""
    ready, shards = threading.Event(), []
    holder: dict[str, Any] = {}

    async def serve() -> None:
        redis = Redis.from_url(url)
        shard_map = await save(redis, two_shards())
        stop = holder["stop"] = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        shards.extend(
            Shard(s, redis, shard_map, store=store, dispatch_window_s=window_s) for s in (0, 1)
        )
        tasks = [asyncio.create_task(sh.run(stop)) for sh in shards]
        ready.set()
        await asyncio.gather(*tasks)
        await redis.aclose()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    ready.wait(10)
    try:
        yield shards
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


def test_the_pickup_shard_offers_and_the_driver_accepts_through_its_worker(
    redis_url: str,
) -> None:
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_api_key(TENANT, "test", secret=API_KEY)
    store.create_geofence(TENANT, "service_zone", AREA, name="area")
    for cid in ("west", "east"):
        store.create_courier(TENANT, courier_id=cid, vehicle="bike", capacity=1)

    async def main() -> None:
        with shards_in_a_thread(redis_url, store) as shards:
            async with workers(redis_url, store, 2) as (ports, _):
                drivers = {}
                for cid, (lat, lng), port in (("west", WEST, ports[0]), ("east", EAST, ports[1])):
                    token = issue_driver_token(SECRET, cid, TENANT, time.time() + 3600)
                    uri = f"ws://127.0.0.1:{port}/v1/ws/driver?token={token}"
                    ws = await websockets.connect(uri)
                    ping = {"lat": lat, "lng": lng, "ts": time.time()}
                    await ws.send(json.dumps({"type": "pings", "id": 1, "pings": [ping]}))
                    await _recv(ws, "ack")
                    drivers[cid] = ws
                while "east" not in shards[1].index or "west" not in shards[0].index:
                    await asyncio.sleep(0.02)
                # the pickup is 2 km from the east courier, 40 km from the west one
                pickup = [EAST[1] + 0.02, EAST[0]]
                body = {
                    "pickup": {"type": "Point", "coordinates": pickup},
                    "dropoff": {"type": "Point", "coordinates": [pickup[0] + 0.01, pickup[1]]},
                }
                status, order = await rest_post(ports[0], "/v1/orders", body)
                assert status == 201, order
                offer = await _recv(drivers["east"], "offer")
                assert offer["order_id"] == order["id"]
                assert shards[0].dispatch is not None
                assert order["id"] not in {o.id for o in shards[0].dispatch.dispatcher.pool()}
                ws = drivers["east"]
                await ws.send(json.dumps({"type": "accept", "offer_id": offer["offer_id"]}))
                answered = await _recv(ws, "answered")
                assert (answered["order"]["state"], answered["order"]["courier_id"]) == (
                    "assigned",
                    "east",
                )
                assert shards[1].index.get("east").load == 1
                # picked up and delivered: positions from the shard, load released in it
                oid = order["id"]
                await ws.send(json.dumps({"type": "pick_up", "order_id": oid}))
                picked = await _recv(ws, "order_ack")
                assert picked["order"]["state"] == "picked_up"
                proof = {"kind": "photo", "reference": "p1"}
                await ws.send(json.dumps({"type": "deliver", "order_id": oid, "proof": proof}))
                delivered = await _recv(ws, "order_ack")
                assert delivered["order"]["state"] == "delivered"
                assert shards[1].index.get("east").load == 0
                for w in drivers.values():
                    await w.close()

    run_async(main)
    (stored,) = store.list_orders(TENANT)
    assert (stored.state, stored.courier_id) == ("delivered", "east")
    events = store.list_order_events(TENANT, stored.id)
    (picked_up,) = [e for e in events if e.kind == "order.picked_up"]
    assert picked_up.courier_position is not None  # where it was, from its shard's snapshot
