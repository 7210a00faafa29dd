"""One dispatch run: pure ``assign(orders, index, params)`` returning every match and every miss."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from dispatch.candidates import DEFAULT_K, CandidateIndex, Candidates, generate_candidates
from dispatch.cost import CostModel
from dispatch.errors import InvalidParams, Problem
from dispatch.model import DispatchOrder
from dispatch.modes import MODES, Mode, choose
from dispatch.order_columns import OrderColumns

NO_CANDIDATE_IN_RADIUS = "no_candidate_in_radius"
"""No eligible courier within the order's pickup radius."""
ALL_CANDIDATES_TAKEN = "all_candidates_taken"
"""Eligible couriers existed, but all went to other orders (or lacked room left)."""


@dataclass(frozen=True)
class DispatchParams:
    """How a dispatch run chooses.

    Parameters
    ----------
    mode
        ``optimal`` (batch matching), ``nearest`` (greedy first come, nearest courier) or
        ``load`` (greedy first come, least loaded courier within the radius).
    k
        Candidates kept per order, the cheapest by cost.
    allow_stacking
        Whether busy couriers with free capacity, and several orders per courier, are allowed.
    cost_model
        Integer costs of the pairs (`dispatch.cost.CostModel`).
    """

    mode: Mode = "optimal"
    k: int = DEFAULT_K
    allow_stacking: bool = True
    cost_model: CostModel = field(default_factory=CostModel)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.mode not in MODES:
            problems.append(("mode", self.mode, f"must be one of {', '.join(MODES)}"))
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            problems.append(("k", self.k, "must be a positive integer"))
        if problems:
            raise InvalidParams(problems)


class Match(NamedTuple):
    """One order given to one courier; ``cost`` in `CostModel` units (a tuple: a batch makes
    thousands, and tuples are built several times faster than frozen dataclasses)."""

    order_id: str
    courier_id: str
    size: int
    cost: int
    eta_s: float
    pickup_m: float


@dataclass(frozen=True)
class Assignment:
    """The outcome of a run: matches, and for every order left out the reason why."""

    mode: Mode
    matches: tuple[Match, ...]
    unassigned: Mapping[str, str]
    courier_free: Mapping[str, int] = field(default_factory=dict)
    """Free capacity (capacity minus load, offers not counted) of each matched courier."""

    @property
    def total_pickup_m(self) -> float:
        return math.fsum(m.pickup_m for m in self.matches)

    @property
    def total_cost(self) -> int:
        return sum(m.cost for m in self.matches)

    def units_per_courier(self) -> Counter[str]:
        """Size units each courier received in this run."""
        out: Counter[str] = Counter()
        for m in self.matches:
            out[m.courier_id] += m.size
        return out


def assign(
    orders: Sequence[DispatchOrder] | OrderColumns,
    index: CandidateIndex,
    params: DispatchParams,
    *,
    now: float | None = None,
    reserved: Mapping[str, int] | None = None,
    excluded: Mapping[str, Set[str]] | None = None,
) -> Assignment:
    """Assign orders to couriers of the live index in one batch.

    Pure: reads the index, changes nothing; applying the result (offers) is the caller's step,
    so a failed run leaves no trace.

    Parameters
    ----------
    orders
        Unassigned orders, ids unique (or their `OrderColumns`, already checked).
    index
        The live courier index (`dispatch.candidates.CandidateIndex`).
    params
        Mode, K, stacking and cost model.
    now
        UTC epoch seconds for order age and idle time; the wall clock when None.
    reserved
        Size units each courier already holds in outstanding offers.
    excluded
        Couriers each order may not go to (they rejected it or let its offer time out).

    Returns
    -------
    Assignment
        Every order appears either in ``matches`` or in ``unassigned`` with a reason.

    Raises
    ------
    InvalidInput
        Duplicate order ids or items that are not `DispatchOrder`.
    routing.travel_time.UnknownVehicle
        When a candidate courier's vehicle type has no speed in the travel-time provider
        (vehicle types are configuration; nothing is assigned then).
    """
    cols = orders if isinstance(orders, OrderColumns) else OrderColumns.of(orders)
    cands = generate_candidates(
        cols,
        index,
        now=time.time() if now is None else now,
        cost_model=params.cost_model,
        k=params.k,
        allow_stacking=params.allow_stacking,
        reserved=reserved,
        excluded=excluded,
        # Greedy nearest is the baseline users know: its K are the nearest by ETA, whatever
        # the penalties say.
        rank_by="eta" if params.mode == "nearest" else "cost",
    )
    chosen = choose(params.mode, cands, cols)
    return _assignment(params.mode, cols, cands, chosen)


def _assignment(
    mode: Mode, cols: OrderColumns, cands: Candidates, chosen: np.ndarray
) -> Assignment:
    ids = cands.couriers.ids
    o_idx = cands.order_idx[chosen]
    matches = tuple(
        Match(*pair)
        for pair in zip(
            cols.ids[o_idx].tolist(),
            ids[cands.courier_idx[chosen]].tolist(),
            cols.size[o_idx].tolist(),
            cands.cost[chosen].tolist(),
            cands.eta_s[chosen].tolist(),
            cands.metres[chosen].tolist(),
            strict=True,
        )
    )
    reason = np.where(
        np.bincount(cands.order_idx, minlength=len(cols)) > 0,
        np.int8(_REASONS.index(ALL_CANDIDATES_TAKEN)),
        np.int8(_REASONS.index(NO_CANDIDATE_IN_RADIUS)),
    )
    left = np.ones(len(cols), dtype=bool)
    left[o_idx] = False
    table = cands.couriers
    rows = np.unique(cands.courier_idx[chosen])
    courier_free = dict(
        zip(
            ids[rows].tolist(),
            (table.capacity[rows] - table.load[rows]).tolist(),
            strict=True,
        )
    )
    return Assignment(mode, matches, Unassigned(cols.ids[left], reason[left]), courier_free)


_REASONS = (NO_CANDIDATE_IN_RADIUS, ALL_CANDIDATES_TAKEN)


class Unassigned(Mapping[str, str]):
    """Order id to reason for every order a run left out, as two columns; the dict is built
    on first lookup (a crowded pool leaves thousands out each run, and most runs' callers
    only count them)."""

    def __init__(self, ids: npt.NDArray[np.object_], reasons: npt.NDArray[np.int8]) -> None:
        self._ids = ids
        self._reasons = reasons
        self._dict: dict[str, str] | None = None

    def _table(self) -> dict[str, str]:
        if self._dict is None:
            names = np.array(_REASONS, dtype=object)[self._reasons]
            self._dict = dict(zip(self._ids.tolist(), names.tolist(), strict=True))
        return self._dict

    def __getitem__(self, order_id: str) -> str:
        return self._table()[order_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids.tolist())

    def __len__(self) -> int:
        return int(self._ids.size)

    def __repr__(self) -> str:
        return f"Unassigned({self._table()!r})"
