"""What only the in-memory store has: bounded tracks."""

from store.memory import MemoryStore


def test_memory_store_keeps_the_newest_positions_per_courier() -> None:
    mem = MemoryStore(max_track_points=3)
    mem.create_tenant("A", tenant_id="a")
    mem.create_courier("a", courier_id="c1")
    for t in (5.0, 1.0, 4.0, 2.0, 3.0):
        mem.append_positions(["c1"], [t], [t], [t])
    line = mem.courier_track("a", "c1", 0.0, 10.0)
    assert line == {"type": "LineString", "coordinates": [[3.0, 3.0], [4.0, 4.0], [5.0, 5.0]]}
