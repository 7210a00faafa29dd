"""Pings through the shard streams on a real redis-server: applied, acknowledged, snapshotted,
published to console cells, handed over across the shard boundary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from api.messages import WirePing
from geo.cells import cell_of
from scaling import codec, keys
from scaling.gateway import Gateway
from scaling.shard import Shard
from scaling.shard_map import ShardMap, save
from store.errors import NotFound
from store.interface import Store
from store.memory import MemoryStore
from store.records import Courier
from tests.scaling.conftest import EAST, WEST, run_async, streams_idle, two_shards
from tracking.hub import Hub

pytestmark = pytest.mark.redis

T0 = 1_800_000_000.0


def _courier_of(tenant: str, courier_id: str) -> Courier:
    if courier_id.startswith("ghost"):
        raise NotFound("courier", courier_id)
    return Courier(courier_id, tenant, "", "bike", 2, T0)


@dataclass
class Cluster:
    redis: Redis
    gateway: Gateway
    hub: Hub
    shards: dict[int, Shard]

    async def settle(self) -> None:
        """Until every stream entry is applied and acknowledged."""
        for _ in range(400):
            if await streams_idle(self.redis, self.shards):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("streams did not settle")


@asynccontextmanager
async def cluster(
    url: str, clock: Callable[[], float], store: Store | None = None
) -> AsyncIterator[Cluster]:
    redis = Redis.from_url(url)
    shard_map = await save(redis, two_shards())
    stop = asyncio.Event()
    shards = {s: Shard(s, redis, shard_map, clock=clock, store=store) for s in (0, 1)}
    tasks = [asyncio.create_task(sh.run(stop)) for sh in shards.values()]
    hub = Hub()
    gateway = Gateway(Redis.from_url(url), hub, _courier_of)
    await gateway.start()
    try:
        yield Cluster(redis, gateway, hub, shards)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await gateway.stop()
        await redis.aclose()


def ping(lat: float, lng: float, ts: float) -> WirePing:
    return WirePing(lat=lat, lng=lng, ts=ts)


def test_pings_are_applied_by_the_owning_shard_and_acknowledged(redis_url: str) -> None:
    async def main() -> None:
        async with cluster(redis_url, lambda: T0 + 100) as c:
            west = await c.gateway.ingest(
                "t1", "w1", [ping(*WEST, T0), ping(WEST[0], WEST[1] + 1e-4, T0 + 1)]
            )
            east = await c.gateway.ingest("t1", "e1", [ping(*EAST, T0)])
            bad = await c.gateway.ingest("t1", "w2", [ping(91.0, 0.0, T0)])
            with pytest.raises(NotFound):
                await c.gateway.ingest("t1", "ghost", [ping(*WEST, T0)])
            assert [r.accepted for r in west + east] == [True, True, True]
            assert bad[0].reason == "invalid_coordinate"
            await c.settle()
            assert "w1" in c.shards[0].index and "w1" not in c.shards[1].index
            assert "e1" in c.shards[1].index and "e1" not in c.shards[0].index
            assert c.shards[0].index.get("w1").ts == T0 + 1
            saved = await c.redis.hgetall(keys.last_positions(0))
            assert set(saved) == {b"w1"}
            assert codec.snapshot_decoder.decode(saved[b"w1"]).ts == T0 + 1
            assert await c.redis.hget(keys.OWNER, "e1") == b"1"

    run_async(main)


def test_console_cells_reach_the_worker_hub(redis_url: str) -> None:
    async def main() -> None:
        async with cluster(redis_url, lambda: T0 + 100) as c:
            sub = c.hub.subscribe("t1")
            cell = cell_of(*EAST, 6)
            c.hub.set_topics(sub, [("cell", cell)])
            await c.gateway.watch(sub, [cell])
            await c.gateway.ingest("t1", "e1", [ping(*EAST, T0)])
            await c.gateway.ingest("t2", "e2", [ping(*EAST, T0)])  # another tenant: not seen
            await c.settle()
            for _ in range(100):
                got = c.hub.drain(sub)
                if got:
                    break
                await asyncio.sleep(0.02)
            assert [m.id for m in got] == ["e1"]
            snapshot = await c.gateway.couriers_in_cells("t1", [cell])
            assert [m.id for m in snapshot] == ["e1"]

    run_async(main)


def test_a_courier_crossing_the_boundary_is_handed_over_with_its_state(redis_url: str) -> None:
    async def main() -> None:
        now = [T0 + 10]
        async with cluster(redis_url, lambda: now[0]) as c:
            await c.gateway.ingest("t1", "x", [ping(*WEST, T0)])
            await c.settle()
            c.shards[0].index.set_attrs("x", load=1, vehicle="car")
            # 44 km east in 3000 s (15 m/s): accepted against the handed-over position
            now[0] = T0 + 3010
            crossing = await c.gateway.ingest("t1", "x", [ping(*EAST, T0 + 3000)])
            after = await c.gateway.ingest("t1", "x", [ping(EAST[0], EAST[1] + 1e-4, T0 + 3001)])
            assert crossing[0].accepted and after[0].accepted
            await c.settle()
            assert "x" not in c.shards[0].index
            state = c.shards[1].index.get("x")
            assert (state.ts, state.load, state.vehicle) == (T0 + 3001, 1, "car")
            assert await c.redis.hget(keys.OWNER, "x") == b"1"
            assert await c.redis.hkeys(keys.last_positions(0)) == []
            # and back west: handed over again
            now[0] = T0 + 6010
            await c.gateway.ingest("t1", "x", [ping(*WEST, T0 + 6001)])
            await c.settle()
            assert "x" in c.shards[0].index and "x" not in c.shards[1].index
            assert c.shards[0].index.get("x").load == 1

    run_async(main)


def _box(w: float, s: float, e: float, n: float) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def test_fence_events_reach_consoles_and_a_handover_is_not_an_exit(redis_url: str) -> None:
    """A fence straddling both shards: entering it is one event; crossing the shard boundary
    inside it is none; leaving it (in the other shard) is one."""
    store = MemoryStore()
    store.create_tenant("T", tenant_id="t1")
    fence = store.create_geofence("t1", "hub", _box(36.9, -1.29, 37.3, -1.27), name="wide")

    async def main() -> list[tuple[str, str]]:
        now = [T0 + 10]
        async with cluster(redis_url, lambda: now[0], store) as c:
            sub = c.hub.subscribe("t1")
            c.hub.set_topics(sub, [("fences", "*")])
            cells = [cell_of(*WEST, 6), cell_of(-1.28, 36.95, 6), cell_of(-1.30, 37.2, 6)]
            cells += [cell_of(*EAST, 6)]
            await c.gateway.watch(sub, cells)
            await c.gateway.ingest("t1", "x", [ping(*WEST, T0)])  # outside
            now[0] = T0 + 1000
            await c.gateway.ingest("t1", "x", [ping(-1.28, 36.95, T0 + 1000)])  # enters
            now[0] = T0 + 4000
            await c.gateway.ingest("t1", "x", [ping(*EAST, T0 + 4000)])  # other shard, inside
            now[0] = T0 + 4200
            await c.gateway.ingest("t1", "x", [ping(-1.30, 37.2, T0 + 4200)])  # leaves
            await c.settle()
            got: list[tuple[str, str]] = []
            for _ in range(100):
                got += [(m.event, m.fence_id) for m in c.hub.drain(sub)]
                if ("exit", fence.id) in got:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
            return got + [(m.event, m.fence_id) for m in c.hub.drain(sub)]

    events = [e for e in run_async(main) if e[0] != "dwell"]
    assert events == [("enter", fence.id), ("exit", fence.id)]


def test_a_new_shard_map_reaches_running_shards_and_workers(redis_url: str) -> None:
    """Saving a map announces it: the worker routes by it at once, and a courier whose cell
    moved is handed over to its new shard on its next ping, with its state."""

    async def main() -> None:
        async with cluster(redis_url, lambda: T0 + 100) as c:
            await c.gateway.ingest("t1", "x", [ping(*WEST, T0)])
            await c.settle()
            c.shards[0].index.set_attrs("x", load=1)
            old = c.shards[0].shard_map
            west = cell_of(*WEST, old.resolution)
            moved = await save(c.redis, ShardMap(old.resolution, {**old.cells, west: 1}, 0))
            for _ in range(200):
                maps = [c.gateway.shard_map, *(sh.shard_map for sh in c.shards.values())]
                if all(m is not None and m.version == moved.version for m in maps):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the new map did not reach every process")
            await c.gateway.ingest("t1", "x", [ping(WEST[0], WEST[1] + 1e-4, T0 + 1)])
            await c.settle()
            assert "x" not in c.shards[0].index
            state = c.shards[1].index.get("x")
            assert (state.ts, state.load) == (T0 + 1, 1)
            assert await c.redis.hget(keys.OWNER, "x") == b"1"

    run_async(main)
