"""Dispatch modes: which candidate pairs to take (optimal matching, greedy nearest, least loaded)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from dispatch.candidates import Candidates
from dispatch.order_columns import OrderColumns
from dispatch.solver import solve_edges

IntArray = npt.NDArray[np.int64]

Mode = Literal["optimal", "nearest", "load"]
MODES: tuple[Mode, ...] = ("optimal", "nearest", "load")


def choose(mode: Mode, cands: Candidates, orders: OrderColumns) -> IntArray:
    """Positions in ``cands`` of the pairs the mode takes; no courier above its free capacity."""
    if mode == "optimal":
        return optimal(cands, orders)
    return greedy(cands, orders, by="load" if mode == "load" else "distance")


def optimal(cands: Candidates, orders: OrderColumns) -> IntArray:
    """Most orders served, then least total cost (`dispatch.solver`).

    With equal order sizes a courier takes ``free // size`` orders and the answer is exact.
    Mixed sizes make it a generalised assignment problem (NP-hard); then each courier gets as
    many slots as its smallest candidate order allows, and while a courier's orders overflow
    its free capacity, its largest (then costliest) order loses that courier and the matching
    is solved again: feasible always, optimal not guaranteed.
    """
    n_couriers = cands.couriers.ids.size
    sizes = orders.size
    pair_size = sizes[cands.order_idx]
    if sizes.size and sizes.min() == sizes.max():
        smallest = np.full(n_couriers, sizes[0], dtype=np.int64)
    else:  # ufunc.at is slow; only mixed sizes need it
        smallest = np.full(n_couriers, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(smallest, cands.courier_idx, pair_size)
    slots = np.minimum(cands.free // np.maximum(smallest, 1), cands.max_orders)
    edges = np.arange(cands.order_idx.size)
    while True:
        chosen = edges[
            solve_edges(
                cands.order_idx[edges],
                cands.courier_idx[edges],
                cands.cost[edges],
                slots,
            )
        ]
        couriers = cands.courier_idx[chosen]
        over = np.bincount(couriers, pair_size[chosen], minlength=n_couriers) > cands.free
        if not over.any():
            return np.sort(chosen)
        bad = chosen[over[couriers]]
        # Per overflowing courier, its largest order, the costliest among equals.
        ranked = bad[np.lexsort((-cands.cost[bad], -pair_size[bad], cands.courier_idx[bad]))]
        first = np.r_[True, np.diff(cands.courier_idx[ranked]) != 0]
        edges = np.setdiff1d(edges, ranked[first], assume_unique=True)


def greedy(cands: Candidates, orders: OrderColumns, *, by: Literal["distance", "load"]) -> IntArray:
    """First come, first served: each order in creation order takes the best courier left.

    ``distance``: the nearest by pickup distance (the usual baseline). ``load``: the least
    loaded (load plus what this run already gave it), nearest first among equals.
    """
    free = cands.free.copy()
    taken = np.zeros(cands.couriers.ids.size, dtype=np.int64)
    load = cands.couriers.load.copy()
    starts = np.searchsorted(cands.order_idx, np.arange(len(orders) + 1))
    chosen: list[int] = []
    # Only orders with a candidate take part: a crowded pool has thousands without one.
    placed = np.flatnonzero(starts[1:] > starts[:-1]).tolist()
    created, ids, sizes = orders.created_at, orders.ids, orders.size
    for i in sorted(placed, key=lambda j: (created[j], ids[j])):
        lo, hi = int(starts[i]), int(starts[i + 1])
        size = int(sizes[i])
        couriers = cands.courier_idx[lo:hi]
        fits = (free[couriers] >= size) & (taken[couriers] < cands.max_orders[couriers])
        if not fits.any():
            continue
        options = np.flatnonzero(fits)
        if by == "load":
            rank = np.lexsort((cands.metres[lo:hi][options], load[couriers[options]]))
        else:
            rank = np.argsort(cands.metres[lo:hi][options], kind="stable")
        best = int(options[rank[0]])
        c = couriers[best]
        free[c] -= size
        load[c] += size
        taken[c] += 1
        chosen.append(lo + best)
    return np.array(sorted(chosen), dtype=np.int64)
