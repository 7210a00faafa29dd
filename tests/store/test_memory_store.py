"""What only the in-memory store has: bounded tracks, the point-by-point zone check."""

import numpy as np
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


def test_zone_check_of_a_few_points_agrees_with_the_array_path() -> None:
    """Up to eight plain floats are checked point by point; the answers are the same."""
    store = MemoryStore()
    store.create_tenant("t", tenant_id="t")
    # A concave star: many boundary cells, points on and near its edges and vertices.
    k = 9
    angles = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False)
    radii = np.where(np.arange(2 * k) % 2 == 0, 0.02, 0.008)
    ring = np.column_stack([36.8 + radii * np.cos(angles), -1.3 + radii * np.sin(angles)])
    coords = [*ring.tolist(), ring[0].tolist()]
    store.create_geofence("t", "service_zone", {"type": "Polygon", "coordinates": [coords]})
    rng = np.random.default_rng(9)
    lats = np.concatenate([-1.3 + rng.uniform(-0.025, 0.025, 400), ring[:, 1]])
    lngs = np.concatenate([36.8 + rng.uniform(-0.025, 0.025, 400), ring[:, 0]])
    whole = store.in_service_zone("t", lats, lngs)
    assert 0 < whole.sum() < whole.size
    for at in range(0, lats.size, 8):
        few = store.in_service_zone("t", lats[at : at + 8].tolist(), lngs[at : at + 8].tolist())
        assert few.tolist() == whole[at : at + 8].tolist()
    with pytest.raises(ValueError, match="lat"):
        store.in_service_zone("t", [float("nan")], [36.8])
