"""H3 cell → courier rows map with a sorted snapshot for fast gathering of ring disks."""

from __future__ import annotations

from collections.abc import Callable

import h3.api.basic_int as h3i
import numpy as np

from tracking.arrays import IntArray

_CACHE_LIMIT = 200_000
_EMPTY = np.empty(0, dtype=np.int64)
# Moves above this many rows mark the map stale instead of updating it row by row.
_BIG_MOVE = 1024


class CellMap:
    """Which rows sit in which cell.

    Queries read per-cell row arrays. A small change (a few pings) updates per-cell sets in
    O(rows moved) and drops the arrays of the cells it touched, which the next query rebuilds
    from the sets; a large batch only marks the map stale, and the next query rebuilds every
    array at once from the index's cell column (one vectorized sort).

    Parameters
    ----------
    source
        Returns ``(rows, cells)`` of every live row, read after the cell column is updated.
    """

    def __init__(self, source: Callable[[], tuple[IntArray, IntArray]]) -> None:
        self._source = source
        # Truth per cell: its set when it has one, else its array, else empty (unless stale).
        self._sets: dict[int, set[int]] = {}
        self._arrays: dict[int, IntArray] = {}
        self._stale = False
        self.epoch = 0
        """Bumped on every membership change."""
        self._disks: dict[tuple[int, int], tuple[int, IntArray]] = {}
        self._disk_cells: dict[tuple[int, int], list[int]] = {}

    def _members(self, cell: int) -> set[int]:
        found = self._sets.get(cell)
        if found is None:
            arr = self._arrays.pop(cell, None)
            found = self._sets[cell] = set() if arr is None else set(arr.tolist())
        return found

    def move(self, rows: list[int], old: list[int], new: list[int]) -> None:
        """Move rows between cells (an old cell of -1 means the row is new)."""
        self.epoch += 1
        if self._stale or len(rows) > _BIG_MOVE:
            self._stale = True
            return
        arrays = self._arrays
        for row, o, n in zip(rows, old, new, strict=True):
            if o != -1:
                self._members(o).discard(row)
                arrays.pop(o, None)
            self._members(n).add(row)
            arrays.pop(n, None)

    def discard(self, row: int, cell: int) -> None:
        """Remove one row from its cell."""
        self.epoch += 1
        if not self._stale:
            self._members(cell).discard(row)
            self._arrays.pop(cell, None)

    def _rebuild(self) -> None:
        rows, cells = self._source()
        order = np.argsort(cells, kind="stable")
        uniq, starts = np.unique(cells[order], return_index=True)
        parts = np.split(rows[order], starts[1:])
        self._arrays = dict(zip(uniq.tolist(), parts, strict=True))
        self._sets = {}
        self._stale = False

    def disk(self, cell: int, k: int) -> IntArray:
        """Rows in ``grid_disk(cell, k)`` (cached until the next membership change)."""
        key = (cell, k)
        hit = self._disks.get(key)
        if hit is not None and hit[0] == self.epoch:
            return hit[1]
        cells = self._disk_cells.get(key)
        if cells is None:
            if len(self._disk_cells) > _CACHE_LIMIT:
                self._disk_cells.clear()
            cells = self._disk_cells[key] = h3i.grid_disk(cell, k)
        if self._stale:
            self._rebuild()
        arrays = self._arrays
        sets = self._sets
        parts = []
        for c in cells:
            found = arrays.get(c)
            if found is None:
                members = sets.get(c)
                if not members:
                    continue
                found = arrays[c] = np.fromiter(members, dtype=np.int64, count=len(members))
            parts.append(found)
        rows = np.concatenate(parts) if parts else _EMPTY
        if len(self._disks) > _CACHE_LIMIT:
            self._disks.clear()
        self._disks[key] = (self.epoch, rows)
        return rows
