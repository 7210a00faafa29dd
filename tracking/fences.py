"""Geofence engine: fences indexed by H3 cell, and enter / exit / cross / dwell events."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import shapely

from geo.geofence import Geofence
from tracking.arrays import BoolArray, FloatArray, IntArray
from tracking.errors import DuplicateFence, InvalidAttribute, UnknownFence


class FenceKind(StrEnum):
    """What a fence means to the business."""

    SERVICE_ZONE = "service_zone"
    RESTRICTED = "restricted"
    HUB = "hub"


class EventKind(StrEnum):
    """Fence events: ``cross`` means entered and left between two pings (by their segment);
    ``dwell`` fires once per visit after ``dwell_s`` seconds inside."""

    ENTER = "enter"
    EXIT = "exit"
    CROSS = "cross"
    DWELL = "dwell"


@dataclass(frozen=True, slots=True)
class FenceEvent:
    """One fence event for one courier at ``ts`` (UTC epoch seconds)."""

    kind: EventKind
    fence_id: Hashable
    courier_id: Hashable
    ts: float


@dataclass(slots=True)
class FenceState:
    """A registered fence and which courier rows are inside it."""

    fence_id: Hashable
    geofence: Geofence
    kind: FenceKind
    tenant_code: int
    """0 for a fence that applies to every courier, else the tenant's interned code."""
    dwell_s: float
    inside: BoolArray
    since: FloatArray
    dwelled: BoolArray
    bounds: tuple[float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        self.bounds = self.geofence.geometry.bounds


@dataclass(frozen=True, slots=True)
class Observation:
    """Accepted pings handed to `FenceEngine.observe`, one entry per courier row (rows are
    distinct). ``prev_*`` are NaN / -1 for a courier seen for the first time."""

    rows: IntArray
    lats: FloatArray
    lngs: FloatArray
    ts: FloatArray
    cells: IntArray
    prev_lats: FloatArray
    prev_lngs: FloatArray
    prev_cells: IntArray
    tenant_codes: npt.NDArray[np.int32]


class FenceEngine:
    """Fences indexed by H3 cell at one resolution, with per-fence membership of courier rows.

    A ping is tested only against the fences whose cover holds its cell (interior cells accept
    without geometry) and the fences its courier was inside. Courier rows are the owner's
    (`LiveIndex`) row numbers; ``ids`` maps them back to courier ids for events.
    """

    def __init__(self, resolution: int, capacity: int = 0) -> None:
        self.resolution = resolution
        self._capacity = capacity
        self._fences: dict[Hashable, FenceState] = {}
        self._order: list[FenceState] = []
        empty = np.empty(0, dtype=np.int64)
        self._cover_cells = empty
        self._cover_fence = empty
        self._cover_edge = np.empty(0, dtype=np.bool_)
        self._bounds = np.empty((0, 4))
        self._inside_count = np.zeros(capacity, dtype=np.int32)
        """Per courier row, how many fences it is inside (lets small batches skip fences)."""

    def __len__(self) -> int:
        return len(self._fences)

    def __contains__(self, fence_id: object) -> bool:
        return fence_id in self._fences

    def get(self, fence_id: Hashable) -> FenceState:
        """The state of one fence; `UnknownFence` when absent."""
        try:
            return self._fences[fence_id]
        except (KeyError, TypeError):
            raise UnknownFence(fence_id) from None

    def fence_ids(self) -> list[Hashable]:
        """Registered fence ids, in registration order."""
        return [f.fence_id for f in self._order]

    def grow(self, capacity: int) -> None:
        """Make room for courier rows below ``capacity``."""
        extra = capacity - self._capacity
        if extra <= 0:
            return
        for f in self._order:
            f.inside = np.concatenate([f.inside, np.zeros(extra, dtype=np.bool_)])
            f.since = np.concatenate([f.since, np.full(extra, np.nan)])
            f.dwelled = np.concatenate([f.dwelled, np.zeros(extra, dtype=np.bool_)])
        self._inside_count = np.concatenate([self._inside_count, np.zeros(extra, dtype=np.int32)])
        self._capacity = capacity

    def add(
        self,
        fence_id: Hashable,
        geofence: Geofence,
        kind: FenceKind | str,
        tenant_code: int,
        dwell_s: float,
    ) -> FenceState:
        """Register a fence (its cover is rebuilt at the engine's resolution when needed)."""
        try:
            known = fence_id in self._fences
        except TypeError:
            raise InvalidAttribute("fence_id", fence_id, "not hashable") from None
        if known:
            raise DuplicateFence("fence_id", fence_id, "already registered")
        if not isinstance(geofence, Geofence):
            raise InvalidAttribute("fence", geofence, "need a geo.Geofence")
        try:
            fence_kind = FenceKind(kind)
        except ValueError:
            raise InvalidAttribute("kind", kind, f"one of {[k.value for k in FenceKind]}") from None
        if isinstance(dwell_s, bool) or not isinstance(dwell_s, (int, float)):
            raise InvalidAttribute("dwell_s", dwell_s, "not a number")
        if not math.isfinite(dwell_s) or dwell_s <= 0.0:
            raise InvalidAttribute("dwell_s", dwell_s, "need a finite number > 0")
        if geofence.resolution != self.resolution:
            geofence = Geofence(geofence.geometry, self.resolution)
        n = self._capacity
        state = FenceState(
            fence_id,
            geofence,
            fence_kind,
            tenant_code,
            float(dwell_s),
            np.zeros(n, dtype=np.bool_),
            np.full(n, np.nan),
            np.zeros(n, dtype=np.bool_),
        )
        self._fences[fence_id] = state
        self._order.append(state)
        self._rebuild_cover()
        return state

    def remove(self, fence_id: Hashable) -> tuple[FenceState, IntArray]:
        """Unregister a fence; returns it and the rows that were inside (for final exits)."""
        state = self.get(fence_id)
        del self._fences[fence_id]
        self._order.remove(state)
        self._rebuild_cover()
        inside = np.flatnonzero(state.inside)
        self._inside_count[inside] -= 1
        return state, inside

    def _rebuild_cover(self) -> None:
        cells, fences, edge = [], [], []
        for slot, f in enumerate(self._order):
            for arr, is_edge in (
                (f.geofence.interior_cells, False),
                (f.geofence.boundary_cells, True),
            ):
                cells.append(arr)
                fences.append(np.full(arr.size, slot, dtype=np.int64))
                edge.append(np.full(arr.size, is_edge))
        all_cells = np.concatenate(cells) if cells else np.empty(0, dtype=np.int64)
        order = np.argsort(all_cells, kind="stable")
        self._cover_cells = all_cells[order]
        self._cover_fence = np.concatenate(fences)[order] if cells else all_cells
        self._cover_edge = np.concatenate(edge)[order] if cells else all_cells.astype(np.bool_)
        self._bounds = np.array([f.bounds for f in self._order]).reshape(-1, 4)

    def _hits(self, cells: IntArray) -> tuple[IntArray, IntArray, BoolArray]:
        """(ping index, fence slot, is boundary cell) for every cover entry matching a cell."""
        cover = self._cover_cells
        if not cover.size:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.bool_)
        lo = np.searchsorted(cover, cells, side="left")
        # Most pings lie in no cover cell; find the right end only for those that do.
        touched = np.flatnonzero(cover.take(np.minimum(lo, cover.size - 1)) == cells)
        counts = np.zeros(cells.size, dtype=np.int64)
        counts[touched] = np.searchsorted(cover, cells[touched], side="right") - lo[touched]
        ping = np.repeat(np.arange(cells.size), counts)
        # Positions lo[i], lo[i]+1, ..., hi[i]-1 for every ping, without a Python loop.
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        entry = starts + np.arange(ping.size)
        return ping, self._cover_fence[entry], self._cover_edge[entry]

    def members_of(self, cells: IntArray, lats: FloatArray, lngs: FloatArray) -> list[BoolArray]:
        """Per fence (registration order), which of the points it covers."""
        hits = self._hits(cells)
        slots = range(len(self._order))
        return [inside for inside, _ in self._classify(hits, slots, lats, lngs)]

    def _classify(
        self,
        hits: tuple[IntArray, IntArray, BoolArray],
        slots: Iterable[int],
        lats: FloatArray,
        lngs: FloatArray,
    ) -> list[tuple[BoolArray, IntArray]]:
        """Per fence slot: which points it covers, which points lie in its boundary cells."""
        ping, slot, edge = hits
        out = []
        for s in slots:
            f = self._order[s]
            mask = np.zeros(lats.size, dtype=np.bool_)
            mine = slot == s
            inner = ping[mine & ~edge]
            mask[inner] = True
            on_edge = ping[mine & edge]
            if on_edge.size:
                mask[on_edge] = shapely.intersects_xy(
                    f.geofence.geometry, lngs[on_edge], lats[on_edge]
                )
            out.append((mask, on_edge))
        return out

    def observe(self, obs: Observation, ids: npt.NDArray[np.object_]) -> list[FenceEvent]:
        """Update memberships with accepted pings and return the events they cause.

        Events are grouped by fence (registration order), in ping order within a fence.
        A segment that wraps across the antimeridian is not tested for ``cross``.
        """
        if not self._order:
            return []
        hits = self._hits(obs.cells)
        has_prev = ~np.isnan(obs.prev_lats)
        with np.errstate(invalid="ignore"):
            seg_minx = np.fmin(obs.prev_lngs, obs.lngs)
            seg_maxx = np.fmax(obs.prev_lngs, obs.lngs)
            seg_miny = np.fmin(obs.prev_lats, obs.lats)
            seg_maxy = np.fmax(obs.prev_lats, obs.lats)
            may_cross = has_prev & (seg_maxx - seg_minx <= 180.0)
            # A segment within one cell meets a fence only if that cell is a boundary cell.
            moved = obs.prev_cells != obs.cells
        events: list[FenceEvent] = []
        rows = obs.rows
        bounds = (seg_minx, seg_miny, seg_maxx, seg_maxy)
        slots = self._relevant(rows, hits[1], may_cross, bounds)
        members = self._classify(hits, slots, obs.lats, obs.lngs)
        for s, (now_in, on_edge) in zip(slots, members, strict=True):
            f = self._order[s]
            if f.tenant_code:
                now_in &= obs.tenant_codes == f.tenant_code
            was_in = f.inside[rows]
            enter = np.flatnonzero(now_in & ~was_in)
            leave = np.flatnonzero(was_in & ~now_in)
            stay = np.flatnonzero(now_in & was_in)
            minx, miny, maxx, maxy = f.bounds
            near = moved.copy()
            near[on_edge] = True
            candidates = np.flatnonzero(
                may_cross
                & near
                & ~was_in
                & ~now_in
                & (seg_maxx >= minx)
                & (seg_minx <= maxx)
                & (seg_maxy >= miny)
                & (seg_miny <= maxy)
            )
            if f.tenant_code and candidates.size:
                candidates = candidates[obs.tenant_codes[candidates] == f.tenant_code]
            if candidates.size:
                coords = np.stack(
                    [
                        np.column_stack([obs.prev_lngs[candidates], obs.prev_lats[candidates]]),
                        np.column_stack([obs.lngs[candidates], obs.lats[candidates]]),
                    ],
                    axis=1,
                )
                crossed = shapely.intersects(shapely.linestrings(coords), f.geofence.geometry)
                events.extend(_events(EventKind.CROSS, f, candidates[crossed], obs, ids))
            if enter.size:
                r = rows[enter]
                self._inside_count[r] += 1
                f.inside[r] = True
                f.since[r] = obs.ts[enter]
                f.dwelled[r] = False
                events.extend(_events(EventKind.ENTER, f, enter, obs, ids))
            if leave.size:
                f.inside[rows[leave]] = False
                self._inside_count[rows[leave]] -= 1
                events.extend(_events(EventKind.EXIT, f, leave, obs, ids))
            if stay.size:
                r = rows[stay]
                due = stay[~f.dwelled[r] & (obs.ts[stay] - f.since[r] >= f.dwell_s)]
                if due.size:
                    f.dwelled[rows[due]] = True
                    events.extend(_events(EventKind.DWELL, f, due, obs, ids))
        return events

    def _relevant(
        self,
        rows: IntArray,
        hit_slots: IntArray,
        may_cross: BoolArray,
        bounds: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    ) -> list[int]:
        """Fence slots a batch can affect. A large batch touches them all anyway; for a
        small one (a single ping), skip fences whose cover, members and box it misses."""
        if rows.size > 64:
            return list(range(len(self._order)))
        slots = set(hit_slots.tolist())
        for r in rows[self._inside_count[rows] > 0].tolist():
            slots.update(s for s, f in enumerate(self._order) if f.inside[r])
        moving = np.flatnonzero(may_cross)
        if moving.size:
            minx, miny, maxx, maxy = (b[moving, None] for b in bounds)
            box = self._bounds
            meets = (
                (maxx >= box[:, 0])
                & (minx <= box[:, 2])
                & (maxy >= box[:, 1])
                & (miny <= box[:, 3])
            )
            slots.update(np.flatnonzero(meets.any(axis=0)).tolist())
        return sorted(slots)

    def enter_existing(
        self, state: FenceState, rows: IntArray, inside: BoolArray, now: float
    ) -> IntArray:
        """Mark ``rows[inside]`` inside a newly added fence from ``now``; returns those rows."""
        r = rows[inside]
        self._inside_count[r] += 1
        state.inside[r] = True
        state.since[r] = now
        state.dwelled[r] = False
        return r

    def leave_all(self, row: int) -> list[Hashable]:
        """Forget a courier row (removed from the index); returns the fences it was inside."""
        left = []
        for f in self._order:
            if f.inside[row]:
                left.append(f.fence_id)
            f.inside[row] = False
            f.dwelled[row] = False
            f.since[row] = np.nan
        self._inside_count[row] = 0
        return left

    def fences_of(self, row: int) -> list[Hashable]:
        """Fences a courier row is inside."""
        return [f.fence_id for f in self._order if f.inside[row]]


def _events(
    kind: EventKind,
    f: FenceState,
    idx: IntArray,
    obs: Observation,
    ids: npt.NDArray[np.object_],
) -> list[FenceEvent]:
    couriers = ids[obs.rows[idx]].tolist()
    times = obs.ts[idx].tolist()
    return [FenceEvent(kind, f.fence_id, c, t) for c, t in zip(couriers, times, strict=True)]
