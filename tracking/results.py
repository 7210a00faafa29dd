"""What the live index returns: courier snapshots and columns, ping and batch outcomes."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tracking.arrays import BoolArray, FloatArray, IntArray, ObjectArray
from tracking.fences import FenceEvent
from tracking.pings import REASONS, Reason


@dataclass(frozen=True, slots=True)
class CourierState:
    """A snapshot of one courier; ``status`` is ``offline`` once the last ping is stale."""

    courier_id: Hashable
    lat: float
    lng: float
    ts: float
    cell: int
    status: str
    tenant: str | None
    vehicle: str | None
    capacity: int
    load: int
    speed: float | None
    heading: float | None
    accuracy: float | None
    skills: frozenset[str] = frozenset()
    idle_since: float | None = None

    @property
    def free_capacity(self) -> int:
        return self.capacity - self.load


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Outcome of one ping: accepted, or the reason it was rejected; fence events it caused."""

    accepted: bool
    reason: Reason | None
    events: list[FenceEvent]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Outcome of a batch, per item: ``accepted[i]``, ``codes[i]`` (0 or a `Reason` code)."""

    accepted: BoolArray
    codes: npt.NDArray[np.int8]
    events: list[FenceEvent]

    def __len__(self) -> int:
        return int(self.accepted.size)

    def reason(self, i: int) -> Reason | None:
        code = int(self.codes[i])
        return REASONS[code - 1] if code else None

    @property
    def reasons(self) -> list[Reason | None]:
        """Per item, the rejection reason or None."""
        table = np.array([None, *REASONS], dtype=object)
        return list(table[self.codes].tolist())

    @property
    def n_accepted(self) -> int:
        return int(self.accepted.sum())


class Snapshot(NamedTuple):
    """Columns of the couriers that passed a filter, row-aligned."""

    courier_ids: ObjectArray
    lats: FloatArray
    lngs: FloatArray
    cells: IntArray


class Neighbours(NamedTuple):
    """Sparse (query, courier row, metres) triples, sorted by query then distance. Rows are
    the index's: `LiveIndex.ids_of` / `LiveIndex.columns` describe them until it next changes."""

    query_idx: IntArray
    rows: IntArray
    metres: FloatArray


@dataclass(frozen=True, slots=True)
class CourierColumns:
    """Attributes of some couriers as numpy columns (``status`` is the effective one;
    ``skills`` holds frozensets, ``idle_since`` epoch seconds or NaN)."""

    ids: ObjectArray
    lat: FloatArray
    lng: FloatArray
    ts: FloatArray
    tenant: ObjectArray
    status: ObjectArray
    vehicle: ObjectArray
    capacity: IntArray
    load: IntArray
    skills: ObjectArray
    idle_since: FloatArray
    speed: FloatArray | None = None
    """Device speed (m/s) and heading (degrees) of the last ping, NaN when not reported."""
    heading: FloatArray | None = None
