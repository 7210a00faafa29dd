"""A shard's dispatch batch runs on a thread: while one is under way the shard goes on applying
pings from its stream, and an order arriving meanwhile joins the pool after it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from orders.model import OrderState
from scaling import codec, keys
from scaling.codec import Pings
from scaling.remote_dispatch import RemoteDispatch
from store.memory import MemoryStore
from tests.scaling.conftest import WEST, two_shards
from tests.scaling.test_border import TENANT, _order
from tests.scaling.test_dispatch import AREA, shards_in_a_thread

pytestmark = pytest.mark.redis


def _wait(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_pings_are_applied_while_a_batch_runs(redis_url: str) -> None:
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_geofence(TENANT, "service_zone", AREA, name="area")
    store.create_courier(TENANT, courier_id="w", vehicle="bike", capacity=1)
    client = redis.Redis.from_url(redis_url)
    now = time.time()

    def ping(ts: float) -> None:
        entry = Pings(TENANT, "w", "bike", 1, [(*WEST, ts, None, None, None)])
        client.xadd(keys.stream(0), {codec.ENTRY_FIELD: codec.encode(entry)})

    entered, release = threading.Event(), threading.Event()
    remote = RemoteDispatch(redis_url, store, two_shards(), timeout_s=2.0)
    try:
        with shards_in_a_thread(redis_url, store, window_s=0.05) as shards:
            dispatch = shards[0].dispatch
            assert dispatch is not None
            run = dispatch.run

            def held() -> object:  # a long solve, on the batch's thread
                entered.set()
                release.wait(10)
                return run()

            dispatch.run = held  # type: ignore[method-assign]
            _wait(entered.is_set, "a batch")
            ping(now - 2)
            _wait(lambda: "w" in shards[0].index, "the ping applied during the batch")
            remote.submit(_order(store, "o1", WEST[0] + 0.002, WEST[1]))
            ping(now - 1)
            _wait(lambda: shards[0].index.get("w").ts == now - 1, "the next ping")
            assert not release.is_set() and "o1" not in {o.id for o in dispatch.dispatcher.pool()}
            release.set()
            _wait(lambda: store.get_order(TENANT, "o1").state is OrderState.OFFERED, "offer")
            assert store.get_order(TENANT, "o1").courier_id == "w"
    finally:
        release.set()
        remote.close()
        client.close()
