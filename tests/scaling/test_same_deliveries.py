"""The simulator (``--url`` mode) against two API workers in front of two shards, and against
the single-process engine, with the same seed: the same orders are delivered, by the same
courier. Deterministic by construction: one courier (so no tie between couriers depends on
timing), answering every offer; its city straddles the shard boundary, so orders picked up in
one shard are served by the courier while another shard holds it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from api.settings import Settings
from sims import fleet, remote
from sims.city import City
from sims.config import SimConfig
from store.memory import MemoryStore
from tests.scaling.conftest import WEST, run_async, two_shards
from tests.scaling.test_cluster import API_KEY, SECRET, TENANT, boundary, workers
from tests.scaling.test_dispatch import shards_in_a_thread

pytestmark = pytest.mark.redis

FAST = 40.0
"""m/s for every vehicle of the simulated fleet (under the 70 m/s ping speed rule), so a
delivery takes seconds in a city this small."""


def _config() -> SimConfig:
    return SimConfig(
        couriers=1,
        orders_per_s=1.0,
        max_orders=2,
        duration_s=9.0,
        seed=28,
        ping_interval_s=0.2,
        tick_s=0.05,
        city=City("boundary", WEST[0], boundary(two_shards()), 40.0, 120.0),
        hotspots=2,
        hotspot_spread_m=15.0,
        dropoff_median_m=20.0,
        accept_probability=1.0,
        accept_delay_s=(0.05, 0.05),
        pickup_service_s=(0.1, 0.1),
        dropoff_service_s=(0.1, 0.1),
        gps_noise_m=0.0,
        glitch_probability=0.0,
    )


def _store() -> MemoryStore:
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_api_key(TENANT, "test", secret=API_KEY)
    return store


def _delivered(store: MemoryStore) -> dict[tuple[float, float], str]:
    """Delivered orders by pickup (the seed places them) → courier number (ids carry a run id)."""
    return {
        (round(o.pickup_lat, 7), round(o.pickup_lng, 7)): str(o.courier_id).rsplit("-", 1)[1]
        for o in store.list_orders(TENANT, state="delivered")
    }


def _simulate(
    serve: Callable[[MemoryStore, Callable[[str, str], Awaitable[dict[str, Any]]]], Any],
) -> tuple[dict[str, Any], dict[tuple[float, float], str]]:
    store = _store()

    async def sim(drivers_url: str, rest_url: str) -> dict[str, Any]:
        return await remote.run_async(drivers_url, _config(), api_key=API_KEY, rest_url=rest_url)

    report = run_async(lambda: serve(store, sim))
    return report, _delivered(store)


async def _single(store: MemoryStore, sim: Callable[..., Awaitable[dict[str, Any]]]) -> Any:
    settings = Settings(token_secret=SECRET, dispatch_window_s=0.1, coalesce_interval_s=0.02)
    config = uvicorn.Config(
        create_app(settings, store=store), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        return await sim(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


def test_same_seed_same_deliveries_as_the_single_process_engine(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet, "DEFAULT_SPEEDS_MPS", dict.fromkeys(fleet.VEHICLE_MIX, FAST))
    single_report, single = _simulate(_single)

    async def sharded(store: MemoryStore, sim: Callable[..., Awaitable[dict[str, Any]]]) -> Any:
        with shards_in_a_thread(redis_url, store, window_s=0.1):
            async with workers(redis_url, store, 2) as (ports, _):
                # drivers on one worker, orders through the other
                urls = [f"http://127.0.0.1:{p}" for p in ports]
                return await sim(urls[0], urls[1])

    sharded_report, scaled = _simulate(sharded)
    assert single and len(single) == 2  # both orders delivered
    assert scaled == single
    # picked up on both sides: one of them while the courier was in the other shard
    assert {two_shards().shard_of(*pickup) for pickup in single} == {0, 1}
    for report in (single_report, sharded_report):
        assert report["pings"]["accepted"] == report["pings"]["sent"]
