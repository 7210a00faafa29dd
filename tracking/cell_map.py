"""H3 cell → courier rows map with a sorted snapshot for fast gathering of ring disks."""

from __future__ import annotations

from collections.abc import Callable

import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

_CACHE_LIMIT = 200_000
_EMPTY = np.empty(0, dtype=np.int64)


class CellMap:
    """Which rows sit in which cell.

    The truth is a dict of per-cell sets, updated in O(rows moved). Queries read per-cell
    row arrays, rebuilt lazily from the sets for the cells changed since they were last read;
    after a large batch has touched most cells, all arrays are rebuilt at once, vectorized.

    Parameters
    ----------
    source
        Returns ``(rows, cells)`` of every live row, for the vectorized rebuild.
    """

    def __init__(self, source: Callable[[], tuple[IntArray, IntArray]]) -> None:
        self._source = source
        self._sets: dict[int, set[int]] = {}
        self._arrays: dict[int, IntArray] = {}
        self.epoch = 0
        """Bumped on every membership change."""
        self._disks: dict[tuple[int, int], tuple[int, IntArray]] = {}
        self._disk_cells: dict[tuple[int, int], list[int]] = {}

    def move(self, rows: list[int], old: list[int], new: list[int]) -> None:
        """Move rows between cells (an old cell of -1 means the row is new)."""
        sets = self._sets
        arrays = self._arrays
        for row, o, n in zip(rows, old, new, strict=True):
            if o != -1:
                here = sets[o]
                here.discard(row)
                if not here:
                    del sets[o]
                arrays.pop(o, None)
            there = sets.get(n)
            if there is None:
                sets[n] = {row}
            else:
                there.add(row)
            arrays.pop(n, None)
        self.epoch += 1

    def discard(self, row: int, cell: int) -> None:
        """Remove one row from its cell."""
        here = self._sets[cell]
        here.discard(row)
        if not here:
            del self._sets[cell]
        self._arrays.pop(cell, None)
        self.epoch += 1

    def _rebuild(self) -> None:
        rows, cells = self._source()
        order = np.argsort(cells, kind="stable")
        uniq, starts = np.unique(cells[order], return_index=True)
        parts = np.split(rows[order], starts[1:])
        self._arrays = dict(zip(uniq.tolist(), parts, strict=True))

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
        arrays = self._arrays
        sets = self._sets
        if 2 * len(arrays) < len(sets):
            self._rebuild()
            arrays = self._arrays
        parts = []
        for c in cells:
            found = arrays.get(c)
            if found is None:
                members = sets.get(c)
                if members is None:
                    continue
                found = arrays[c] = np.fromiter(members, dtype=np.int64, count=len(members))
            parts.append(found)
        rows = np.concatenate(parts) if parts else _EMPTY
        if len(self._disks) > _CACHE_LIMIT:
            self._disks.clear()
        self._disks[key] = (self.epoch, rows)
        return rows
