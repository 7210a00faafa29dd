"""What dispatch reads from the live index: unordered row pairs, attribute columns, skills and
idle time."""

import numpy as np
import pytest

from geo.distance import unit_vector
from tests.tracking.test_live_index import NOW, city
from tracking import InvalidAttribute, InvalidQuery, LiveIndex, Reason


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "idle"}, {"tenant": "t1", "vehicle": "bike"}, {"min_free_capacity": 2}],
)
def test_radius_pairs_are_within_many_unordered(filters: dict[str, object]) -> None:
    index, _, _, _ = city()
    rng = np.random.default_rng(3)
    q_la = -1.29 + rng.uniform(-0.03, 0.03, 50)
    q_ln = 36.82 + rng.uniform(-0.03, 0.03, 50)
    radii = rng.uniform(0, 2500, 50)
    want = index.within_many(q_la, q_ln, radii, **filters)  # type: ignore[arg-type]
    got = index.radius_pairs(q_la, q_ln, radii, **filters)  # type: ignore[arg-type]
    mine = zip(got.query_idx.tolist(), got.rows.tolist(), got.metres.tolist(), strict=True)
    theirs = zip(want.query_idx.tolist(), want.rows.tolist(), want.metres.tolist(), strict=True)
    assert sorted(mine) == sorted(theirs)
    assert want.query_idx.size > 0


def test_status_filter_takes_several_statuses() -> None:
    index, _, _, _ = city()
    both = index.radius_pairs([-1.29], [36.82], 5000.0, status=("idle", "busy"))
    idle = index.radius_pairs([-1.29], [36.82], 5000.0, status="idle")
    busy = index.radius_pairs([-1.29], [36.82], 5000.0, status="busy")
    assert sorted(both.rows.tolist()) == sorted(idle.rows.tolist() + busy.rows.tolist())
    assert idle.rows.size and busy.rows.size
    for bad in [("idle", "asleep"), (), ["idle"]]:
        with pytest.raises(InvalidQuery) as err:
            index.radius_pairs([-1.29], [36.82], 5000.0, status=bad)  # type: ignore[arg-type]
        assert err.value.args and "status" in str(err.value)


def test_reserved_units_count_against_min_free_capacity() -> None:
    index, _, _, _ = city()
    everyone = index.radius_pairs([-1.29], [36.82], 5000.0)
    rows = everyone.rows
    ids = index.ids_of(rows).tolist()
    table = index.columns(rows)
    rng = np.random.default_rng(4)
    reserved = {c: int(u) for c, u in zip(ids, rng.integers(0, 3, len(ids)), strict=True)}
    reserved["not-a-courier"] = 5
    for need in (1, 2):
        got = index.radius_pairs(
            [-1.29], [36.82], 5000.0, min_free_capacity=need, reserved=reserved
        )
        free = table.capacity - table.load - np.array([reserved[c] for c in ids])
        assert sorted(got.rows.tolist()) == sorted(rows[free >= need].tolist())
        assert 0 < got.rows.size < rows.size


def test_columns_agree_with_get_and_mark_stale_couriers_offline() -> None:
    index, _, _, clock = city(n=40)
    index.set_attrs(3, skills={"alcohol"}, idle_since=NOW - 60)
    rows = index.radius_pairs([-1.29], [36.82], 10_000.0).rows
    cols = index.columns(rows)
    for i, cid in enumerate(cols.ids.tolist()):
        state = index.get(cid)
        assert (cols.lat[i], cols.lng[i]) == (state.lat, state.lng)
        assert cols.status[i] == state.status
        assert cols.tenant[i] == state.tenant and cols.vehicle[i] == state.vehicle
        assert (cols.capacity[i], cols.load[i]) == (state.capacity, state.load)
        assert cols.skills[i] == state.skills
        idle = None if np.isnan(cols.idle_since[i]) else cols.idle_since[i]
        assert idle == state.idle_since
    assert index.get(3).skills == frozenset({"alcohol"}) and index.get(3).idle_since == NOW - 60
    clock[0] = NOW + 301
    assert set(index.columns(rows).status.tolist()) == {"offline"}


def test_columns_reject_rows_without_a_courier() -> None:
    index, _, _, _ = city(n=5)
    with pytest.raises(InvalidQuery) as info:
        index.columns([0, 99])
    assert info.value.field == "rows" and info.value.value == 99
    index.remove(2)
    with pytest.raises(InvalidQuery):
        index.columns([2])


def test_skills_and_idle_since_through_every_write_path() -> None:
    index = LiveIndex(clock=lambda: NOW)
    index.upsert("a", 0.0, 0.0, NOW, skills={"cold"}, idle_since=NOW - 5)
    assert index.get("a").skills == frozenset({"cold"})
    batch = index.upsert_many(
        ["b", "c", "d"],
        [0.0, 0.0, 0.0],
        [0.001, 0.002, 0.003],
        NOW,
        skills=[["alcohol", "cold"], None, "not-a-set"],
        idle_since=[NOW - 1, None, NOW - 2],
    )
    assert batch.reasons == [None, None, Reason.INVALID_ATTRIBUTE]
    assert index.get("b").skills == frozenset({"alcohol", "cold"})
    # No idle_since given: a courier that appears idle is idle from the index's now.
    assert index.get("c").skills == frozenset() and index.get("c").idle_since == NOW
    index.upsert_many(["b", "c"], [0.0, 0.0], [0.001, 0.002], NOW + 1, skills={"x"})
    assert index.get("b").skills == index.get("c").skills == frozenset({"x"})
    # Attributes not given stay as they were.
    assert index.get("b").idle_since == NOW - 1
    with pytest.raises(InvalidAttribute) as info:
        index.set_attrs("a", skills=[1, 2])
    assert info.value.field == "skills"
    with pytest.raises(InvalidAttribute):
        index.set_attrs("a", idle_since="yesterday")
    assert index.get("a").skills == frozenset({"cold"})


def test_idle_since_follows_status_changes_unless_given() -> None:
    clock = [NOW]
    index = LiveIndex(clock=lambda: clock[0])
    index.upsert("a", 0.0, 0.0, NOW, status="busy")
    index.upsert_many(["b", "c"], [0.0, 0.0], [0.001, 0.002], NOW, status=["idle", "busy"])
    assert [index.get(c).idle_since for c in "abc"] == [None, NOW, None]
    clock[0] = NOW + 90
    # Becoming idle stamps the time; staying idle keeps the first stamp; leaving clears it.
    index.set_attrs("a", status="idle")
    index.upsert_many(["b", "c"], [0.0, 0.0], [0.001, 0.002], NOW + 90, status="idle")
    assert [index.get(c).idle_since for c in "abc"] == [NOW + 90, NOW, NOW + 90]
    index.set_attrs("b", status="busy")
    assert index.get("b").idle_since is None
    # Given explicitly, idle_since wins over the stamp.
    index.set_attrs("b", status="idle", idle_since=NOW - 30)
    assert index.get("b").idle_since == NOW - 30


@pytest.mark.parametrize(("k", "spread", "max_radius"), [(None, 0.03, 2500.0), (4, 0.2, 20_000.0)])
def test_radius_pairs_with_kept_unit_vectors_match_computed_ones(
    k: int | None, spread: float, max_radius: float
) -> None:
    index, _, _, _ = city()
    rng = np.random.default_rng(11)
    q_la = -1.29 + rng.uniform(-spread, spread, 300)
    q_ln = 36.82 + rng.uniform(-spread, spread, 300)
    radii = rng.uniform(0, max_radius, 300)
    xyz = [unit_vector(a, b) for a, b in zip(q_la, q_ln, strict=True)]
    plain = index.radius_pairs(q_la, q_ln, radii, k=k)
    kept = index.radius_pairs(q_la, q_ln, radii, k=k, xyz=xyz)

    def triples(p: object) -> list[tuple[int, int, float]]:
        return sorted(zip(p.query_idx.tolist(), p.rows.tolist(), p.metres.tolist(), strict=True))  # type: ignore[attr-defined]

    # Scalar and numpy trigonometry may differ in the last bit: same pairs, same metres.
    got, want = triples(kept), triples(plain)
    assert [t[:2] for t in got] == [t[:2] for t in want]
    np.testing.assert_allclose([t[2] for t in got], [t[2] for t in want], rtol=0, atol=1e-6)
    assert plain.query_idx.size > 0


def test_radius_pairs_refuses_unit_vectors_that_do_not_match_the_queries() -> None:
    index, _, _, _ = city()
    xyz = [unit_vector(-1.29, 36.82)]
    with pytest.raises(InvalidQuery, match="xyz"):
        index.radius_pairs([-1.29, -1.3], [36.82, 36.83], 500.0, xyz=xyz)
