"""Candidate couriers per order: radius query on the live index, eligibility filters, top K by cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from dispatch.cost import CostModel, Pairs
from dispatch.model import DispatchOrder
from dispatch.order_columns import OrderColumns
from tracking import CourierColumns

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_K = 30
"""Candidates kept per order."""

_NO_LIMIT = np.iinfo(np.int64).max


class CandidateIndex(Protocol):
    """What candidate generation needs from the live courier index (`tracking.LiveIndex`)."""

    def radius_pairs(
        self,
        lats: npt.ArrayLike,
        lngs: npt.ArrayLike,
        radius_m: float | npt.ArrayLike,
        *,
        k: int | None = None,
        status: str | tuple[str, ...] | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
        xyz: npt.ArrayLike | None = None,
        reserved: Mapping[str, int] | None = None,
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """Every courier within ``radius_m`` (one per query, or one for all) of each query
        point, as sparse ``(query index, index row, metres)`` triples in any order (more
        are allowed: the filters are applied again on the pairs). ``xyz`` are the query
        points' unit vectors (`geo.distance.unit_vectors`) when the caller keeps them;
        ``reserved`` units held in offers count against ``min_free_capacity``."""
        ...

    def columns(self, rows: npt.ArrayLike) -> CourierColumns:
        """Attributes of the couriers at the given rows (as returned by `radius_pairs`)."""
        ...


if TYPE_CHECKING:
    from tracking import LiveIndex

    # The live index must keep satisfying the protocol (checked by mypy, never run).
    _LIVE_INDEX_FITS: CandidateIndex = LiveIndex()


@dataclass(frozen=True)
class Candidates:
    """Eligible (order, courier) pairs, at most K per order, sorted by order then cost.

    ``order_idx`` indexes the orders given to `generate_candidates`; ``courier_idx`` indexes
    ``couriers``. ``free`` is each courier's free capacity in size units (capacity minus load
    minus units reserved by outstanding offers) and ``max_orders`` how many orders it may
    take in this run (1 when stacking is not allowed).
    """

    order_idx: IntArray
    courier_idx: IntArray
    cost: IntArray
    eta_s: FloatArray
    metres: FloatArray
    couriers: CourierColumns
    free: IntArray
    max_orders: IntArray


def generate_candidates(
    orders: Sequence[DispatchOrder] | OrderColumns,
    index: CandidateIndex,
    *,
    now: float,
    cost_model: CostModel,
    k: int = DEFAULT_K,
    allow_stacking: bool = True,
    reserved: Mapping[str, int] | None = None,
    excluded: Mapping[str, Set[str]] | None = None,
    rank_by: Literal["cost", "eta"] = "cost",
) -> Candidates:
    """Find each order's eligible couriers within its pickup radius and keep the K cheapest
    (by cost, or by ETA alone for the greedy nearest baseline: ``rank_by="eta"``).

    Eligible: same tenant; the required vehicle type if any; every required skill; status
    ``idle``, or ``busy`` when stacking is allowed; free capacity at least the order's size
    (without stacking, only couriers carrying nothing and holding no offer); not excluded
    for that order (it rejected or let an offer time out).

    The index is queried once per group of orders sharing tenant, vehicle and skills, each
    order with its own radius (great-circle, as the index measures it).

    Parameters
    ----------
    orders
        The orders to place (as `OrderColumns` when the caller keeps them so).
    index
        The live courier index.
    now
        UTC epoch seconds, for order age and courier idle time.
    cost_model
        Prices the pairs (`dispatch.cost.CostModel`).
    k
        Pairs kept per order.
    allow_stacking
        Whether busy couriers with room, and several orders per courier, are allowed.
    reserved
        Size units each courier holds in outstanding offers (not free for this run).
    excluded
        Couriers each order may not go to.
    rank_by
        What "best" means for the K kept: ``cost`` or ``eta``.

    Returns
    -------
    Candidates
        The kept pairs, sorted by order then rank, and the couriers they reference.
    """
    cols = orders if isinstance(orders, OrderColumns) else OrderColumns.of(orders)
    plat, plng, radius, size = cols.lat, cols.lng, cols.radius, cols.size
    # Orders by group with one stable sort, not a Python pass over the orders (no sort at
    # all when every order shares one group, as in most pools).
    if len(cols.keys) == 1:
        by_group = np.arange(len(cols))
        present, starts = np.zeros(min(len(cols), 1), dtype=np.int64), np.zeros(1, np.int64)
    else:
        by_group = np.argsort(cols.group, kind="stable")
        present, starts = np.unique(cols.group[by_group], return_index=True)
    keys = [cols.keys[g] for g in present.tolist()]
    bounds = [*starts.tolist(), by_group.size]

    parts: list[tuple[IntArray, IntArray, IntArray]] = []
    measured: list[FloatArray] = []
    for g, (tenant, vehicle, _) in enumerate(keys):
        q = by_group[bounds[g] : bounds[g + 1]].astype(np.int64)
        # A courier with less room than the group's smallest order (offers held included),
        # or in a status that takes none, can take none of them: leaving it out in the
        # index saves building its pairs (most of a busy city's fleet).
        qi, rows, metres = index.radius_pairs(
            plat[q],
            plng[q],
            radius[q],
            status=("idle", "busy") if allow_stacking else "idle",
            tenant=tenant,
            vehicle=vehicle,
            min_free_capacity=int(size[q].min()),
            xyz=cols.xyz[q],
            reserved=reserved,
        )
        parts.append((q[qi], np.asarray(rows, dtype=np.int64), np.full(qi.size, g)))
        measured.append(np.asarray(metres, dtype=np.float64))
    order_idx, rows, group = (_concat([p[j] for p in parts]) for j in range(3))
    gc_metres = np.concatenate(measured) if measured else np.empty(0)
    unique_rows, courier_idx = _compact(rows)
    table = index.columns(unique_rows)
    free, max_orders = _free_capacity(table, allow_stacking, reserved or {})

    # Per group, which couriers pass the courier-level filters (few groups, so a small matrix).
    group_ok = np.stack(
        [_courier_ok(table, key) for key in keys] or [np.zeros(table.ids.size, dtype=bool)]
    )
    keep = group_ok[group, courier_idx] & (free[courier_idx] >= size[order_idx])
    if excluded:
        keep &= ~_excluded_mask(cols, order_idx, table.ids[courier_idx], excluded)
    order_idx, courier_idx, gc_metres = order_idx[keep], courier_idx[keep], gc_metres[keep]

    # A courier without a vehicle type travels at the provider's default vehicle's speed.
    known = np.array([v is not None for v in table.vehicle.tolist()], dtype=bool)
    vehicle_names, vehicle_code = np.unique(
        np.where(known, table.vehicle, "").astype(str), return_inverse=True
    )
    # Penalties of the orders that have a pair only: a crowded pool has thousands without.
    order_pen = cost_model.order_penalty_s(
        now, cols.created_at[order_idx], cols.priority[order_idx]
    )
    courier_pen = cost_model.courier_penalty_s(now, table.load, table.idle_since)
    pairs = Pairs(
        order_idx,
        courier_idx,
        plat,
        plng,
        table.lat,
        table.lng,
        vehicle_code.astype(np.int64),
        [name or None for name in vehicle_names.tolist()],
        gc_metres,
    )
    priced = cost_model.pair_costs(pairs, order_pen + courier_pen[courier_idx])
    if rank_by == "eta":
        rank = np.rint(priced.eta_s * (1.0 / cost_model.unit_s)).astype(np.int64)
    else:
        rank = priced.cost
    top = _top_k_per_order(order_idx, rank, k)
    return Candidates(
        order_idx=order_idx[top],
        courier_idx=courier_idx[top],
        cost=priced.cost[top],
        eta_s=priced.eta_s[top],
        metres=priced.metres[top],
        couriers=table,
        free=free,
        max_orders=max_orders,
    )


def _compact(rows: IntArray) -> tuple[IntArray, IntArray]:
    """``np.unique(rows, return_inverse=True)`` in O(n + max row), without sorting."""
    if rows.size == 0:
        return rows, rows
    seen = np.zeros(int(rows.max()) + 1, dtype=bool)
    seen[rows] = True
    position = np.cumsum(seen) - 1
    return np.flatnonzero(seen), position[rows]


def _concat(arrays: list[Any]) -> IntArray:
    return np.concatenate(arrays).astype(np.int64) if arrays else np.empty(0, dtype=np.int64)


def _free_capacity(
    table: CourierColumns, allow_stacking: bool, reserved: Mapping[str, int]
) -> tuple[IntArray, IntArray]:
    held = np.zeros(table.ids.size, dtype=np.int64)
    if reserved:
        row_of = {cid: r for r, cid in enumerate(table.ids.tolist())}
        for cid, units in reserved.items():
            if cid in row_of:
                held[row_of[cid]] = units
    free = table.capacity - table.load - held
    idle = table.status == "idle"
    if allow_stacking:
        ok = idle | (table.status == "busy")
        max_orders = np.full(table.ids.size, _NO_LIMIT, dtype=np.int64)
    else:
        ok = idle & (table.load == 0) & (held == 0)
        max_orders = np.ones(table.ids.size, dtype=np.int64)
    return np.where(ok, np.maximum(free, 0), 0).astype(np.int64), max_orders


def _courier_ok(
    table: CourierColumns, key: tuple[str, str | None, frozenset[str]]
) -> npt.NDArray[np.bool_]:
    tenant, vehicle, skills = key
    ok = np.asarray(table.tenant == tenant, dtype=bool)
    if vehicle is not None:
        ok &= np.asarray(table.vehicle == vehicle, dtype=bool)
    if skills:
        ok &= np.fromiter((skills <= s for s in table.skills), dtype=np.bool_, count=table.ids.size)
    return ok


def _excluded_mask(
    cols: OrderColumns,
    order_idx: IntArray,
    courier_ids: npt.NDArray[np.object_],
    excluded: Mapping[str, Set[str]],
) -> npt.NDArray[np.bool_]:
    out = np.zeros(order_idx.size, dtype=bool)
    # Few orders carry exclusions: look those up, not every order of the run.
    marked = cols.positions(o for o, cs in excluded.items() if cs)
    for j in np.flatnonzero(np.isin(order_idx, marked)).tolist():
        out[j] = courier_ids[j] in excluded[cols.ids[order_idx[j]]]
    return out


def _top_k_per_order(order_idx: IntArray, cost: IntArray, k: int) -> IntArray:
    """Positions of the k cheapest pairs of each order, sorted by order then cost.

    Ties between equal costs of one order fall either way (deterministically). Pairs are
    bucketed per order into a dense (orders x most pairs of one order) matrix and partitioned
    row-wise, which is twice as fast as sorting all pairs; a skewed instance, where that
    matrix would be much larger than the pair list, sorts instead.
    """
    if order_idx.size == 0:
        return np.empty(0, dtype=np.int64)
    # A stable sort of order indices is cheap: the index emits them in ascending runs.
    by = np.argsort(order_idx, kind="stable")
    grouped = order_idx[by]
    n_orders = int(grouped[-1]) + 1
    counts = np.bincount(grouped, minlength=n_orders)
    starts = np.cumsum(counts) - counts
    width = int(counts.max())
    if n_orders * width > 4 * order_idx.size:
        key = (order_idx << 40) | np.clip(cost, 0, (1 << 40) - 1)
        ranked = np.argsort(key)
        first = np.searchsorted(order_idx[ranked], order_idx[ranked], side="left")
        return np.asarray(ranked[np.arange(ranked.size) - first < k], dtype=np.int64)
    dense = np.full((n_orders, width), np.iinfo(np.int64).max, dtype=np.int64)
    dense[grouped, np.arange(grouped.size) - starts[grouped]] = cost[by]
    if width > k:
        cols = np.argpartition(dense, k - 1, axis=1)[:, :k]
    else:
        cols = np.broadcast_to(np.arange(width), (n_orders, width))
    cols = np.take_along_axis(
        cols, np.argsort(np.take_along_axis(dense, cols, axis=1), axis=1), axis=1
    )
    rows = np.repeat(np.arange(n_orders), cols.shape[1])
    flat = cols.ravel()
    real = flat < counts[rows]
    return np.asarray(by[starts[rows[real]] + flat[real]], dtype=np.int64)
