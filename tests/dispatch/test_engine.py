from typing import Any

import numpy as np
import pytest

from dispatch.cost import CostModel
from dispatch.engine import (
    ALL_CANDIDATES_TAKEN,
    NO_CANDIDATE_IN_RADIUS,
    DispatchParams,
    assign,
)
from dispatch.errors import InvalidInput, InvalidOrder, InvalidParams
from dispatch.model import DispatchOrder
from geo import great_circle_m
from routing.travel_time import UnknownVehicle
from tests.dispatch.fleet import live_fleet, random_records

LAT, LNG = 52.37, 4.90
NOW = 10_000.0


def courier(cid: str, dlat: float = 0.0, **attrs: Any) -> dict[str, Any]:
    base = {
        "id": cid,
        "lat": LAT + dlat,
        "lng": LNG,
        "tenant": "t1",
        "status": "idle",
        "vehicle": "motorbike",
        "capacity": 1,
        "load": 0,
    }
    return base | attrs


def order(oid: str, **attrs: Any) -> DispatchOrder:
    base: dict[str, Any] = {
        "id": oid,
        "tenant": "t1",
        "pickup_lat": LAT,
        "pickup_lng": LNG,
        "dropoff_lat": LAT + 0.01,
        "dropoff_lng": LNG,
        "created_at": NOW - 60,
    }
    return DispatchOrder(**(base | attrs))


def run(couriers: list[dict[str, Any]], orders: list[DispatchOrder], **params: Any) -> Any:
    kwargs = {k: params.pop(k) for k in ("reserved", "excluded") if k in params}
    return assign(orders, live_fleet(couriers, NOW), DispatchParams(**params), now=NOW, **kwargs)


def assigned(result: Any) -> dict[str, str]:
    return {m.order_id: m.courier_id for m in result.matches}


@pytest.mark.parametrize(
    ("attrs", "order_attrs", "ok"),
    [
        ({}, {}, True),
        ({"tenant": "t2"}, {}, False),
        ({"vehicle": "bicycle"}, {"vehicle": "motorbike"}, False),
        ({"vehicle": "bicycle"}, {"vehicle": "bicycle"}, True),
        ({"skills": {"alcohol"}}, {"skills": frozenset({"alcohol"})}, True),
        ({"skills": {"cold"}}, {"skills": frozenset({"alcohol"})}, False),
        ({"skills": {"cold", "alcohol"}}, {"skills": frozenset({"alcohol", "cold"})}, True),
        ({"status": "offline"}, {}, False),
        ({"status": "busy", "capacity": 2, "load": 1}, {}, True),
        ({"status": "busy", "capacity": 2, "load": 2}, {}, False),
        ({"capacity": 2}, {"size": 3}, False),
        ({"capacity": 3}, {"size": 3}, True),
        ({}, {"max_pickup_m": 100.0}, False),
    ],
)
def test_each_filter(attrs: dict[str, Any], order_attrs: dict[str, Any], ok: bool) -> None:
    # The courier sits 500 m north of the pickup.
    result = run([courier("c1", 0.0045, **attrs)], [order("o1", **order_attrs)])
    if ok:
        assert assigned(result) == {"o1": "c1"}
    else:
        assert result.unassigned == {"o1": NO_CANDIDATE_IN_RADIUS}


def test_busy_courier_only_when_stacking_allowed() -> None:
    c = courier("c1", status="busy", capacity=2, load=1)
    assert assigned(run([c], [order("o1")], allow_stacking=True)) == {"o1": "c1"}
    result = run([c], [order("o1")], allow_stacking=False)
    assert result.unassigned == {"o1": NO_CANDIDATE_IN_RADIUS}


def test_without_stacking_a_courier_takes_one_order() -> None:
    c = courier("c1", capacity=3)
    result = run([c], [order("o1"), order("o2")], allow_stacking=False)
    assert len(result.matches) == 1
    assert result.unassigned == {"o2" if "o1" in assigned(result) else "o1": ALL_CANDIDATES_TAKEN}
    stacked = run([c], [order("o1"), order("o2")], allow_stacking=True)
    assert assigned(stacked) == {"o1": "c1", "o2": "c1"}


def test_reasons_distinguish_no_candidate_from_taken() -> None:
    far = order("far", pickup_lat=LAT + 0.5)
    result = run([courier("c1")], [order("o1"), order("o2"), far])
    assert len(result.matches) == 1
    assert result.unassigned["far"] == NO_CANDIDATE_IN_RADIUS
    assert ALL_CANDIDATES_TAKEN in result.unassigned.values()
    assert len(result.matches) + len(result.unassigned) == 3


def test_reserved_units_and_exclusions_are_respected() -> None:
    couriers = [courier("c1", capacity=2), courier("c2", 0.01)]
    result = run(couriers, [order("o1")], reserved={"c1": 2})
    assert assigned(result) == {"o1": "c2"}
    result = run(couriers, [order("o1")], excluded={"o1": {"c1"}})
    assert assigned(result) == {"o1": "c2"}
    result = run(couriers, [order("o1")], excluded={"o1": {"c1", "c2"}})
    assert result.unassigned == {"o1": NO_CANDIDATE_IN_RADIUS}


def test_k_limits_candidates_per_order() -> None:
    couriers = [courier(f"c{i}", 0.001 * i) for i in range(5)]
    orders = [order(f"o{i}") for i in range(3)]
    result = run(couriers, orders, k=1)
    # Every order keeps only its cheapest courier, the same one: one order is served.
    assert len(result.matches) == 1
    assert set(result.unassigned.values()) == {ALL_CANDIDATES_TAKEN}


def test_optimal_beats_greedy_nearest_on_the_classic_trap() -> None:
    # o1 (first) grabs c1, which is the only courier o2 can reach.
    couriers = [courier("c1", 0.0), courier("c2", -0.02)]
    o1 = order("o1", created_at=NOW - 100, max_pickup_m=5_000.0)
    o2 = order("o2", pickup_lat=LAT + 0.01, created_at=NOW - 50, max_pickup_m=1_500.0)
    nearest = run(couriers, [o1, o2], mode="nearest")
    assert assigned(nearest) == {"o1": "c1"}
    optimal = run(couriers, [o1, o2], mode="optimal")
    assert assigned(optimal) == {"o1": "c2", "o2": "c1"}


def test_load_mode_prefers_least_loaded() -> None:
    couriers = [
        courier("near", status="busy", capacity=3, load=2),
        courier("far", 0.01, status="busy", capacity=3, load=1),
    ]
    assert assigned(run(couriers, [order("o1")], mode="load")) == {"o1": "far"}
    assert assigned(run(couriers, [order("o1")], mode="nearest")) == {"o1": "near"}


def test_cost_reports_eta_and_penalties() -> None:
    model = CostModel()
    result = run([courier("c1", 0.009)], [order("o1", priority=9)], cost_model=model)
    (m,) = result.matches
    metres = great_circle_m(LAT + 0.009, LNG, LAT, LNG)
    assert m.pickup_m == pytest.approx(metres)
    assert m.eta_s == pytest.approx(metres / 8.5)
    expected = m.eta_s + 0.5 * (900 - 60) + 0 + 0 + 0.1 * 1800
    assert m.cost == round(expected / 0.1)


def test_older_and_urgent_orders_win_a_scarce_courier() -> None:
    old = order("old", created_at=NOW - 600)
    new = order("new", created_at=NOW - 5)
    assert assigned(run([courier("c1")], [new, old])) == {"old": "c1"}
    urgent = order("urgent", priority=5, created_at=NOW - 5)
    assert assigned(run([courier("c1")], [old, urgent])) == {"urgent": "c1"}


def test_long_idle_courier_wins_a_tie() -> None:
    couriers = [courier("fresh", idle_since=NOW - 10), courier("waiting", idle_since=NOW - 1200)]
    assert assigned(run(couriers, [order("o1")])) == {"o1": "waiting"}


@pytest.mark.parametrize("mode", ["optimal", "nearest", "load"])
def test_no_courier_double_booked_on_random_fleets(mode: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        couriers = random_records(
            rng, 60, height_m=4000, width_m=4000, busy_share=0.3, capacity=3, tenants=("a", "b")
        )
        pts = random_records(rng, 80, height_m=4000, width_m=4000)
        orders = [
            order(
                f"o{i}",
                tenant=("a", "b")[i % 2],
                pickup_lat=pts[i]["lat"],
                pickup_lng=pts[i]["lng"],
                size=int(rng.integers(1, 3)),
                max_pickup_m=1_000.0,
            )
            for i in range(80)
        ]
        fleet = live_fleet(couriers, NOW)
        result = assign(orders, fleet, DispatchParams(mode=mode), now=NOW)  # type: ignore[arg-type]
        assert len(result.matches) + len(result.unassigned) == len(orders)
        units = result.units_per_courier()
        by_id = {c["id"]: c for c in couriers}
        assert all(units[c] <= by_id[c]["capacity"] - by_id[c]["load"] for c in units)
        by_order = {o.id: o for o in orders}
        for m in result.matches:
            o, c = by_order[m.order_id], by_id[m.courier_id]
            assert c["tenant"] == o.tenant
            assert great_circle_m(c["lat"], c["lng"], o.pickup_lat, o.pickup_lng) <= 1_000.0


def test_bad_orders_and_params_are_typed() -> None:
    with pytest.raises(InvalidOrder) as info:
        order("o1", pickup_lat=95.0, size=0, priority=11, max_pickup_m=float("nan"))
    assert [p[0] for p in info.value.problems] == ["pickup_lat", "size", "priority", "max_pickup_m"]
    with pytest.raises(InvalidParams):
        DispatchParams(mode="fastest", k=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidParams):
        CostModel(unit_s=0.0)
    with pytest.raises(InvalidInput) as dup:
        run([courier("c1")], [order("o1"), order("o1")])
    assert dup.value.field == "orders[1].id"


def test_nearest_ranks_candidates_by_eta_not_by_penalised_cost() -> None:
    # The near courier is busy: its load penalty (120 s) makes the far idle one cheaper.
    couriers = [
        courier("near", 0.0009, status="busy", capacity=2, load=1),
        courier("far", 0.009),
    ]
    assert assigned(run(couriers, [order("o1")], k=1, mode="nearest")) == {"o1": "near"}
    assert assigned(run(couriers, [order("o1")], k=1, mode="optimal")) == {"o1": "far"}


def test_courier_without_vehicle_travels_at_the_default_speed() -> None:
    c = courier("c1", 0.009)
    del c["vehicle"]
    index = live_fleet([c], NOW)
    assert index.get("c1").vehicle is None
    (m,) = assign([order("o1")], index, DispatchParams(), now=NOW).matches
    assert m.eta_s == pytest.approx(m.pickup_m / 8.5)
    # A vehicle type the provider does not know is a typed error, and nothing is assigned.
    index.set_attrs("c1", vehicle="hovercraft")
    with pytest.raises(UnknownVehicle):
        assign([order("o1")], index, DispatchParams(), now=NOW)


def test_mixed_sizes_fill_a_courier_without_overflowing_it() -> None:
    # Free capacity 3; sizes 2, 2 and 1: the best that fits is a 2 and the 1.
    orders = [order("big1", size=2), order("big2", size=2), order("small", size=1)]
    result = run([courier("c1", capacity=3)], orders)
    got = assigned(result)
    assert len(got) == 2 and "small" in got
    assert result.units_per_courier()["c1"] == 3


def test_columns_of_a_pool_assign_like_the_orders_and_unassigned_reads_as_a_dict() -> None:
    from dispatch.order_columns import OrderPool

    couriers = [courier("c1"), courier("c2", 0.001, vehicle="bicycle")]
    orders = [order(f"o{i}", pickup_lat=LAT + i * 0.004) for i in range(6)]
    orders.append(order("far", pickup_lat=LAT + 0.5))
    pool = OrderPool()
    pool.add([*orders, order("held")])
    fleet = live_fleet(couriers, NOW)
    by_list = assign(orders, fleet, DispatchParams(), now=NOW, excluded={"o0": {"c1"}})
    by_pool = assign(
        pool.columns(skip={"held"}), fleet, DispatchParams(), now=NOW, excluded={"o0": {"c1"}}
    )
    assert by_pool.matches == by_list.matches
    assert by_pool.unassigned == dict(by_list.unassigned)
    assert dict(by_list.unassigned) == {oid: by_list.unassigned[oid] for oid in by_list.unassigned}
    assert by_list.unassigned["far"] == NO_CANDIDATE_IN_RADIUS
    assert len(by_list.matches) + len(by_list.unassigned) == len(orders)
    assert ("o0", "c1") not in {(m.order_id, m.courier_id) for m in by_pool.matches}
