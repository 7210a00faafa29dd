"""Dispatch across a shard boundary: a shard's batch considers the free couriers its neighbour
lends it near its pickups; a lent courier is offered by one shard at a time, and its load
goes back to its own shard when it accepts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis
from redis.asyncio import Redis

from api.outbound import OfferMessage
from orders.lifecycle import OrderDraft, create_order
from orders.model import Actor, ActorKind, Order, OrderState
from scaling import codec, keys
from scaling.codec import Pings
from scaling.remote_dispatch import RemoteDispatch
from scaling.shard_map import save
from store.memory import MemoryStore
from tests.scaling.conftest import WEST, run_async, two_shards
from tests.scaling.test_cluster import boundary
from tests.scaling.test_dispatch import AREA, shards_in_a_thread

pytestmark = pytest.mark.redis

TENANT = "t1"


def _order(store: MemoryStore, order_id: str, lat: float, lng: float) -> Order:
    draft = OrderDraft(lat, lng, lat + 0.003, lng, 0, "KES")
    actor = Actor(ActorKind.TENANT, TENANT)
    created = create_order(draft, order_id=order_id, tenant=TENANT, at=time.time(), actor=actor)
    return store.create_order(created)[0]


def _wait(check: Callable[[], object], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_an_order_across_the_boundary_gets_the_neighbours_only_free_courier(
    redis_url: str,
) -> None:
    shard_map = two_shards()
    line = boundary(shard_map)
    courier_at, west_pickup, east_pickup = (
        (WEST[0], line + 0.002),
        (WEST[0], line - 0.002),
        (WEST[0], line + 0.003),
    )  # the courier is in shard 1, 450 m from a pickup in shard 0
    assert shard_map.shard_of(*courier_at) == 1 and shard_map.shard_of(*west_pickup) == 0
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_geofence(TENANT, "service_zone", AREA, name="area")
    store.create_courier(TENANT, courier_id="c1", vehicle="bike", capacity=1)
    offers: list[OfferMessage] = []

    async def ping() -> None:
        redis = Redis.from_url(redis_url)
        await save(redis, shard_map)
        entry = Pings(TENANT, "c1", "bike", 1, [(*courier_at, time.time(), None, None, None)])
        await redis.xadd(keys.stream(1), {codec.ENTRY_FIELD: codec.encode(entry)})
        await redis.aclose()

    run_async(ping)
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(keys.courier_channel("c1"))
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if msg is not None:
                update = codec.update_decoder.decode(msg["data"])
                offers.extend(e for e in update.events if isinstance(e, OfferMessage))

    remote = RemoteDispatch(redis_url, store, shard_map, timeout_s=2.0)
    listening = threading.Thread(target=listen)
    listening.start()
    try:
        with shards_in_a_thread(redis_url, store, window_s=0.1) as shards:
            _wait(lambda: "c1" in shards[1].index, "the courier in shard 1")
            remote.submit(_order(store, "west", *west_pickup))
            _wait(lambda: offers, "an offer on the courier's channel")
            (offer,) = offers
            assert (offer.order_id, offer.offer_id[:3]) == ("west", "s0.")  # shard 0 offered
            assert shards[1].lent["c1"][0] == 0
            # while shard 0's offer is out, shard 1 does not offer its own courier
            remote.submit(_order(store, "east", *east_pickup))
            _wait(lambda: "east" in {o.id for o in shards[1].dispatch.dispatcher.pool()}, "pool")
            time.sleep(0.5)  # five windows of both shards
            assert store.get_order(TENANT, "east").state is OrderState.CREATED
            assert len(offers) == 1
            assigned = remote.answer(TENANT, "c1", offer.offer_id, accept=True)
            assert (assigned.state, assigned.courier_id) == (OrderState.ASSIGNED, "c1")
            # the load goes to the courier's own shard, which then holds it again
            _wait(lambda: shards[1].index.get("c1").load == 1, "the load in shard 1")
            _wait(lambda: "c1" not in shards[1].lent, "the courier given back")
            assert "c1" not in shards[0].borrowed
            time.sleep(0.3)
            assert store.get_order(TENANT, "east").state is OrderState.CREATED  # c1 is full
    finally:
        remote.close()
        stop.set()
        listening.join()
        pubsub.close()
        client.close()
    assert [o.order_id for o in offers] == ["west"]
