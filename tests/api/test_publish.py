"""Courier positions published in one pass per ping batch equal the one-by-one publication."""

from __future__ import annotations

from api.runtime import Runtime
from api.settings import Settings
from geo.cells import cell_of
from store.memory import MemoryStore
from tracking.hub import Subscriber

NOW = 1_800_000_000.0


def _runtime() -> tuple[Runtime, Subscriber]:
    store = MemoryStore()
    store.create_tenant("ta", tenant_id="ta")
    for i in range(4):
        store.create_courier("ta", courier_id=f"c{i}", vehicle="bike" if i % 2 else "car")
    runtime = Runtime(Settings(dispatch_auto=False), store, clock=lambda: NOW)
    sub = runtime.hub.subscribe("ta")
    runtime.hub.set_topics(sub, [("courier", f"c{i}") for i in range(4)])
    return runtime, sub


def test_batch_publication_equals_one_by_one() -> None:
    runtime, sub = _runtime()
    runtime.index.upsert_many(
        ["c0", "c1", "c2", "c3"],
        [-1.30, -1.29, -1.28, 10.0],
        [36.80, 36.81, 36.82, 10.0],
        [NOW - 10, NOW - 5, NOW - 400, NOW - 1],  # c2 is stale: offline
        speed=[3.5, None, 0.0, None],
        heading=[None, 90.0, 359.0, None],
        tenant="ta",
        vehicle=["car", "bike", "car", "bike"],
        capacity=[1, 2, 3, 4],
        status=["idle", "busy", "idle", "idle"],
    )
    ids = ["c0", "c1", "c2", "c3"]
    cells = runtime.hub.subscribe("ta")  # a console watching each courier's coarse cell
    points = [(-1.30, 36.80), (-1.29, 36.81), (-1.28, 36.82), (10.0, 10.0)]
    runtime.hub.set_topics(
        cells, [("cell", cell_of(a, b, runtime.console_resolution)) for a, b in points]
    )
    for cid in ids:
        runtime.publish_courier("ta", cid)
    one_by_one = runtime.hub.drain(sub)
    runtime.publish_couriers(dict.fromkeys(ids, "ta"), ids)
    batched = runtime.hub.drain(sub)
    assert batched == one_by_one
    assert runtime.hub.drain(cells) == batched
    assert [m.status for m in batched] == ["idle", "busy", "offline", "idle"]
    assert [m.speed for m in batched] == [3.5, None, 0.0, None]
