"""scipy oracle for the assignment solver: dense big-M matching with courier columns duplicated."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching


def expand(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    costs: npt.NDArray[np.float64],
    n_orders: int,
    capacity: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Dense ``(n_orders, sum(capacity))`` costs (cheapest duplicate) and the edge mask."""
    slot_owner = np.repeat(np.arange(capacity.size), capacity)
    dense = np.full((n_orders, slot_owner.size), np.inf)
    for r, c, w in zip(rows, cols, costs, strict=True):
        slots = slot_owner == c
        dense[r, slots] = np.minimum(dense[r, slots], w)
    return dense, np.isfinite(dense)


def optimum(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    costs: npt.NDArray[np.float64],
    n_orders: int,
    capacity: npt.NDArray[np.int64],
) -> tuple[int, float]:
    """(maximum cardinality, minimum total cost at that cardinality) computed with scipy."""
    dense, mask = expand(rows, cols, costs, n_orders, capacity)
    if dense.size == 0:
        return 0, 0.0
    finite = dense[mask]
    span = float(np.ptp(finite)) if finite.size else 0.0
    big = (span + 1.0) * (min(dense.shape) + 1) * 4 + float(np.abs(finite).max(initial=0.0))
    r, c = linear_sum_assignment(np.where(mask, dense, big))
    real = mask[r, c]
    matched = maximum_bipartite_matching(csr_matrix(mask), perm_type="column")
    cardinality = int((matched >= 0).sum())
    assert int(real.sum()) == cardinality, "big-M matching must reach the maximum cardinality"
    return cardinality, float(dense[r[real], c[real]].sum())
