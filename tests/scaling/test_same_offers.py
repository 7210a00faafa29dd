"""Same seed, same offers: sharded dispatch matches the single-process engine's batch when no
order's candidates cross a shard boundary (each city cluster lies inside one shard)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from redis.asyncio import Redis

from dispatch.dispatcher import Dispatcher, load_onto
from dispatch.model import DispatchOrder
from dispatch.offers import OfferBook
from orders.lifecycle import OrderDraft, create_order
from orders.model import Actor, ActorKind, Order, OrderState
from scaling import codec, keys
from scaling.codec import Pings
from scaling.remote_dispatch import RemoteDispatch
from scaling.shard_map import save
from store.memory import MemoryStore
from tests.scaling.conftest import EAST, WEST, run_async, two_shards
from tests.scaling.test_dispatch import AREA, shards_in_a_thread
from tracking import LiveIndex

pytestmark = pytest.mark.redis

TENANT = "t1"


def city(seed: int, now: float) -> tuple[dict[str, tuple[float, float]], list[OrderDraft]]:
    """10 couriers and 6 orders within ~3 km of each of the two cluster centres."""
    rng = np.random.default_rng(seed)
    couriers, drafts = {}, []
    for name, (lat, lng) in (("w", WEST), ("e", EAST)):
        for i in range(10):
            couriers[f"{name}{i}"] = (
                lat + rng.uniform(-0.02, 0.02),
                lng + rng.uniform(-0.02, 0.02),
            )
        for _ in range(6):
            plat, plng = lat + rng.uniform(-0.02, 0.02), lng + rng.uniform(-0.02, 0.02)
            drafts.append(OrderDraft(plat, plng, plat + 0.005, plng + 0.005, 0, "KES"))
    return couriers, drafts


def single_engine(
    couriers: dict[str, tuple[float, float]], orders: list[Order], now: float
) -> dict[str, str]:
    """The embedded engine's batch: one index, one dispatcher, every order."""
    index = LiveIndex(clock=lambda: now)
    ids = list(couriers)
    index.upsert_many(
        ids,
        [couriers[c][0] for c in ids],
        [couriers[c][1] for c in ids],
        now - 1,
        tenant=TENANT,
        vehicle="bike",
        capacity=1,
    )
    dispatcher = Dispatcher(
        index, OfferBook(timeout_s=30, clock=lambda: now), load_onto(index), clock=lambda: now
    )
    dispatcher.submit(
        DispatchOrder(
            id=o.id, tenant=o.tenant, pickup_lat=o.pickup_lat, pickup_lng=o.pickup_lng,
            dropoff_lat=o.dropoff_lat, dropoff_lng=o.dropoff_lng, created_at=o.created_at,
            size=o.size, priority=o.priority,
        )
        for o in orders
    )  # fmt: skip
    dispatcher.run_once()
    return {offer.order_id: offer.courier_id for offer in dispatcher.last_offers}


@pytest.mark.parametrize("seed", [1, 2])
def test_sharded_dispatch_makes_the_single_engines_offers(redis_url: str, seed: int) -> None:
    now = time.time()
    couriers, drafts = city(seed, now)
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_geofence(TENANT, "service_zone", AREA, name="area")
    for cid in couriers:
        store.create_courier(TENANT, courier_id=cid, vehicle="bike", capacity=1)
    actor = Actor(ActorKind.TENANT, TENANT)
    orders = [
        store.create_order(
            create_order(d, order_id=f"o{i:02d}", tenant=TENANT, at=now, actor=actor)
        )[0]
        for i, d in enumerate(drafts)
    ]
    shard_map = two_shards()

    async def queue() -> None:
        """Every courier's ping and every order on its owner's stream before the shards start,
        so each shard's first batch sees its whole pool."""
        redis = Redis.from_url(redis_url)
        await save(redis, shard_map)
        for cid, (lat, lng) in couriers.items():
            entry = Pings(TENANT, cid, "bike", 1, [(lat, lng, now - 1, None, None, None)])
            stream = keys.stream(shard_map.shard_of(lat, lng))
            await redis.xadd(stream, {codec.ENTRY_FIELD: codec.encode(entry)})
        await redis.aclose()

    run_async(queue)
    remote = RemoteDispatch(redis_url, store, shard_map, timeout_s=1.0)
    for order in orders:
        remote.submit(order)
    remote.close()
    with shards_in_a_thread(redis_url, store, window_s=1.0):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            offered = store.list_orders(TENANT, state=OrderState.OFFERED)
            if len(offered) == len(orders):
                break
            time.sleep(0.05)
    sharded = {o.id: str(o.courier_id) for o in offered}
    assert sharded == single_engine(couriers, orders, now)
    # each order offered by the shard owning its pickup, to one of that shard's couriers
    for order in orders:
        assert shard_map.shard_of(order.pickup_lat, order.pickup_lng) == shard_map.shard_of(
            *couriers[sharded[order.id]]
        )
