import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import Geofence, InvalidGeometry
from tracking import (
    DuplicateFence,
    FenceEvent,
    InvalidAttribute,
    LiveIndex,
    UnknownFence,
)

NOW = 1_700_000_000.0
# A 0.01° square (~1.1 km) around (lat 0.005, lng 0.005).
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[0.0, 0.0], [0.01, 0.0], [0.01, 0.01], [0.0, 0.01], [0.0, 0.0]]],
}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def setup(dwell_s: float = 300.0) -> tuple[LiveIndex, Clock]:
    clock = Clock()
    index = LiveIndex(clock=clock, max_speed_mps=1000.0)
    index.add_fence("zone", SQUARE, kind="hub", dwell_s=dwell_s)
    return index, clock


def ping(
    index: LiveIndex, clock: Clock, cid: str, lat: float, lng: float, dt: float
) -> list[FenceEvent]:
    clock.now += dt
    res = index.upsert(cid, lat, lng, clock.now)
    assert res.accepted
    return res.events


def kinds(events: list[FenceEvent]) -> list[tuple[str, object, object]]:
    return [(e.kind.value, e.fence_id, e.courier_id) for e in events]


def test_enter_then_exit() -> None:
    index, clock = setup()
    assert ping(index, clock, "a", -0.005, 0.005, 1) == []
    events = ping(index, clock, "a", 0.005, 0.005, 10)
    assert kinds(events) == [("enter", "zone", "a")]
    assert events[0].ts == clock.now
    assert index.fences_of("a") == ["zone"]
    assert ping(index, clock, "a", 0.006, 0.005, 10) == []
    assert kinds(ping(index, clock, "a", 0.02, 0.005, 10)) == [("exit", "zone", "a")]
    assert index.fences_of("a") == []


def test_first_ping_inside_enters() -> None:
    index, clock = setup()
    assert kinds(ping(index, clock, "a", 0.005, 0.005, 1)) == [("enter", "zone", "a")]


def test_boundary_counts_as_inside() -> None:
    index, clock = setup()
    assert kinds(ping(index, clock, "a", 0.0, 0.005, 1)) == [("enter", "zone", "a")]
    assert index.inside("zone", 0.0, 0.005) and not index.inside("zone", -0.0001, 0.005)


def test_cross_by_the_segment_between_pings() -> None:
    index, clock = setup()
    ping(index, clock, "a", 0.005, -0.005, 1)
    assert kinds(ping(index, clock, "a", 0.005, 0.015, 5)) == [("cross", "zone", "a")]
    # A segment passing beside the fence is no crossing.
    ping(index, clock, "b", 0.015, -0.005, 1)
    assert ping(index, clock, "b", 0.015, 0.015, 5) == []
    # Clipping a corner within one step counts too.
    ping(index, clock, "c", -0.001, 0.0085, 1)
    assert kinds(ping(index, clock, "c", 0.0015, 0.0115, 1)) == [("cross", "zone", "c")]


def test_dwell_once_per_visit() -> None:
    index, clock = setup(dwell_s=300)
    assert kinds(ping(index, clock, "a", 0.005, 0.005, 1)) == [("enter", "zone", "a")]
    assert ping(index, clock, "a", 0.005, 0.005 + 1e-5, 299) == []
    dwell = ping(index, clock, "a", 0.005, 0.005, 1)
    assert kinds(dwell) == [("dwell", "zone", "a")]
    assert ping(index, clock, "a", 0.005, 0.005 + 1e-5, 500) == []
    assert kinds(ping(index, clock, "a", 0.02, 0.005, 10)) == [("exit", "zone", "a")]
    assert kinds(ping(index, clock, "a", 0.005, 0.005, 10)) == [("enter", "zone", "a")]
    assert kinds(ping(index, clock, "a", 0.005, 0.005 + 1e-5, 300)) == [("dwell", "zone", "a")]


def test_final_exit_on_fence_removal_and_enter_on_addition() -> None:
    index, clock = setup()
    ping(index, clock, "a", 0.005, 0.005, 1)
    ping(index, clock, "b", 0.05, 0.05, 1)
    events = index.remove_fence("zone")
    assert kinds(events) == [("exit", "zone", "a")]
    assert events[0].ts == clock.now
    assert "zone" not in index.fences
    assert ping(index, clock, "a", 0.005, 0.006, 1) == []
    assert kinds(index.add_fence("zone2", Geofence.from_geojson(SQUARE))) == [
        ("enter", "zone2", "a")
    ]
    assert index.fences_of("a") == ["zone2"]


def test_exit_when_courier_is_removed() -> None:
    index, clock = setup()
    ping(index, clock, "a", 0.005, 0.005, 1)
    assert kinds(index.remove("a")) == [("exit", "zone", "a")]


def test_tenant_fence_applies_only_to_its_tenant() -> None:
    index, clock = setup()
    index.add_fence("t1-only", SQUARE, tenant="t1")
    clock.now += 1
    res = index.upsert_many(
        ["x", "y"], [0.005, 0.005], [0.005, 0.005], clock.now, tenant=["t1", "t2"]
    )
    assert sorted(kinds(res.events)) == [
        ("enter", "t1-only", "x"),
        ("enter", "zone", "x"),
        ("enter", "zone", "y"),
    ]


def test_bad_fences_raise_typed_errors() -> None:
    index, _ = setup()
    with pytest.raises(DuplicateFence) as dup:
        index.add_fence("zone", SQUARE)
    assert dup.value.field == "fence_id"
    with pytest.raises(InvalidAttribute) as kind:
        index.add_fence("z2", SQUARE, kind="moat")
    assert (kind.value.field, kind.value.value) == ("kind", "moat")
    with pytest.raises(InvalidAttribute) as dwell:
        index.add_fence("z3", SQUARE, dwell_s=0)
    assert dwell.value.field == "dwell_s"
    with pytest.raises(InvalidGeometry):
        index.add_fence("z4", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]})
    with pytest.raises(UnknownFence):
        index.remove_fence("nope")
    with pytest.raises(UnknownFence):
        index.inside("nope", 0.0, 0.0)
    assert index.fences.fence_ids() == ["zone"]


def fenced_pair(fence: Geofence) -> tuple[LiveIndex, LiveIndex]:
    """Two indexes with the same fence: one fed in batches, one ping by ping."""
    pair = (
        LiveIndex(clock=lambda: NOW, max_speed_mps=1e6),
        LiveIndex(clock=lambda: NOW, max_speed_mps=1e6),
    )
    for index in pair:
        index.add_fence("f", fence, dwell_s=15)
    return pair


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.booleans())
def test_batch_membership_equals_shapely_covers_and_sequential_events(
    seed: int, hole: bool
) -> None:
    rng = np.random.default_rng(seed)
    shell = [[0.0, 0.0], [0.02, 0.0], [0.02, 0.02], [0.0, 0.02], [0.0, 0.0]]
    inner = [[0.005, 0.005], [0.015, 0.005], [0.015, 0.015], [0.005, 0.015], [0.005, 0.005]]
    other = [[0.03, 0.0], [0.04, 0.0], [0.035, 0.01], [0.03, 0.0]]
    geo = {"type": "MultiPolygon", "coordinates": [[shell, inner] if hole else [shell], [other]]}
    fence = Geofence.from_geojson(geo)
    batch, single = fenced_pair(fence)
    # More than 64 pings: the batch takes the all-fences path, single pings the filtered one.
    n = 80
    all_batch: list[FenceEvent] = []
    all_single: list[FenceEvent] = []
    for step in range(4):
        la = rng.uniform(-0.005, 0.025, n)
        ln = rng.uniform(-0.005, 0.045, n)
        # Some points exactly on edges and vertices.
        la[:5] = [0.0, 0.005, 0.02, 0.01, 0.0]
        ln[:5] = [0.01, 0.01, 0.02, 0.035, 0.03]
        ts = NOW - 100 + 10 * step
        all_batch += batch.upsert_many(list(range(n)), la, ln, ts).events
        for i in range(n):
            all_single += single.upsert(i, float(la[i]), float(ln[i]), ts).events
        covered = shapely.covers(fence.geometry, shapely.points(ln, la))
        assert [batch.fences_of(i) == ["f"] for i in range(n)] == covered.tolist()
        assert [single.fences_of(i) == ["f"] for i in range(n)] == covered.tolist()
    key = lambda e: (e.ts, str(e.courier_id), e.kind.value)  # noqa: E731
    assert sorted(all_batch, key=key) == sorted(all_single, key=key)


def test_cover_at_another_resolution_is_rebuilt_by_the_engine() -> None:
    index = LiveIndex(resolution=8, clock=lambda: 1e9)
    index.add_fence("sq", Geofence.from_geojson(SQUARE, resolution=10))
    assert index.fences.get("sq").geofence.resolution == 8
    assert index.inside("sq", 0.005, 0.005)
    events = index.upsert("a", 0.005, 0.005, 1e9).events
    assert [(e.kind.value, e.fence_id) for e in events] == [("enter", "sq")]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 6))
def test_several_pings_per_courier_in_a_batch_give_every_crossing(seed: int, per: int) -> None:
    # A courier that enters and leaves within one batch gets both events, as ping by ping.
    rng = np.random.default_rng(seed)
    batch, single = fenced_pair(Geofence.from_geojson(SQUARE))
    n = 12
    all_batch: list[FenceEvent] = []
    all_single: list[FenceEvent] = []
    ts = NOW - 100
    for _ in range(3):
        ids = [int(c) for c in rng.integers(0, n, n * per)]
        la = rng.uniform(-0.005, 0.015, len(ids))
        ln = rng.uniform(-0.005, 0.015, la.size)
        times = ts + np.arange(la.size, dtype=float)
        ts += la.size
        all_batch += batch.upsert_many(ids, la, ln, times).events
        for i, c in enumerate(ids):
            all_single += single.upsert(c, float(la[i]), float(ln[i]), times[i]).events
        for c in range(n):
            assert (c in batch) == (c in single)
            if c in single:
                assert batch.fences_of(c) == single.fences_of(c)
    key = lambda e: (str(e.courier_id), e.ts, e.kind.value)  # noqa: E731
    assert sorted(all_batch, key=key) == sorted(all_single, key=key)
