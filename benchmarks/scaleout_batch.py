"""How long a shard's dispatch batch holds its event loop, with the couriers of the area in
its own index (the peer: one shard) and with half of them lent by a neighbour over Redis (two
shards, every pickup near the boundary), in the same run.

    python -m benchmarks.scaleout_batch --couriers 2000 --orders 200 --repeat 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
from redis.asyncio import Redis

from orders.lifecycle import OrderDraft, create_order
from orders.model import Actor, ActorKind
from scaling.shard import Shard
from scaling.shard_map import ShardMap, save
from scaling.throwaway_redis import throwaway_redis
from store.memory import MemoryStore

TENANT = "t1"
LAT, WEST_LNG, EAST_LNG = -1.28, 36.80, 37.20


def maps() -> tuple[ShardMap, ShardMap, float]:
    """One shard for everything; two shards split at a boundary longitude (returned)."""
    east = h3i.latlng_to_cell(LAT, EAST_LNG, 4)
    two = ShardMap(resolution=4, cells={east: 1}, default=0)
    lngs = np.arange(WEST_LNG, EAST_LNG, 0.001)
    owners = [two.shard_of(LAT, float(x)) for x in lngs]
    line = float(lngs[next(i for i in range(len(lngs)) if owners[i] == 1)])
    return ShardMap(resolution=4, cells={}, default=0), two, line


async def one_batch(url: str, shard_map: ShardMap, line: float, args: Any, seed: int) -> float:
    """Seconds the first batch of shard 0 takes (its loop is held for all of it but the
    awaits on Redis)."""
    rng = np.random.default_rng(seed)
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    area = [[36.6, -1.5], [37.4, -1.5], [37.4, -1.0], [36.6, -1.0], [36.6, -1.5]]
    store.create_geofence(TENANT, "service_zone", {"type": "Polygon", "coordinates": [area]})
    redis = Redis.from_url(url)
    await redis.flushall()
    stored = await save(redis, shard_map)
    shards = {s: Shard(s, redis, stored, store=store) for s in stored.shards}
    now = time.time()
    # couriers within 2 km of the boundary on both sides, pickups on the west side
    lats = LAT + rng.uniform(-0.02, 0.02, args.couriers)
    lngs = line + rng.uniform(-0.02, 0.02, args.couriers)
    for i in range(args.couriers):
        store.create_courier(TENANT, courier_id=f"c{i}", vehicle="bike", capacity=1)
    owner = np.array([stored.shard_of(a, b) for a, b in zip(lats, lngs, strict=True)])
    for s, shard in shards.items():
        mine = np.flatnonzero(owner == s)
        ids = [f"c{i}" for i in mine.tolist()]
        shard.index.upsert_many(
            ids, lats[mine], lngs[mine], now - 1, tenant=TENANT, vehicle="bike", capacity=1
        )
    actor = Actor(ActorKind.TENANT, TENANT)
    for i in range(args.orders):
        plat, plng = LAT + rng.uniform(-0.02, 0.02), line - rng.uniform(0.0, 0.01)
        draft = OrderDraft(plat, plng, plat + 0.005, plng, 0, "KES")
        order = store.create_order(
            create_order(draft, order_id=f"o{i}", tenant=TENANT, at=now, actor=actor)
        )[0]
        shard_of_pickup = stored.shard_of(plat, plng)
        dispatch = shards[shard_of_pickup].dispatch
        assert dispatch is not None
        dispatch.submit(order)
    stop = asyncio.Event()
    servers = [asyncio.create_task(sh.serve_requests(stop)) for sh in shards.values()]
    started = time.perf_counter()
    report = await shards[0].run_batch()
    took = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*servers)
    await redis.aclose()
    assert report.offers, "the batch made no offer"
    return took


async def main_async(args: Any) -> dict[str, Any]:
    one, two, line = maps()
    out: dict[str, list[float]] = {"one shard (peer)": [], "two shards, lending": []}
    with throwaway_redis() as server:
        for r in range(args.repeat):
            out["one shard (peer)"].append(await one_batch(server.url, one, line, args, r))
            out["two shards, lending"].append(await one_batch(server.url, two, line, args, r))
    return {
        "couriers": args.couriers,
        "orders": args.orders,
        "median_ms": {k: round(statistics.median(v) * 1e3, 1) for k, v in out.items()},
        "runs_ms": {k: [round(x * 1e3, 1) for x in v] for k, v in out.items()},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--couriers", type=int, default=2000)
    p.add_argument("--orders", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
