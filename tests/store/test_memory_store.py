"""What only the in-memory store has: bounded tracks."""

import pytest

from store.memory import MemoryStore


def test_memory_store_keeps_the_newest_positions_per_courier() -> None:
    mem = MemoryStore(max_track_points=3)
    mem.create_tenant("A", tenant_id="a")
    mem.create_courier("a", courier_id="c1")
    for t in (5.0, 1.0, 4.0, 2.0, 3.0):
        mem.append_positions(["c1"], [t], [t], [t])
    line = mem.courier_track("a", "c1", 0.0, 10.0)
    assert line == {"type": "LineString", "coordinates": [[3.0, 3.0], [4.0, 4.0], [5.0, 5.0]]}


def test_memory_store_track_is_the_newest_positions_through_many_appends() -> None:
    # Trimming and merging are deferred on the ping path; what a query sees is not.
    mem = MemoryStore(max_track_points=100)
    mem.create_tenant("A", tenant_id="a")
    mem.create_courier("a", courier_id="c1")
    times = [float((i * 37) % 1000) for i in range(1000)]  # every ts once, out of order
    for k, t in enumerate(times):
        mem.append_positions(["c1"], [t], [t / 100], [t / 100])
        if k in (99, 130, 500, 999):
            newest = sorted(times[: k + 1])[-100:]
            line = mem.courier_track("a", "c1", 0.0, 1e4)
            assert line is not None
            assert [p[0] * 100 for p in line["coordinates"]] == pytest.approx(newest)
