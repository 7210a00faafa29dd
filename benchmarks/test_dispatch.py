"""Assignment engine: 2,000 orders x 10,000 couriers over a 28 x 44 km city, K = 30.

Measured: candidates plus solve (`dispatch.engine.assign`, mode optimal) on the live index;
peers in the same run: scipy's sparse matching on the same K = 30 matrix, OR-Tools alone on
that matrix, and brute-force candidate search. The pickup distance `optimal` saves over
`nearest` is recorded in ``extra_info``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from dispatch.candidates import generate_candidates
from dispatch.cost import CostModel
from dispatch.engine import DispatchParams, assign
from dispatch.model import DispatchOrder
from dispatch.solver import solve_edges
from tests.dispatch.fleet import (
    ArrayFleet,
    Record,
    columns_from_records,
    live_fleet,
    random_records,
)

N_ORDERS = 2_000
N_COURIERS = 10_000
K = 30
RADIUS_M = 2_000.0
NOW = 1_700_000_000.0
ETA_ONLY = CostModel(age_weight=0, priority_s=0, load_s=0, idle_weight=0)

pytestmark = pytest.mark.filterwarnings("ignore::pytest_benchmark.logger.PytestBenchmarkWarning")


def city() -> tuple[list[Record], list[DispatchOrder]]:
    rng = np.random.default_rng(2026)
    couriers = random_records(rng, N_COURIERS, busy_share=0.3, capacity=2)
    pickups = random_records(rng, N_ORDERS)
    orders = [
        DispatchOrder(
            id=f"o{i}",
            tenant="t1",
            pickup_lat=p["lat"],
            pickup_lng=p["lng"],
            dropoff_lat=p["lat"],
            dropoff_lng=p["lng"],
            created_at=NOW - float(rng.integers(0, 600)),
            priority=int(rng.integers(0, 3)),
            max_pickup_m=RADIUS_M,
        )
        for i, p in enumerate(pickups)
    ]
    return couriers, orders


@pytest.fixture(scope="module")
def instance() -> dict[str, Any]:
    couriers, orders = city()
    live = live_fleet(couriers, NOW)
    params = DispatchParams(k=K)
    return {
        "couriers": couriers,
        "orders": orders,
        "brute": ArrayFleet(columns_from_records(couriers)),
        "live": live,
        "params": params,
        "cands": generate_candidates(orders, live, now=NOW, cost_model=params.cost_model, k=K),
    }


def test_assign_optimal_live_index(benchmark: Any, instance: dict[str, Any]) -> None:
    result = benchmark(assign, instance["orders"], instance["live"], instance["params"], now=NOW)
    benchmark.extra_info["pairs_in_matrix"] = int(instance["cands"].order_idx.size)
    benchmark.extra_info["assigned"] = len(result.matches)
    # Distance saved over greedy nearest: with the default cost model (which also weighs
    # load, age, priority and idle time) and with ETA alone (distance, one vehicle type); on
    # this instance and, for context, with only the first 2,500 couriers (scarce supply).
    scarce = live_fleet(instance["couriers"][:2_500], NOW)
    for label, index, model in (
        ("default_cost", instance["live"], CostModel()),
        ("eta_only_cost", instance["live"], ETA_ONLY),
        ("scarce_2500_eta_only", scarce, ETA_ONLY),
    ):
        optimal = assign(instance["orders"], index, DispatchParams(k=K, cost_model=model), now=NOW)
        nearest = assign(
            instance["orders"],
            index,
            DispatchParams(k=K, mode="nearest", cost_model=model),
            now=NOW,
        )
        saved = nearest.total_pickup_m - optimal.total_pickup_m
        benchmark.extra_info[label] = {
            "optimal_assigned": len(optimal.matches),
            "nearest_assigned": len(nearest.matches),
            "optimal_pickup_km": round(optimal.total_pickup_m / 1000, 1),
            "nearest_pickup_km": round(nearest.total_pickup_m / 1000, 1),
            "saved_pct": round(100 * saved / nearest.total_pickup_m, 2),
            "optimal_mean_m": round(optimal.total_pickup_m / max(1, len(optimal.matches))),
            "nearest_mean_m": round(nearest.total_pickup_m / max(1, len(nearest.matches))),
        }
    print(f"\noptimal vs nearest: {benchmark.extra_info}")


def test_assign_nearest_live_index(benchmark: Any, instance: dict[str, Any]) -> None:
    benchmark(
        assign, instance["orders"], instance["live"], DispatchParams(k=K, mode="nearest"), now=NOW
    )


def test_solve_only_ortools(benchmark: Any, instance: dict[str, Any]) -> None:
    c = instance["cands"]
    slots = np.minimum(c.free, c.max_orders)
    benchmark(solve_edges, c.order_idx, c.courier_idx, c.cost, slots)


def test_peer_scipy_sparse_matching(benchmark: Any, instance: dict[str, Any]) -> None:
    """scipy's LAPJVsp on the same K = 30 matrix, courier columns duplicated per free slot and
    one dummy column per order (cost above any real path) so a full matching always exists."""
    c = instance["cands"]
    slots = np.minimum(c.free, c.max_orders)
    starts = np.r_[0, np.cumsum(slots)]
    rows, cols, costs = [c.order_idx], [], [c.cost + 1]
    # One column per free slot: edge to slot s of courier c for s < slots[c].
    extra = slots[c.courier_idx] - 1
    cols.append(starts[c.courier_idx])
    for s in range(1, int(slots.max())):
        more = extra >= s
        rows.append(c.order_idx[more])
        cols.append(starts[c.courier_idx[more]] + s)
        costs.append(c.cost[more] + 1)
    big = int(c.cost.max()) * (N_ORDERS + 1) + 1
    rows.append(np.arange(N_ORDERS))
    cols.append(starts[-1] + np.arange(N_ORDERS))
    costs.append(np.full(N_ORDERS, big))
    matrix = csr_matrix(
        (np.concatenate(costs).astype(float), (np.concatenate(rows), np.concatenate(cols))),
        shape=(N_ORDERS, int(starts[-1]) + N_ORDERS),
    )
    r, col = benchmark(min_weight_full_bipartite_matching, matrix)
    real = col < starts[-1]
    ours = solve_edges(c.order_idx, c.courier_idx, c.cost, slots)
    assert int(real.sum()) == ours.size
    assert float(matrix[r[real], col[real]].sum()) - real.sum() == int(c.cost[ours].sum())


def test_candidates_live_index(benchmark: Any, instance: dict[str, Any]) -> None:
    benchmark(
        generate_candidates,
        instance["orders"],
        instance["live"],
        now=NOW,
        cost_model=instance["params"].cost_model,
        k=K,
    )


def test_peer_brute_force_candidates(benchmark: Any, instance: dict[str, Any]) -> None:
    benchmark.pedantic(
        generate_candidates,
        args=(instance["orders"], instance["brute"]),
        kwargs={"now": NOW, "cost_model": instance["params"].cost_model, "k": K},
        rounds=3,
        iterations=1,
    )
