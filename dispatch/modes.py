"""Dispatch modes: which candidate pairs to take (optimal matching, greedy nearest, least loaded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from dispatch.candidates import Candidates
from dispatch.model import DispatchOrder
from dispatch.solver import solve_edges

IntArray = npt.NDArray[np.int64]

Mode = Literal["optimal", "nearest", "load"]
MODES: tuple[Mode, ...] = ("optimal", "nearest", "load")


def choose(mode: Mode, cands: Candidates, orders: Sequence[DispatchOrder]) -> IntArray:
    """Positions in ``cands`` of the pairs the mode takes; no courier above its free capacity."""
    if mode == "optimal":
        return optimal(cands, orders)
    return greedy(cands, orders, by="load" if mode == "load" else "distance")


def optimal(cands: Candidates, orders: Sequence[DispatchOrder]) -> IntArray:
    """Most orders served, then least total cost (`dispatch.solver`).

    With equal order sizes a courier takes ``free // size`` orders and the answer is exact.
    With mixed sizes (a generalised assignment problem, NP-hard) each courier first gets as
    many slots as its smallest candidate order allows; a courier whose orders then overflow its
    free capacity loses a slot and the matching is solved again, until everything fits.
    """
    n_couriers = cands.couriers.ids.size
    sizes = np.array([o.size for o in orders], dtype=np.int64)
    pair_size = sizes[cands.order_idx]
    smallest = np.full(n_couriers, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, cands.courier_idx, pair_size)
    slots = np.where(smallest > 0, cands.free // np.maximum(smallest, 1), 0)
    slots = np.minimum(slots, cands.max_orders)
    while True:
        chosen = solve_edges(
            cands.order_idx, cands.courier_idx, cands.cost, len(orders), n_couriers, slots
        )
        used = np.bincount(cands.courier_idx[chosen], pair_size[chosen], minlength=n_couriers)
        over = used > cands.free
        if not over.any():
            return chosen
        slots[over] -= 1


def greedy(
    cands: Candidates, orders: Sequence[DispatchOrder], *, by: Literal["distance", "load"]
) -> IntArray:
    """First come, first served: each order in creation order takes the best courier left.

    ``distance``: the nearest by pickup distance (the usual baseline). ``load``: the least
    loaded (load plus what this run already gave it), nearest first among equals.
    """
    free = cands.free.copy()
    taken = np.zeros(cands.couriers.ids.size, dtype=np.int64)
    load = cands.couriers.load.copy()
    starts = np.searchsorted(cands.order_idx, np.arange(len(orders) + 1))
    chosen: list[int] = []
    for i in sorted(range(len(orders)), key=lambda j: (orders[j].created_at, orders[j].id)):
        lo, hi = int(starts[i]), int(starts[i + 1])
        if lo == hi:
            continue
        couriers = cands.courier_idx[lo:hi]
        fits = (free[couriers] >= orders[i].size) & (taken[couriers] < cands.max_orders[couriers])
        if not fits.any():
            continue
        options = np.flatnonzero(fits)
        if by == "load":
            rank = np.lexsort((cands.metres[lo:hi][options], load[couriers[options]]))
        else:
            rank = np.argsort(cands.metres[lo:hi][options], kind="stable")
        best = int(options[rank[0]])
        c = couriers[best]
        free[c] -= orders[i].size
        load[c] += orders[i].size
        taken[c] += 1
        chosen.append(lo + best)
    return np.array(sorted(chosen), dtype=np.int64)
