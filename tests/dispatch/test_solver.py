import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import solve_assignment
from dispatch.errors import InvalidAssignmentInput
from tests.dispatch.oracle import optimum

Instance = tuple[np.ndarray, np.ndarray, np.ndarray, int, int, np.ndarray]


def random_instance(rng: np.random.Generator, *, floats: bool = False) -> Instance:
    n_orders = int(rng.integers(0, 14))
    n_couriers = int(rng.integers(0, 9))
    n_edges = int(rng.integers(0, n_orders * n_couriers + 3)) if n_orders and n_couriers else 0
    rows = rng.integers(0, max(n_orders, 1), n_edges)
    cols = rng.integers(0, max(n_couriers, 1), n_edges)
    # A narrow integer range makes ties frequent; floats exercise the scaling path.
    costs = rng.uniform(-5, 50, n_edges) if floats else rng.integers(0, 6, n_edges).astype(float)
    capacity = rng.integers(0, 4, n_couriers)
    return rows, cols, costs, n_orders, n_couriers, capacity


def check_against_scipy(inst: Instance) -> None:
    rows, cols, costs, n_orders, n_couriers, capacity = inst
    pairs = solve_assignment(rows, cols, costs, n_orders, n_couriers, capacity)
    cheapest: dict[tuple[int, int], float] = {}
    for r, c, w in zip(rows.tolist(), cols.tolist(), costs.tolist(), strict=True):
        cheapest[(r, c)] = min(w, cheapest.get((r, c), np.inf))
    orders = [o for o, _ in pairs]
    assert len(set(orders)) == len(orders), "an order assigned twice"
    load = np.bincount([c for _, c in pairs], minlength=n_couriers)
    assert np.all(load <= capacity), "a courier above its capacity"
    assert all(p in cheapest for p in pairs), "a pair that is not an edge"
    assert orders == sorted(orders)
    cardinality, best = optimum(rows, cols, costs, n_orders, capacity)
    assert len(pairs) == cardinality
    assert sum(cheapest[p] for p in pairs) == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("floats", [False, True])
def test_matches_scipy_on_many_seeded_instances(floats: bool) -> None:
    rng = np.random.default_rng(20261123 + floats)
    for _ in range(500):
        check_against_scipy(random_instance(rng, floats=floats))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10),
    st.integers(0, 7),
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 6), st.integers(0, 4)), max_size=40),
    st.lists(st.integers(0, 3), min_size=7, max_size=7),
)
def test_matches_scipy_property(
    n_orders: int, n_couriers: int, edges: list[tuple[int, int, int]], caps: list[int]
) -> None:
    kept = [(r, c, w) for r, c, w in edges if r < n_orders and c < n_couriers]
    rows = np.array([e[0] for e in kept], dtype=np.int64)
    cols = np.array([e[1] for e in kept], dtype=np.int64)
    costs = np.array([e[2] for e in kept], dtype=float)
    check_against_scipy(
        (rows, cols, costs, n_orders, n_couriers, np.array(caps[:n_couriers], dtype=np.int64))
    )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40),
    st.lists(st.integers(0, 2), min_size=1, max_size=3),
    st.integers(0, 2**31),
)
def test_a_crowded_pool_against_few_couriers_matches_scipy(
    n_orders: int, caps: list[int], seed: int
) -> None:
    """Many orders per courier: the solver keeps only each courier's cheapest few edges."""
    rng = np.random.default_rng(seed)
    n_edges = int(rng.integers(0, 3 * n_orders + 1))
    rows = rng.integers(0, n_orders, n_edges)
    cols = rng.integers(0, len(caps), n_edges)
    costs = rng.integers(-3, 8, n_edges).astype(float)
    check_against_scipy((rows, cols, costs, n_orders, len(caps), np.array(caps, dtype=np.int64)))


def test_cardinality_beats_cost() -> None:
    # Order 0 alone is cheapest on courier 0, but taking courier 1 lets order 1 be served too.
    pairs = solve_assignment([0, 0, 1], [0, 1, 0], [1, 100, 1], 2, 2)
    assert pairs == [(0, 1), (1, 0)]


def test_capacity_above_one_and_scalar_capacity() -> None:
    rows, cols, costs = [0, 1, 2], [0, 0, 0], [3, 2, 1]
    assert solve_assignment(rows, cols, costs, 3, 1, capacity=2) == [(1, 0), (2, 0)]
    assert solve_assignment(rows, cols, costs, 3, 1, capacity=[3]) == [(0, 0), (1, 0), (2, 0)]
    assert solve_assignment(rows, cols, costs, 3, 1, capacity=0) == []


def test_unassignable_orders_and_empty_inputs() -> None:
    assert solve_assignment([], [], [], 0, 0) == []
    assert solve_assignment([], [], [], 3, 2) == []
    assert solve_assignment([2], [1], [7], 3, 2) == [(2, 1)]


def test_ties_give_a_valid_deterministic_answer() -> None:
    args = ([0, 0, 1, 1], [0, 1, 0, 1], [5, 5, 5, 5], 2, 2)
    first = solve_assignment(*args)
    assert len(first) == 2 and {c for _, c in first} == {0, 1}
    assert solve_assignment(*args) == first


def test_bad_input_reports_every_problem() -> None:
    with pytest.raises(InvalidAssignmentInput) as info:
        solve_assignment([0, 5], [0, 1, 2], [float("nan"), 1.0], 3, 2, capacity=[-1, 1])
    fields = [p[0] for p in info.value.problems]
    assert fields == ["rows[1]", "cols[2]", "len(rows, cols, costs)", "capacity[0]", "costs[0]"]
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_orders": -1}, "n_orders"),
        ({"n_couriers": 1.5}, "n_couriers"),
        ({"rows": [0.5]}, "rows[0]"),
        ({"costs": [np.inf]}, "costs[0]"),
        ({"costs": ["a"]}, "costs"),
        ({"capacity": [1, 1]}, "len(capacity)"),
        ({"capacity": [1.5]}, "capacity[0]"),
        ({"costs": [2**62]}, "costs[0]"),
        ({"rows": [[0]]}, "rows"),
    ],
)
def test_each_bad_input_is_typed(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "rows": [0],
        "cols": [0],
        "costs": [1],
        "n_orders": 1,
        "n_couriers": 1,
        "capacity": None,
    }
    args.update(kwargs)
    with pytest.raises(InvalidAssignmentInput) as info:
        solve_assignment(**args)  # type: ignore[arg-type]
    assert info.value.field == field
