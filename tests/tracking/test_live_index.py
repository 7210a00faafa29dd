import math
from collections import Counter

import h3.api.basic_int as h3i
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo import InvalidCoordinate, great_circle_m_array
from tests.geo.strategies import destination, lats, lngs
from tracking import InvalidAttribute, InvalidQuery, LiveIndex, UnknownCourier

NOW = 1_700_000_000.0
TOL = 1e-6


@st.composite
def fleets(draw: st.DrawFn) -> tuple[LiveIndex, np.ndarray, np.ndarray, float, float]:
    """A random fleet around a centre (up to ±85° and across the antimeridian), some couriers
    on H3 cell vertices, and a query point that may sit on a cell vertex."""
    lat0 = draw(lats)
    lng0 = draw(lngs)
    res = draw(st.sampled_from([8, 9, 10]))
    n = draw(st.integers(0, 150))
    spread = draw(st.floats(50.0, 6000.0))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    la, ln = destination(
        lat0, lng0, rng.uniform(0, 2 * math.pi, n), spread * np.sqrt(rng.uniform(0, 1, n))
    )
    verts = [
        v
        for c in h3i.grid_disk(h3i.latlng_to_cell(lat0, lng0, res), 1)
        for v in h3i.cell_to_boundary(c)
    ]
    n_on = draw(st.integers(0, min(10, len(verts))))
    la = np.concatenate([la, [v[0] for v in verts[:n_on]]])
    ln = np.concatenate([ln, [v[1] for v in verts[:n_on]]])
    index = LiveIndex(resolution=res, clock=lambda: NOW)
    assert index.upsert_many(list(range(la.size)), la, ln, NOW).n_accepted == la.size
    if draw(st.booleans()):
        qlat, qlng = verts[draw(st.integers(0, len(verts) - 1))]
    else:
        q = destination(lat0, lng0, rng.uniform(0, 2 * math.pi, 1), rng.uniform(0, spread * 1.5, 1))
        qlat, qlng = float(q[0][0]), float(q[1][0])
    return index, la, ln, qlat, qlng


def check_knn(got: list[tuple[object, float]], truth: np.ndarray, k: int) -> None:
    expected = np.sort(truth)[:k]
    assert len(got) == expected.size
    metres = np.array([m for _, m in got])
    np.testing.assert_allclose(metres, expected, rtol=1e-9, atol=TOL)
    for cid, m in got:
        assert truth[cid] == pytest.approx(m, rel=1e-9, abs=TOL)
    assert len({cid for cid, _ in got}) == len(got)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets(), st.integers(1, 20))
def test_nearest_equals_brute_force(fleet: tuple, k: int) -> None:  # type: ignore[type-arg]
    index, la, ln, qlat, qlng = fleet
    truth = great_circle_m_array(qlat, qlng, la, ln)
    check_knn(index.nearest(qlat, qlng, k), truth, k)
    # A second query from the same cell reuses the cached ring; still exact.
    check_knn(index.nearest(qlat, qlng, k), truth, k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets(), st.floats(0.0, 8000.0))
def test_within_equals_brute_force(fleet: tuple, radius: float) -> None:  # type: ignore[type-arg]
    index, la, ln, qlat, qlng = fleet
    truth = great_circle_m_array(qlat, qlng, la, ln)
    got = index.within(qlat, qlng, radius)
    ids = {cid for cid, _ in got}
    assert {i for i in np.flatnonzero(truth <= radius - TOL).tolist()} <= ids
    assert ids <= {i for i in np.flatnonzero(truth <= radius + TOL).tolist()}
    metres = [m for _, m in got]
    assert metres == sorted(metres)
    for cid, m in got:
        assert truth[cid] == pytest.approx(m, rel=1e-9, abs=TOL)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fleets(), st.floats(0.0, 8000.0), st.one_of(st.none(), st.integers(1, 8)), st.integers(0, 2**31)
)
def test_within_many_equals_brute_force(
    fleet: tuple, radius: float, k: int | None, seed: int
) -> None:  # type: ignore[type-arg]
    index, la, ln, qlat, qlng = fleet
    rng = np.random.default_rng(seed)
    q_la, q_ln = destination(qlat, qlng, rng.uniform(0, 2 * math.pi, 12), rng.uniform(0, 5000, 12))
    radii = rng.uniform(0, radius, 12) if seed % 2 else radius
    res = index.within_many(q_la, q_ln, radii, k=k)
    assert np.all(np.diff(res.query_idx) >= 0)
    r = np.broadcast_to(radii, (12,))
    for qi in range(12):
        mine = res.query_idx == qi
        truth = great_circle_m_array(q_la[qi], q_ln[qi], la, ln)
        ids = index.ids_of(res.rows[mine]).tolist()
        metres = res.metres[mine]
        assert np.all(np.diff(metres) >= 0)
        within = np.sort(truth[truth <= r[qi]])
        want = within if k is None else within[:k]
        assert abs(len(ids) - want.size) <= int(np.sum(np.abs(truth - r[qi]) <= TOL))
        n = min(len(ids), want.size)
        np.testing.assert_allclose(metres[:n], want[:n], rtol=1e-9, atol=TOL)
        for cid, m in zip(ids, metres.tolist(), strict=True):
            assert truth[cid] == pytest.approx(m, rel=1e-9, abs=TOL)


def city(n: int = 400, seed: int = 1) -> tuple[LiveIndex, np.ndarray, np.ndarray, list[float]]:
    clock = [NOW]
    index = LiveIndex(clock=lambda: clock[0], staleness_s=300)
    rng = np.random.default_rng(seed)
    la = -1.29 + rng.uniform(-0.02, 0.02, n)
    ln = 36.82 + rng.uniform(-0.02, 0.02, n)
    index.upsert_many(
        list(range(n)),
        la,
        ln,
        NOW,
        status=[("idle", "busy", "offline")[i % 3] for i in range(n)],
        vehicle=["bike" if i % 2 else "car" for i in range(n)],
        tenant=["t1" if i % 5 else "t2" for i in range(n)],
        capacity=[i % 4 for i in range(n)],
        load=[i % 2 for i in range(n)],
    )
    return index, la, ln, clock


def test_filters_match_brute_force() -> None:
    index, la, ln, _ = city()
    truth = great_circle_m_array(-1.29, 36.82, la, ln)
    ids = np.arange(la.size)
    status = np.array([("idle", "busy", "offline")[i % 3] for i in ids])
    vehicle = np.where(ids % 2, "bike", "car")
    tenant = np.where(ids % 5, "t1", "t2")
    free = ids % 4 - ids % 2
    cases = [
        ({"status": "idle"}, status == "idle"),
        ({"vehicle": "bike", "tenant": "t2"}, (vehicle == "bike") & (tenant == "t2")),
        ({"min_free_capacity": 2}, free >= 2),
        ({"status": "busy", "min_free_capacity": 1}, (status == "busy") & (free >= 1)),
        ({"vehicle": "rocket"}, np.zeros(la.size, bool)),
    ]
    for filters, mask in cases:
        masked = np.where(mask, truth, np.inf)
        check_knn(index.nearest(-1.29, 36.82, 7, **filters), masked, min(7, int(mask.sum())))
        got = {cid for cid, _ in index.within(-1.29, 36.82, 1500, **filters)}
        assert got == set(np.flatnonzero(mask & (truth <= 1500)).tolist())
        res = index.within_many([-1.29], [36.82], 1500, **filters)
        assert set(index.ids_of(res.rows).tolist()) == got


def test_columns_describe_rows() -> None:
    index, la, ln, clock = city(12)
    clock[0] = NOW + 301  # everyone stale
    index.set_attrs(4, tenant="t7")
    res = index.within_many([-1.29], [36.82], 1e5)
    cols = index.columns(res.rows)
    assert sorted(cols.ids.tolist()) == list(range(12))
    i = cols.ids.tolist().index(4)
    assert (cols.lat[i], cols.lng[i], cols.ts[i]) == (la[4], ln[4], NOW)
    assert (cols.tenant[i], cols.vehicle[i], cols.status[i]) == ("t7", "car", "offline")
    assert (cols.capacity[i], cols.load[i]) == (0, 0)


def test_stale_couriers_count_as_offline() -> None:
    index, _, _, clock = city(30)
    idle = {cid for cid, _ in index.nearest(-1.29, 36.82, 100, status="idle")}
    assert idle == set(range(0, 30, 3))
    clock[0] = NOW + 200
    assert index.upsert(0, -1.29, 36.82, NOW + 200).accepted
    clock[0] = NOW + 301
    assert {cid for cid, _ in index.nearest(-1.29, 36.82, 100, status="idle")} == {0}
    assert len(index.nearest(-1.29, 36.82, 100, status="offline")) == 29
    assert index.get(3).status == "offline" and index.get(0).status == "idle"


def test_set_attrs_get_remove_and_count_by_cell() -> None:
    index, la, ln, _ = city(50)
    index.set_attrs(1, status="idle", capacity=3, load=1, tenant="t9", vehicle="van")
    state = index.get(1)
    assert (state.status, state.capacity, state.load, state.free_capacity) == ("idle", 3, 1, 2)
    assert (state.tenant, state.vehicle) == ("t9", "van")
    with pytest.raises(InvalidAttribute) as info:
        index.set_attrs(1, status="idle", capacity=-2)
    assert info.value.field == "capacity"
    assert index.get(1).status == "idle"  # nothing applied
    with pytest.raises(UnknownCourier):
        index.set_attrs("ghost", status="busy")
    counts = Counter(
        h3i.cell_to_parent(h3i.latlng_to_cell(a, b, 9), 7) for a, b in zip(la, ln, strict=True)
    )
    assert index.count_by_cell(7) == dict(counts)
    index.remove(1)
    assert 1 not in index and len(index) == 49
    assert 1 not in {cid for cid, _ in index.within(-1.29, 36.82, 1e5)}
    assert sum(index.count_by_cell(5).values()) == 49
    with pytest.raises(UnknownCourier):
        index.get(1)
    # The freed row is reused by the next new courier.
    index.upsert("new", -1.29, 36.82, NOW)
    assert index.nearest(-1.29, 36.82, 1)[0][0] == "new"


def test_courier_moving_between_cells_is_found_in_its_new_cell() -> None:
    index = LiveIndex(clock=lambda: NOW)
    index.upsert("a", -1.29, 36.82, NOW - 100)
    index.upsert("a", -1.29, 36.825, NOW - 90)  # ~550 m east, another cell
    assert index.get("a").cell == h3i.latlng_to_cell(-1.29, 36.825, 9)
    assert index.within(-1.29, 36.82, 100) == []
    assert [c for c, _ in index.within(-1.29, 36.825, 1)] == ["a"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda i: i.nearest(91.0, 0.0), "lat"),
        (lambda i: i.nearest(0.0, 0.0, k=0), "k"),
        (lambda i: i.nearest(0.0, 0.0, k=True), "k"),
        (lambda i: i.nearest(0.0, 0.0, status="asleep"), "status"),
        (lambda i: i.nearest(0.0, 0.0, min_free_capacity="1"), "min_free_capacity"),
        (lambda i: i.within(0.0, 0.0, -1.0), "radius_m"),
        (lambda i: i.within(0.0, 0.0, math.nan), "radius_m"),
        (lambda i: i.within_many([0.0, 0.0], [0.0, 0.0], [1.0, -1.0]), "radius_m[1]"),
        (lambda i: i.within_many([0.0], [200.0], 1.0), "lng[0]"),
        (lambda i: i.count_by_cell(10), "resolution"),
        (lambda i: LiveIndex(resolution=16), "resolution"),
        (lambda i: LiveIndex(staleness_s=-1), "staleness_s"),
    ],
)
def test_bad_queries_raise_typed_errors(call, field: str) -> None:  # type: ignore[no-untyped-def]
    index = LiveIndex(clock=lambda: NOW)
    index.upsert("a", 0.0, 0.0, NOW)
    with pytest.raises((InvalidQuery, InvalidCoordinate, ValueError)) as info:
        call(index)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field  # type: ignore[attr-defined]


def test_empty_index_answers_empty() -> None:
    index = LiveIndex()
    assert index.nearest(0.0, 0.0) == []
    assert index.within(0.0, 0.0, 100.0) == []
    assert index.within_many([0.0], [0.0], 100.0).metres.size == 0
    assert index.count_by_cell(5) == {}


def test_cell_map_stays_exact_through_large_and_small_changes() -> None:
    # Large batches mark the cell map stale (rebuilt at the next query); small ones update it
    # row by row. Interleave both with removals and check against brute force each time.
    rng = np.random.default_rng(11)
    n = 3000
    clock = [NOW]
    index = LiveIndex(clock=lambda: clock[0], max_speed_mps=1e6)
    la = -1.29 + rng.uniform(-0.02, 0.02, n)
    ln = 36.82 + rng.uniform(-0.02, 0.02, n)
    alive = np.ones(n, dtype=bool)
    index.upsert_many(list(range(n)), la, ln, clock[0])

    def check() -> None:
        for qlat, qlng in zip(la[:5] + 0.001, ln[:5] - 0.001, strict=True):
            truth = np.where(alive, great_circle_m_array(qlat, qlng, la, ln), np.inf)
            check_knn(index.nearest(float(qlat), float(qlng), 15), truth, 15)
            got = {c for c, _ in index.within(float(qlat), float(qlng), 700.0)}
            assert got == set(np.flatnonzero(truth <= 700.0).tolist())

    check()
    for _ in range(3):
        clock[0] += 10
        la += rng.normal(0, 0.002, n)
        ln += rng.normal(0, 0.002, n)
        live = np.flatnonzero(alive)
        index.upsert_many(live, la[live], ln[live], clock[0])  # thousands of cell changes
        check()
        for i in rng.choice(n, 20, replace=False).tolist():  # a few single pings
            clock[0] += 1
            la[i] += 0.003
            if alive[i]:
                index.upsert(i, float(la[i]), float(ln[i]), clock[0])
            else:
                la[i] -= 0.003
        check()
        for i in rng.choice(np.flatnonzero(alive), 10, replace=False).tolist():
            index.remove(i)
            alive[i] = False
        check()
        assert len(index) == int(alive.sum())


@pytest.mark.parametrize("radius", [1e5, 2e6, 2.1e7, 1e9])
def test_global_fleet_and_radii_beyond_the_antipode(radius: float) -> None:
    rng = np.random.default_rng(3)
    la, ln = rng.uniform(-85, 85, 300), rng.uniform(-180, 180, 300)
    index = LiveIndex(clock=lambda: NOW)
    index.upsert_many(np.arange(300), la, ln, NOW)
    res = index.within_many(la[:10], ln[:10], radius)
    for qi in range(10):
        truth = great_circle_m_array(la[qi], ln[qi], la, ln)
        want = set(np.flatnonzero(truth <= radius).tolist())
        assert set(index.ids_of(res.rows[res.query_idx == qi]).tolist()) == want
        assert {c for c, _ in index.within(float(la[qi]), float(ln[qi]), radius)} == want
    check_knn(
        index.nearest(float(la[0]), float(ln[0]), 300),
        great_circle_m_array(la[0], ln[0], la, ln),
        300,
    )
