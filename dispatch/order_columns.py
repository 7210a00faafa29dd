"""Orders as numpy columns, and the pool that keeps them incrementally between dispatch runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dispatch.errors import InvalidInput, Problem
from dispatch.model import DispatchOrder
from geo.distance import unit_vector

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]
GroupKey = tuple[str, str | None, frozenset[str]]
"""Tenant, required vehicle and skills: orders sharing them share one index query."""


@dataclass(frozen=True)
class OrderColumns:
    """What a dispatch run reads of its orders, one row per order.

    ``group`` indexes ``keys``; ``xyz`` are the pickups' unit vectors (`geo.distance`);
    ``positions`` gives the rows of the given order ids (those present), without a pass over
    every order.
    """

    ids: ObjectArray
    lat: FloatArray
    lng: FloatArray
    radius: FloatArray
    size: IntArray
    priority: IntArray
    created_at: FloatArray
    group: IntArray
    keys: tuple[GroupKey, ...]
    xyz: FloatArray
    positions: Callable[[Iterable[str]], IntArray] = field(repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def of(cls, orders: Sequence[DispatchOrder]) -> OrderColumns:
        """Columns of validated orders.

        Raises
        ------
        InvalidInput
            Duplicate order ids or items that are not `DispatchOrder`, every one listed.
        """
        check_orders(orders)
        pool = OrderPool()
        pool.add(orders)
        return pool.columns()


def check_orders(orders: Sequence[object]) -> None:
    """Raise `InvalidInput` listing every item that is not a `DispatchOrder` or repeats an id."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, order in enumerate(orders):
        if not isinstance(order, DispatchOrder):
            problems.append((f"orders[{i}]", order, "not a DispatchOrder"))
        elif order.id in seen:
            problems.append((f"orders[{i}].id", order.id, "duplicate order id"))
        else:
            seen.add(order.id)
    if problems:
        raise InvalidInput("orders", problems)


class OrderPool:
    """Orders by id, with their columns kept in step: adding or removing an order costs
    O(1) amortised (removal moves the last row into the hole), so a dispatch run reads the
    whole pool as arrays without touching each order in Python."""

    _FLOAT = ("lat", "lng", "radius", "created_at")
    _INT = ("size", "priority", "group")

    def __init__(self) -> None:
        self._orders: list[DispatchOrder] = []
        self._row: dict[str, int] = {}
        self._keys: dict[GroupKey, int] = {}
        self._ids = np.empty(0, dtype=object)
        self._xyz = np.empty((0, 3), dtype=np.float64)
        self._cols: dict[str, npt.NDArray[Any]] = {
            **{name: np.empty(0, dtype=np.float64) for name in self._FLOAT},
            **{name: np.empty(0, dtype=np.int64) for name in self._INT},
        }

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._row

    def orders(self) -> list[DispatchOrder]:
        return list(self._orders)

    def add(self, orders: Iterable[DispatchOrder]) -> None:
        """Add validated orders; an order whose id is already there replaces it."""
        for order in orders:
            self.remove(order.id)
            self._append(order)

    def remove(self, order_id: str) -> bool:
        """Take an order out; False when it was not there."""
        row = self._row.pop(order_id, None)
        if row is None:
            return False
        last = len(self._orders) - 1
        if row != last:
            moved = self._orders[last]
            self._orders[row] = moved
            self._row[moved.id] = row
            self._ids[row] = self._ids[last]
            self._xyz[row] = self._xyz[last]
            for col in self._cols.values():
                col[row] = col[last]
        self._orders.pop()
        return True

    def rows_of(self, order_ids: Iterable[str]) -> IntArray:
        """Rows of the given orders that are in the pool (the others are skipped)."""
        return _rows(self._row, order_ids)

    def columns(self, skip: Set[str] = frozenset()) -> OrderColumns:
        """The pool as columns, in row order, without the orders ``skip`` names.

        The columns are copies, but their ``positions`` reads the pool: use them before the
        pool changes again (a dispatch run holds its lock throughout).
        """
        n = len(self._orders)
        keep: slice | IntArray = slice(0, n)
        position_of_row: IntArray | None = None
        if skip:
            mask = np.ones(n, dtype=bool)
            mask[self.rows_of(skip)] = False
            keep = np.flatnonzero(mask)
            position_of_row = np.full(n, -1, dtype=np.int64)
            position_of_row[keep] = np.arange(keep.size)

        def positions(order_ids: Iterable[str]) -> IntArray:
            rows = _rows(self._row, order_ids)
            if position_of_row is None:
                return rows
            pos = position_of_row[rows]
            return pos[pos >= 0]

        c = self._cols
        return OrderColumns(
            ids=self._ids[:n][keep],
            lat=c["lat"][:n][keep],
            lng=c["lng"][:n][keep],
            radius=c["radius"][:n][keep],
            size=c["size"][:n][keep],
            priority=c["priority"][:n][keep],
            created_at=c["created_at"][:n][keep],
            group=c["group"][:n][keep],
            keys=tuple(self._keys),
            xyz=self._xyz[:n][keep],
            positions=positions,
        )

    def _append(self, order: DispatchOrder) -> None:
        row = len(self._orders)
        if row == self._ids.size:
            self._grow(max(64, 2 * row))
        key = (order.tenant, order.vehicle, order.skills)
        group = self._keys.setdefault(key, len(self._keys))
        self._orders.append(order)
        self._row[order.id] = row
        self._ids[row] = order.id
        c = self._cols
        c["lat"][row] = order.pickup_lat
        c["lng"][row] = order.pickup_lng
        c["radius"][row] = order.max_pickup_m
        c["created_at"][row] = order.created_at
        c["size"][row] = order.size
        c["priority"][row] = order.priority
        c["group"][row] = group
        self._xyz[row] = unit_vector(order.pickup_lat, order.pickup_lng)

    def _grow(self, capacity: int) -> None:
        n = len(self._orders)
        ids = np.empty(capacity, dtype=object)
        ids[:n] = self._ids[:n]
        self._ids = ids
        xyz = np.zeros((capacity, 3), dtype=np.float64)
        xyz[:n] = self._xyz[:n]
        self._xyz = xyz
        for name, col in self._cols.items():
            grown = np.zeros(capacity, dtype=col.dtype)
            grown[:n] = col[:n]
            self._cols[name] = grown


def _rows(row_of: dict[str, int], order_ids: Iterable[str]) -> IntArray:
    return np.fromiter((row_of[o] for o in order_ids if o in row_of), dtype=np.int64)
