"""Sparse order-to-courier matching: maximum cardinality first, then minimum cost (OR-Tools)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from dispatch.errors import InvalidAssignmentInput, Problem

IntArray = npt.NDArray[np.int64]

_FLOAT_COST_RESOLUTION = 2**40
"""Float costs are scaled so the largest magnitude becomes about this many integer units."""


def solve_assignment(
    rows: npt.ArrayLike,
    cols: npt.ArrayLike,
    costs: npt.ArrayLike,
    n_orders: int,
    n_couriers: int,
    capacity: int | npt.ArrayLike | None = None,
) -> list[tuple[int, int]]:
    """Match orders to couriers over a sparse cost list.

    Among all assignments that give the most orders a courier, return one of minimum total
    cost. Edge ``e`` lets order ``rows[e]`` go to courier ``cols[e]`` at ``costs[e]``; a pair
    with no edge is not allowed. Solved as a min-cost max-flow with OR-Tools
    ``SimpleMinCostFlow``: source -> order (capacity 1) -> courier -> sink (capacity
    ``capacity[c]``).

    Parameters
    ----------
    rows, cols
        Order and courier index of each edge, integers in ``[0, n_orders)`` and
        ``[0, n_couriers)``. Repeated pairs are allowed; the cheapest one counts.
    costs
        Cost of each edge, finite numbers (negative allowed). Integer costs are used exactly;
        non-integral float costs are scaled to integers with a resolution of about
        ``max|cost| / 2**40``, so ties closer than that may break either way.
    n_orders, n_couriers
        Sizes of the two sides.
    capacity
        How many orders each courier may take: ``None`` (1 each), one non-negative integer
        for all, or one per courier.

    Returns
    -------
    list of (int, int)
        ``(order, courier)`` pairs sorted by order; each order at most once, each courier at
        most ``capacity[c]`` times. Orders absent from the list could not be assigned.

    Raises
    ------
    InvalidAssignmentInput
        Listing every problem: lengths, non-integer or out-of-range indices, costs that are
        not finite or too large, negative or non-integer capacities, bad sizes.
    """
    r, c, w, cap = validate_assignment_input(rows, cols, costs, n_orders, n_couriers, capacity)
    chosen = solve_edges(r, c, w, cap)
    chosen = chosen[np.argsort(r[chosen], kind="stable")]
    return [(int(o), int(k)) for o, k in zip(r[chosen], c[chosen], strict=True)]


def validate_assignment_input(
    rows: npt.ArrayLike,
    cols: npt.ArrayLike,
    costs: npt.ArrayLike,
    n_orders: int,
    n_couriers: int,
    capacity: int | npt.ArrayLike | None,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Check the inputs of `solve_assignment` and return them as int64 arrays.

    Costs come back as integers (scaled when they were non-integral floats).
    """
    problems: list[Problem] = []
    n_o = _size("n_orders", n_orders, problems)
    n_c = _size("n_couriers", n_couriers, problems)
    r = _index_array("rows", rows, n_o, problems)
    c = _index_array("cols", cols, n_c, problems)
    w_raw = _numeric_array("costs", costs, problems)
    lengths = {len(a) for a in (r, c, w_raw) if a is not None}
    if len(lengths) > 1:
        shown = tuple(None if a is None else len(a) for a in (r, c, w_raw))
        problems.append(("len(rows, cols, costs)", shown, "must be equal"))
    cap = _capacity(capacity, n_c, problems)
    w: IntArray | None = None
    if w_raw is not None:
        w = _integer_costs(w_raw, max(n_o or 0, 1), problems)
    if problems or r is None or c is None or w is None or cap is None:
        raise InvalidAssignmentInput(problems)
    return r, c, w, cap


def solve_edges(rows: IntArray, cols: IntArray, costs: IntArray, capacity: IntArray) -> IntArray:
    """Indices of the chosen edges of a validated instance (see `solve_assignment`);
    ``capacity`` is indexed by courier."""
    usable = capacity[cols] > 0
    edge_ids = _cheapest_per_courier(rows, cols, costs, capacity, np.flatnonzero(usable))
    if edge_ids.size == 0:
        return edge_ids.astype(np.int64)
    # Nodes only for the orders and couriers that have an edge, numbered densely: the
    # solver's work grows with the node count, and a crowded pool has thousands of orders
    # without a courier in reach.
    orders, r = np.unique(rows[edge_ids], return_inverse=True)
    couriers, c = np.unique(cols[edge_ids], return_inverse=True)
    n_o = orders.size
    source = n_o + couriers.size
    sink = source + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    ones_o = np.ones(n_o, dtype=np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(
        np.full(n_o, source, dtype=np.int64), np.arange(n_o), ones_o, np.zeros_like(ones_o)
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(couriers.size) + n_o,
        np.full(couriers.size, sink, dtype=np.int64),
        np.minimum(capacity[couriers], n_o),
        np.zeros(couriers.size, dtype=np.int64),
    )
    middle = flow.add_arcs_with_capacity_and_unit_cost(
        r, c + n_o, np.ones(r.size, dtype=np.int64), costs[edge_ids]
    )
    flow.set_nodes_supplies(np.array([source, sink], dtype=np.int64), np.array([n_o, -n_o]))
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:  # pragma: no cover - inputs are validated above
        raise InvalidAssignmentInput([("costs", "...", f"OR-Tools min cost flow status {status}")])
    used = flow.flows(middle) > 0
    return np.asarray(edge_ids[used], dtype=np.int64)


def _cheapest_per_courier(
    rows: IntArray, cols: IntArray, costs: IntArray, capacity: IntArray, edge_ids: IntArray
) -> IntArray:
    """The edges among ``edge_ids`` that some optimal answer is made of: each courier's
    ``total`` cheapest (distinct orders), ``total`` being every courier's capacity summed.

    At most ``total`` orders get a courier, so if courier c took an order outside its
    ``total`` cheapest, one of those would be left unassigned, and c could take it instead:
    as many orders served, at no more cost. A crowded pool against a few free couriers thus
    becomes a small instance (thousands of edges down to about couriers squared).
    """
    c = cols[edge_ids]
    if c.size == 0:
        return edge_ids
    per_courier = np.bincount(c)
    present = np.flatnonzero(per_courier)
    total = int(np.minimum(capacity[present], c.size).sum())
    if int(per_courier.max()) <= total:
        return edge_ids
    # A repeated (order, courier) pair counts once, at its cheapest.
    e = edge_ids[np.lexsort((costs[edge_ids], rows[edge_ids], c))]
    first = np.r_[True, (np.diff(cols[e]) != 0) | (np.diff(rows[e]) != 0)]
    e = e[first]
    e = e[np.lexsort((rows[e], costs[e], cols[e]))]
    ce = cols[e]
    rank = np.arange(ce.size) - np.searchsorted(ce, ce, side="left")
    return np.sort(e[rank < total])


def _size(field: str, value: Any, problems: list[Problem]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        problems.append((field, value, "must be a non-negative integer"))
        return None
    return int(value)


def _numeric_array(
    field: str, values: npt.ArrayLike, problems: list[Problem]
) -> npt.NDArray[Any] | None:
    arr = np.asarray(values)
    if arr.ndim != 1:
        problems.append((field, arr.shape, "must be one-dimensional"))
        return None
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        problems.append((field, arr.dtype.str, "must hold numbers"))
        return None
    return arr


def _index_array(
    field: str, values: npt.ArrayLike, size: int | None, problems: list[Problem]
) -> IntArray | None:
    arr = _numeric_array(field, values, problems)
    if arr is None:
        return None
    if np.issubdtype(arr.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.size:
            problems.append((f"{field}[{bad[0]}]", arr[bad[0]].item(), "must be an integer"))
            return None
    out = arr.astype(np.int64)
    if size is not None:
        bad = np.flatnonzero((out < 0) | (out >= size))
        if bad.size:
            i = int(bad[0])
            problems.append((f"{field}[{i}]", out[i].item(), f"outside [0, {size})"))
    return out


def _capacity(
    capacity: int | npt.ArrayLike | None, n_couriers: int | None, problems: list[Problem]
) -> IntArray | None:
    if n_couriers is None:
        return None
    if capacity is None:
        return np.ones(n_couriers, dtype=np.int64)
    arr = np.asarray(capacity)
    if arr.ndim == 0:
        arr = np.full(n_couriers, arr)
    out = _index_array("capacity", arr, None, problems)
    if out is None:
        return None
    if out.shape != (n_couriers,):
        problems.append(("len(capacity)", out.shape[0], f"must equal n_couriers={n_couriers}"))
        return None
    bad = np.flatnonzero(out < 0)
    if bad.size:
        i = int(bad[0])
        problems.append((f"capacity[{i}]", out[i].item(), "must be non-negative"))
        return None
    return out


def _integer_costs(costs: npt.NDArray[Any], n_orders: int, problems: list[Problem]) -> IntArray:
    # OR-Tools multiplies costs by about (nodes + 1) while scaling, and the optimum sums up to
    # n_orders of them: keep |cost| well inside int64 after both.
    limit = 2**62 // ((costs.size + 2 * n_orders + 4) * n_orders)
    if costs.size == 0:
        return costs.astype(np.int64)
    if np.issubdtype(costs.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(costs))
        if bad.size:
            i = int(bad[0])
            problems.append((f"costs[{i}]", costs[i].item(), "not finite"))
            return np.zeros(costs.size, dtype=np.int64)
        biggest = float(np.max(np.abs(costs)))
        if biggest > limit or np.any(costs != np.round(costs)):
            scale = min(limit, _FLOAT_COST_RESOLUTION) / biggest
            return np.asarray(np.rint(costs * scale), dtype=np.int64)
        return costs.astype(np.int64)
    bad = np.flatnonzero((costs > limit) | (costs < -limit))
    if bad.size:
        i = int(bad[0])
        problems.append((f"costs[{i}]", costs[i].item(), f"|cost| above {limit} overflows"))
    return costs.astype(np.int64)
