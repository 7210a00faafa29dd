"""The live courier index: numpy columns, an H3 cell → couriers map, kNN and radius queries."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

import h3
import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt

from geo.cells import (
    cell_geometry,
    cells_of_valid,
    central_angle,
    check_resolution,
    disk_cover_radius_m,
    parent_cells,
    ring_for_offset,
)
from geo.coords import validate_arrays, validate_lat_lng
from geo.distance import EARTH_RADIUS_M, chord2_to_m, m_to_chord2, unit_vector, unit_vectors
from geo.geofence import Geofence
from tracking.attributes import (
    BUSY,
    IDLE,
    OFFLINE,
    REASON_TEXT,
    STATUS_CODE,
    STATUSES,
    Column,
    Interner,
    count_column,
    float_column,
    name_column,
    skills_column,
    status_column,
    time_column,
)
from tracking.errors import InvalidAttribute, InvalidPing, InvalidQuery, UnknownCourier
from tracking.fences import EventKind, FenceEngine, FenceEvent, FenceKind, Observation
from tracking.pings import (
    REASONS,
    PingRules,
    Reason,
    bad_optional_attributes,
    check_pings,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]

_NO_CELL = -1
_DEVICE = ("speed", "heading", "accuracy")
_NO_SKILLS: frozenset[str] = frozenset()
# Element budget of one distance block in `within_many` (8 bytes each).
_BLOCK = 4_000_000
# Cost model of `within_many` groups (seconds per group, per distance), measured with 2,000
# queries over 10,000 couriers; only their ratio matters.
_GROUP_S = 65e-6
_PAIR_S = 8.5e-9


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


class RowPairs(NamedTuple):
    """Sparse (query, index row, metres) triples in no particular order (`radius_pairs`)."""

    query_idx: IntArray
    rows: IntArray
    metres: FloatArray


@dataclass(frozen=True, slots=True)
class CourierColumns:
    """Attributes of some couriers, one numpy column each, row ``i`` for ``ids[i]``.

    ``status``, ``tenant`` and ``vehicle`` hold names (None for an unset tenant / vehicle),
    ``skills`` frozensets, ``idle_since`` epoch seconds or NaN.
    """

    ids: ObjectArray
    lat: FloatArray
    lng: FloatArray
    status: ObjectArray
    tenant: ObjectArray
    vehicle: ObjectArray
    capacity: IntArray
    load: IntArray
    skills: ObjectArray
    idle_since: FloatArray


class Neighbours(NamedTuple):
    """Sparse (query, courier, metres) triples, sorted by query then distance."""

    query_idx: IntArray
    courier_ids: ObjectArray
    metres: FloatArray


@dataclass(frozen=True, slots=True)
class _Filter:
    status: int | None
    vehicle: int | None
    tenant: int | None
    min_free: int | None


class LiveIndex:
    """Every courier's last accepted position and attributes, indexed by H3 cell.

    Courier state lives in numpy columns (one row per courier, rows reused after removal) with
    unit vectors for chord-distance ranking; a dict maps each H3 cell to the set of rows in it.
    A ping whose position stays inside its cell's inscribed disc skips the H3 lookup and the
    map entirely. Geofences live in ``fences`` (see `add_fence`).

    Parameters
    ----------
    resolution
        H3 resolution of the cell map and the fence covers.
    staleness_s
        A courier whose last accepted ping is older counts as ``offline``.
    max_speed_mps, max_accuracy_m, future_tolerance_s
        Ping rules (see `tracking.pings.check_pings`).
    clock
        Returns the current UTC epoch seconds.
    """

    def __init__(
        self,
        resolution: int = 9,
        staleness_s: float = 300.0,
        max_speed_mps: float = 70.0,
        max_accuracy_m: float = 100.0,
        future_tolerance_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.resolution = check_resolution(resolution)
        for name, value in (
            ("staleness_s", staleness_s),
            ("max_speed_mps", max_speed_mps),
            ("max_accuracy_m", max_accuracy_m),
            ("future_tolerance_s", future_tolerance_s),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InvalidQuery(name, value, "need a number >= 0")
        self.staleness_s = float(staleness_s)
        self.rules = PingRules(
            float(max_speed_mps), float(max_accuracy_m), float(future_tolerance_s)
        )
        self._clock = clock
        self.fences = FenceEngine(self.resolution)
        self.rejections: Counter[Reason] = Counter()
        """Rejected pings counted per reason."""
        self._tenants = Interner()
        self._vehicles = Interner()
        self._row_of: dict[Hashable, int] = {}
        self._free: list[int] = []
        self._n_rows = 0
        self._members: dict[int, set[int]] = {}
        self._epoch = 0
        self._disk_rows: dict[tuple[int, int], tuple[int, IntArray]] = {}
        self._disk_cells: dict[tuple[int, int], list[int]] = {}
        self._k_hint: dict[int, int] = {}
        self._group_disks: dict[tuple[int, float], IntArray] = {}
        self._allocate(1024)

    # ----------------------------------------------------------------- storage

    def _allocate(self, capacity: int) -> None:
        old = getattr(self, "_cap", 0)
        self._cap = capacity

        def grow(name: str, fill: Any, dtype: Any, width: int = 0) -> None:
            shape: tuple[int, ...] = (capacity, width) if width else (capacity,)
            arr = np.full(shape, fill, dtype=dtype)
            if old:
                arr[:old] = getattr(self, name)
            setattr(self, name, arr)

        grow("_ids", None, object)
        grow("_alive", False, np.bool_)
        grow("_lat", np.nan, np.float64)
        grow("_lng", np.nan, np.float64)
        grow("_xyz", np.nan, np.float64, 3)
        grow("_ts", np.nan, np.float64)
        grow("_cell", _NO_CELL, np.int64)
        grow("_centre", 0.0, np.float64, 3)
        grow("_cos_in", 2.0, np.float64)  # > 1: never "stays in its cell"
        grow("_status", IDLE, np.int8)
        grow("_tenant", 0, np.int32)
        grow("_vehicle", 0, np.int32)
        grow("_capacity", 1, np.int64)
        grow("_load", 0, np.int64)
        grow("_skills", _NO_SKILLS, object)
        grow("_idle_since", np.nan, np.float64)
        grow("_speed", np.nan, np.float64)
        grow("_heading", np.nan, np.float64)
        grow("_accuracy", np.nan, np.float64)
        self.fences.grow(capacity)

    _ids: ObjectArray
    _alive: BoolArray
    _lat: FloatArray
    _lng: FloatArray
    _xyz: FloatArray
    _ts: FloatArray
    _cell: IntArray
    _centre: FloatArray
    _cos_in: FloatArray
    _status: npt.NDArray[np.int8]
    _tenant: npt.NDArray[np.int32]
    _vehicle: npt.NDArray[np.int32]
    _capacity: IntArray
    _load: IntArray
    _skills: ObjectArray
    _idle_since: FloatArray
    _speed: FloatArray
    _heading: FloatArray
    _accuracy: FloatArray

    def _new_rows(self, ids: list[Hashable]) -> IntArray:
        count = len(ids)
        reuse = [self._free.pop() for _ in range(min(count, len(self._free)))]
        fresh = count - len(reuse)
        if self._n_rows + fresh > self._cap:
            self._allocate(max(2 * self._cap, self._n_rows + fresh))
        rows = np.array(reuse + list(range(self._n_rows, self._n_rows + fresh)), dtype=np.int64)
        self._n_rows += fresh
        for row, cid in zip(rows.tolist(), ids, strict=True):
            self._row_of[cid] = row
        self._ids[rows] = np.array([*ids, None], dtype=object)[:-1]
        self._alive[rows] = True
        self._cell[rows] = _NO_CELL
        self._cos_in[rows] = 2.0
        self._status[rows] = IDLE
        self._tenant[rows] = 0
        self._vehicle[rows] = 0
        self._capacity[rows] = 1
        self._load[rows] = 0
        self._skills[rows] = _NO_SKILLS
        self._idle_since[rows] = np.nan
        return rows

    def _move(self, rows: IntArray, old: IntArray, new: IntArray) -> None:
        members = self._members
        for row, o, n in zip(rows.tolist(), old.tolist(), new.tolist(), strict=True):
            if o != _NO_CELL:
                here = members[o]
                here.discard(row)
                if not here:
                    del members[o]
            there = members.get(n)
            if there is None:
                members[n] = {row}
            else:
                there.add(row)
        cells, inverse = np.unique(new, return_inverse=True)
        geoms = [cell_geometry(c) for c in cells.tolist()]
        self._centre[rows] = np.array([g.xyz for g in geoms])[inverse]
        self._cos_in[rows] = np.cos(np.array([g.inradius for g in geoms]))[inverse]
        self._cell[rows] = new
        self._epoch += 1

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, courier_id: object) -> bool:
        try:
            return courier_id in self._row_of
        except TypeError:
            return False

    def _row(self, courier_id: Hashable) -> int:
        try:
            return self._row_of[courier_id]
        except (KeyError, TypeError):
            raise UnknownCourier(courier_id) from None

    # ------------------------------------------------------------------ ingest

    def upsert(
        self, courier_id: Hashable, lat: float, lng: float, ts: float, **attrs: Any
    ) -> UpsertResult:
        """Apply one ping.

        Malformed input raises (after counting the rejection): `geo.InvalidCoordinate` for the
        position, `InvalidPing` for ``ts``, `InvalidAttribute` for an attribute. A ping that
        breaks a rule (future, duplicate, out of order, too fast, inaccurate) is returned as
        rejected with its reason and changes nothing.

        Parameters
        ----------
        courier_id
            Any hashable id.
        lat, lng, ts
            Degrees and UTC epoch seconds.
        **attrs
            ``speed``, ``heading``, ``accuracy`` (from the device) and ``tenant``, ``status``,
            ``vehicle``, ``capacity``, ``load``, ``skills`` (a set of strings), ``idle_since``
            (UTC epoch seconds since the courier is idle; dispatch's fairness term) (courier
            attributes).
        """
        try:
            validate_lat_lng(lat, lng)
        except ValueError:
            self.rejections[Reason.INVALID_COORDINATE] += 1
            raise
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            self.rejections[Reason.INVALID_TIMESTAMP] += 1
            raise InvalidPing("ts", ts, "need finite UTC epoch seconds")
        try:
            self._check_attrs(attrs)
        except ValueError:
            self.rejections[Reason.INVALID_ATTRIBUTE] += 1
            raise
        result = self.upsert_many(
            [courier_id], [lat], [lng], [ts], **{k: [v] for k, v in attrs.items()}
        )
        return UpsertResult(bool(result.accepted[0]), result.reason(0), result.events)

    def _check_attrs(self, attrs: Mapping[str, Any]) -> None:
        unknown = set(attrs) - set(REASON_TEXT)
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidAttribute(
                name, attrs[name], f"unknown attribute; known: {sorted(REASON_TEXT)}"
            )
        for name, value in attrs.items():
            if name in _DEVICE:
                cols = [
                    float_column(n, [value if n == name else None], 1, optional=True)
                    for n in _DEVICE
                ]
                if bad_optional_attributes(*cols)[0]:
                    raise InvalidAttribute(name, value, REASON_TEXT[name])
            # One item: a list value (skills) is that courier's, not one per item.
            elif self._columns({name: [value]}, 1)[name].bad[0]:
                raise InvalidAttribute(name, value, REASON_TEXT[name])

    def _columns(self, attrs: Mapping[str, Any], n: int) -> dict[str, Column]:
        out = {}
        for name, value in attrs.items():
            if value is None:
                continue
            if name == "status":
                out[name] = status_column(value, n)
            elif name in ("tenant", "vehicle"):
                out[name] = name_column(
                    name, value, n, self._tenants if name == "tenant" else self._vehicles
                )
            elif name == "skills":
                out[name] = skills_column(value, n)
            elif name == "idle_since":
                out[name] = time_column(name, value, n)
            else:
                out[name] = count_column(name, value, n)
        return out

    def upsert_many(
        self,
        courier_ids: Sequence[Hashable] | npt.NDArray[Any],
        lats: npt.ArrayLike,
        lngs: npt.ArrayLike,
        ts: npt.ArrayLike,
        *,
        speed: Any = None,
        heading: Any = None,
        accuracy: Any = None,
        tenant: Any = None,
        status: Any = None,
        vehicle: Any = None,
        capacity: Any = None,
        load: Any = None,
        skills: Any = None,
        idle_since: Any = None,
    ) -> BatchResult:
        """Apply a batch of pings, judging each item on its own.

        Items are applied in order: a courier appearing twice is judged the second time against
        its first ping if that was accepted. Each item is either applied entirely or rejected
        with a reason (never half-applied); rejections are counted in `rejections`.

        Parameters
        ----------
        courier_ids
            Hashable ids, one per ping.
        lats, lngs, ts
            Sequences or arrays of one length (``ts`` may be a scalar).
        speed, heading, accuracy, tenant, status, vehicle, capacity, load, idle_since
            A scalar for every item or a sequence with one value per item; None leaves the
            attribute unknown (device fields) or unchanged (courier attributes).
        skills
            One set of strings for every item, or a sequence of one iterable per item.

        Returns
        -------
        BatchResult
            Per item accepted / reason, and the fence events the batch caused.

        Raises
        ------
        InvalidPing
            When lengths do not match or an id is not hashable (nothing is applied).
        """
        ids: list[Hashable] = (
            courier_ids.tolist() if isinstance(courier_ids, np.ndarray) else list(courier_ids)
        )
        n = len(ids)
        la = float_column("lats", lats, n, optional=False)
        ln = float_column("lngs", lngs, n, optional=False)
        t = float_column("ts", ts, n, optional=False)
        device = [
            float_column(k, v, n, optional=True)
            for k, v in zip(_DEVICE, (speed, heading, accuracy), strict=True)
        ]
        cols = self._columns(
            {
                "tenant": tenant,
                "status": status,
                "vehicle": vehicle,
                "capacity": capacity,
                "load": load,
                "skills": skills,
                "idle_since": idle_since,
            },
            n,
        )
        bad = bad_optional_attributes(*device)
        for col in cols.values():
            bad |= col.bad
        get = self._row_of.get
        try:
            rows = np.array([get(c, -1) for c in ids], dtype=np.int64)
        except TypeError:
            i = next(i for i, c in enumerate(ids) if not isinstance(c, Hashable))
            raise InvalidPing(f"courier_ids[{i}]", ids[i], "not hashable") from None
        now = float(self._clock())
        codes = np.zeros(n, dtype=np.int8)
        events: list[FenceEvent] = []
        for rnd, items in enumerate(_rounds(ids, rows)):
            if rnd:
                # A courier first seen earlier in this batch has a row now.
                rows[items] = [get(ids[i], -1) for i in items.tolist()]
            c, ev = self._apply(items, ids, rows[items], la, ln, t, device, cols, bad, now)
            codes[items] = c
            events.extend(ev)
        for code, count in enumerate(np.bincount(codes, minlength=len(REASONS) + 1).tolist()):
            if code and count:
                self.rejections[REASONS[code - 1]] += count
        return BatchResult(codes == 0, codes, events)

    def _apply(
        self,
        items: IntArray,
        ids: list[Hashable],
        rows: IntArray,
        la: FloatArray,
        ln: FloatArray,
        t: FloatArray,
        device: list[FloatArray],
        cols: dict[str, Column],
        bad: BoolArray,
        now: float,
    ) -> tuple[npt.NDArray[np.int8], list[FenceEvent]]:
        known = rows >= 0
        safe = np.where(known, rows, 0)
        prev_lat = np.where(known, self._lat[safe], np.nan)
        prev_lng = np.where(known, self._lng[safe], np.nan)
        prev_ts = np.where(known, self._ts[safe], np.nan)
        lat, lng, ts = la[items], ln[items], t[items]
        codes = check_pings(
            self.rules, lat, lng, ts, device[2][items], prev_lat, prev_lng, prev_ts, now, bad[items]
        )
        ok = np.flatnonzero(codes == 0)
        if not ok.size:
            return codes, []
        it = items[ok]
        r = rows[ok]
        fresh = np.flatnonzero(r < 0)
        if fresh.size:
            r[fresh] = self._new_rows([ids[i] for i in it[fresh].tolist()])
        lat, lng, ts = lat[ok], lng[ok], ts[ok]
        xyz = unit_vectors(lat, lng)
        old_cells = self._cell[r]
        stays = np.einsum("ij,ij->i", xyz, self._centre[r]) >= self._cos_in[r]
        need = np.flatnonzero(~stays)
        new_cells = old_cells.copy()
        if need.size:
            new_cells[need] = cells_of_valid(lat[need], lng[need], self.resolution)
        self._lat[r] = lat
        self._lng[r] = lng
        self._xyz[r] = xyz
        self._ts[r] = ts
        self._speed[r] = device[0][it]
        self._heading[r] = device[1][it]
        self._accuracy[r] = device[2][it]
        for name, col in cols.items():
            sel = col.present[it]
            getattr(self, f"_{name}")[r[sel]] = col.values[it[sel]]
        moved = np.flatnonzero(new_cells != old_cells)
        if moved.size:
            self._move(r[moved], old_cells[moved], new_cells[moved])
        if not len(self.fences):
            return codes, []
        obs = Observation(
            r, lat, lng, ts, new_cells, prev_lat[ok], prev_lng[ok], old_cells, self._tenant[r]
        )
        return codes, self.fences.observe(obs, self._ids)

    # --------------------------------------------------------------- attributes

    def set_attrs(self, courier_id: Hashable, **attrs: Any) -> None:
        """Set ``status``, ``tenant``, ``vehicle``, ``capacity``, ``load``, ``skills`` or
        ``idle_since`` without a ping.

        Raises
        ------
        UnknownCourier
            When the courier has never been accepted (or was removed).
        InvalidAttribute
            Naming the first bad attribute; nothing is changed.
        """
        row = self._row(courier_id)
        for name in attrs:
            if name in _DEVICE:
                raise InvalidAttribute(name, attrs[name], "comes with a ping, not set_attrs")
        self._check_attrs(attrs)
        for name, col in self._columns({k: [v] for k, v in attrs.items()}, 1).items():
            getattr(self, f"_{name}")[row] = col.values[0]

    def get(self, courier_id: Hashable) -> CourierState:
        """A snapshot of one courier (`UnknownCourier` when absent)."""
        row = self._row(courier_id)
        stale = self._ts[row] < self._clock() - self.staleness_s

        def opt(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return CourierState(
            courier_id,
            float(self._lat[row]),
            float(self._lng[row]),
            float(self._ts[row]),
            int(self._cell[row]),
            "offline" if stale else STATUSES[int(self._status[row])],
            self._tenants.names[int(self._tenant[row])],
            self._vehicles.names[int(self._vehicle[row])],
            int(self._capacity[row]),
            int(self._load[row]),
            opt(self._speed[row]),
            opt(self._heading[row]),
            opt(self._accuracy[row]),
            self._skills[row],
            opt(self._idle_since[row]),
        )

    def remove(self, courier_id: Hashable) -> list[FenceEvent]:
        """Drop a courier; returns an ``exit`` event for every fence it was inside."""
        row = self._row(courier_id)
        now = float(self._clock())
        left = self.fences.leave_all(row)
        del self._row_of[courier_id]
        cell = int(self._cell[row])
        here = self._members[cell]
        here.discard(row)
        if not here:
            del self._members[cell]
        self._alive[row] = False
        self._ids[row] = None
        self._cell[row] = _NO_CELL
        self._cos_in[row] = 2.0
        self._ts[row] = np.nan
        self._free.append(row)
        self._epoch += 1
        return [FenceEvent(EventKind.EXIT, fid, courier_id, now) for fid in left]

    def count_by_cell(self, resolution: int, **filters: Any) -> dict[int, int]:
        """Couriers per H3 cell at ``resolution`` (coarser or equal to the index's): a supply
        heatmap. Accepts the query filters."""
        res = check_resolution(resolution)
        if res > self.resolution:
            raise InvalidQuery(
                "resolution", resolution, f"finer than the index ({self.resolution})"
            )
        rows = self._rows(self._filter(**filters), float(self._clock()))
        cells, counts = np.unique(parent_cells(self._cell[rows], res), return_counts=True)
        return dict(zip(cells.tolist(), counts.tolist(), strict=True))

    # ----------------------------------------------------------------- queries

    def _filter(
        self,
        status: str | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
    ) -> _Filter | None:
        if status is not None and status not in STATUS_CODE:
            raise InvalidQuery("status", status, f"one of {', '.join(STATUSES)}")
        for name, value in (("vehicle", vehicle), ("tenant", tenant)):
            if value is not None and not isinstance(value, str):
                raise InvalidQuery(name, value, "a string")
        if min_free_capacity is not None and (
            isinstance(min_free_capacity, bool) or not isinstance(min_free_capacity, int)
        ):
            raise InvalidQuery("min_free_capacity", min_free_capacity, "an integer")
        if status is None and vehicle is None and tenant is None and min_free_capacity is None:
            return None
        return _Filter(
            None if status is None else STATUS_CODE[status],
            None if vehicle is None else self._vehicles.lookup(vehicle),
            None if tenant is None else self._tenants.lookup(tenant),
            min_free_capacity,
        )

    def _keep(self, f: _Filter, rows: IntArray, now: float) -> BoolArray:
        keep = np.ones(rows.size, dtype=np.bool_)
        if f.status is not None:
            stale = self._ts[rows] < now - self.staleness_s
            status = self._status[rows]
            if f.status == OFFLINE:
                keep &= stale | (status == OFFLINE)
            else:
                keep &= ~stale & (status == (IDLE if f.status == IDLE else BUSY))
        if f.vehicle is not None:
            keep &= self._vehicle[rows] == f.vehicle
        if f.tenant is not None:
            keep &= self._tenant[rows] == f.tenant
        if f.min_free is not None:
            keep &= self._capacity[rows] - self._load[rows] >= f.min_free
        return keep

    def _rows(self, f: _Filter | None, now: float) -> IntArray:
        rows = np.flatnonzero(self._alive[: self._n_rows])
        return rows if f is None else rows[self._keep(f, rows, now)]

    def _disk(self, cell: int, k: int) -> IntArray:
        key = (cell, k)
        hit = self._disk_rows.get(key)
        if hit is not None and hit[0] == self._epoch:
            return hit[1]
        cells = self._disk_cells.get(key)
        if cells is None:
            if len(self._disk_cells) > 200_000:
                self._disk_cells.clear()
            cells = self._disk_cells[key] = h3i.grid_disk(cell, k)
        members = self._members
        rows = np.fromiter(chain.from_iterable(members.get(c, ()) for c in cells), dtype=np.int64)
        if len(self._disk_rows) > 200_000:
            self._disk_rows.clear()
        self._disk_rows[key] = (self._epoch, rows)
        return rows

    def _scan_limit(self) -> int:
        """Disk size (cells) above which scanning every row is cheaper than the cell map."""
        return max(61, len(self._row_of) // 4)

    def nearest(
        self,
        lat: float,
        lng: float,
        k: int = 10,
        *,
        status: str | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
    ) -> list[tuple[Hashable, float]]:
        """The exact ``k`` nearest couriers by great-circle distance, ascending.

        Rings of cells around the query's cell are searched until the k-th candidate is
        provably closer than anything outside them (`geo.cells.disk_cover_radius_m`).

        Parameters
        ----------
        lat, lng
            Query point.
        k
            How many couriers (fewer when fewer match).
        status, vehicle, min_free_capacity, tenant
            Filters; ``status`` is the effective one (stale couriers are ``offline``).

        Returns
        -------
        list of (courier_id, metres)
        """
        la, ln = validate_lat_lng(lat, lng)
        k = _check_k(k)
        f = self._filter(status, vehicle, min_free_capacity, tenant)
        if not self._row_of:
            return []
        now = self._clock() if f is not None else 0.0
        q = unit_vector(la, ln)
        qa = np.array(q)
        cell = h3i.latlng_to_cell(la, ln, self.resolution)
        offset = central_angle(q, cell_geometry(cell).xyz) * EARTH_RADIUS_M
        ring = self._k_hint.get(cell, 1)
        limit = self._scan_limit()
        while True:
            scan = 3 * ring * (ring + 1) + 1 > limit
            rows = self._rows(None, now) if scan else self._disk(cell, ring)
            if f is not None:
                rows = rows[self._keep(f, rows, now)]
            d = self._xyz[rows] - qa
            d2 = np.einsum("ij,ij->i", d, d)
            top = np.argpartition(d2, k - 1)[:k] if rows.size > k else np.arange(rows.size)
            if scan:
                break
            if rows.size >= k:
                reach = float(chord2_to_m(d2[top].max()))
                if reach <= disk_cover_radius_m(cell, ring) - offset:
                    self._remember(cell, ring)
                    break
                estimate = int(reach / (1.5 * _edge_m(self.resolution)))
                ring = (
                    limit
                    if 3 * estimate * estimate > limit
                    else ring_for_offset(cell, offset, reach)
                )
            else:
                ring = 2 * ring + 1
        order = top[np.argsort(d2[top], kind="stable")]
        metres = chord2_to_m(d2[order])
        return list(zip(self._ids[rows[order]].tolist(), metres.tolist(), strict=True))

    def _remember(self, cell: int, ring: int) -> None:
        if len(self._k_hint) > 1_000_000:
            self._k_hint.clear()
        self._k_hint[cell] = ring

    def within(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        *,
        status: str | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
    ) -> list[tuple[Hashable, float]]:
        """Every courier within ``radius_m`` metres (great-circle), ascending by distance.

        Takes the same filters as `nearest`.
        """
        la, ln = validate_lat_lng(lat, lng)
        radius = _check_radius(radius_m)
        f = self._filter(status, vehicle, min_free_capacity, tenant)
        if not self._row_of:
            return []
        now = self._clock() if f is not None else 0.0
        q = unit_vector(la, ln)
        cell = h3i.latlng_to_cell(la, ln, self.resolution)
        offset = central_angle(q, cell_geometry(cell).xyz) * EARTH_RADIUS_M
        estimate = int(radius / (1.5 * _edge_m(self.resolution))) + 1
        limit = self._scan_limit()
        if 3 * estimate * estimate > limit:
            rows = self._rows(f, now)
        else:
            ring = ring_for_offset(cell, offset, radius)
            rows = (
                self._rows(None, now)
                if 3 * ring * (ring + 1) + 1 > limit
                else self._disk(cell, ring)
            )
            if f is not None:
                rows = rows[self._keep(f, rows, now)]
        d = self._xyz[rows] - np.array(q)
        d2 = np.einsum("ij,ij->i", d, d)
        near = np.flatnonzero(d2 <= m_to_chord2(radius) * (1 + 1e-9))
        metres = chord2_to_m(d2[near])
        sel = metres <= radius
        near, metres = near[sel], metres[sel]
        order = np.argsort(metres, kind="stable")
        return list(zip(self._ids[rows[near[order]]].tolist(), metres[order].tolist(), strict=True))

    def within_many(
        self,
        lats: npt.ArrayLike,
        lngs: npt.ArrayLike,
        radius_m: float | npt.ArrayLike,
        *,
        k: int | None = None,
        status: str | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
    ) -> Neighbours:
        """Bulk radius query (candidate generation): per query point, the couriers within its
        radius, at most the ``k`` nearest when ``k`` is given.

        Queries are grouped by the H3 cell holding them at a coarser resolution (chosen by a
        cost model, see `_group_cells`); the couriers of the rings covering a group are
        gathered once and measured against every query of the group in one numpy block. Distances
        are exact great-circle metres, as in `within`.

        Parameters
        ----------
        lats, lngs
            Query points (1-d arrays of one length).
        radius_m
            One radius for all queries, or one per query.
        k
            At most this many couriers per query (the nearest), or all within the radius.
        status, vehicle, min_free_capacity, tenant
            Filters as in `nearest`.

        Returns
        -------
        Neighbours
            ``(query_idx, courier_ids, metres)`` triples sorted by query then distance;
            ``courier_ids`` is an object array.
        """
        q_idx, rows, metres = self._radius_pairs(
            lats, lngs, radius_m, k, status, vehicle, min_free_capacity, tenant
        )
        order = np.lexsort((metres, q_idx))
        return Neighbours(q_idx[order], self._ids[rows[order]], metres[order])

    def radius_pairs(
        self,
        lats: npt.ArrayLike,
        lngs: npt.ArrayLike,
        radius_m: float | npt.ArrayLike,
        *,
        k: int | None = None,
        status: str | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
    ) -> RowPairs:
        """`within_many` for bulk consumers: the same pairs, in no particular order, with index
        rows instead of courier ids, to be read with `columns` (dispatch candidate generation
        re-ranks the pairs itself, so sorting and id lookups would be wasted).

        Rows are valid until the next write to the index.
        """
        return RowPairs(
            *self._radius_pairs(lats, lngs, radius_m, k, status, vehicle, min_free_capacity, tenant)
        )

    def columns(self, rows: npt.ArrayLike) -> CourierColumns:
        """Attributes of the couriers at the given rows (from `radius_pairs`), as columns.

        ``status`` reads ``offline`` for a courier whose last ping is stale, as in `get`.

        Raises
        ------
        InvalidQuery
            When a row does not hold a courier.
        """
        r = np.asarray(rows, dtype=np.int64)
        if r.size and (r.min() < 0 or r.max() >= self._n_rows or not self._alive[r].all()):
            bad = r[(r < 0) | (r >= self._n_rows)]
            shown = int(bad[0]) if bad.size else int(r[~self._alive[r]][0])
            raise InvalidQuery("rows", shown, "not the row of a courier in the index")
        stale = self._ts[r] < float(self._clock()) - self.staleness_s
        status = np.where(stale, OFFLINE, self._status[r])
        return CourierColumns(
            ids=self._ids[r],
            lat=self._lat[r],
            lng=self._lng[r],
            status=np.array(STATUSES, dtype=object)[status],
            tenant=np.array(self._tenants.names, dtype=object)[self._tenant[r]],
            vehicle=np.array(self._vehicles.names, dtype=object)[self._vehicle[r]],
            capacity=self._capacity[r],
            load=self._load[r],
            skills=self._skills[r],
            idle_since=self._idle_since[r],
        )

    def _group_disk(self, cell: int, radius_m: float) -> IntArray:
        """Cells of the disk around ``cell`` covering ``radius_m`` from anywhere in it; cached,
        since dispatch asks for the same coarse cells and radius every batch."""
        key = (cell, radius_m)
        disk = self._group_disks.get(key)
        if disk is None:
            if len(self._group_disks) > 100_000:
                self._group_disks.clear()
            ring = ring_for_offset(
                cell, cell_geometry(cell).circumradius * EARTH_RADIUS_M, radius_m
            )
            disk = self._group_disks[key] = np.array(h3i.grid_disk(cell, ring), dtype=np.int64)
        return disk

    def _group_cells(
        self, point_cells: IntArray, query_cells: IntArray, radius_m: float
    ) -> tuple[IntArray, IntArray]:
        """Parents of the points' and queries' cells at the resolution that groups the queries
        for `_radius_pairs` most cheaply.

        Each group costs a fixed overhead plus one distance per (query, point in the group's
        disk): about ``_GROUP_S * groups + _PAIR_S * queries * points per cell * disk cells``.
        Coarse groups pay off for many queries, fine ones for few. Resolutions whose cell
        edge is within a factor 4 of the radius are compared.
        """
        best: tuple[float, IntArray, IntArray] | None = None
        for res in range(self.resolution, -1, -1):
            edge = _edge_m(res)
            if edge < radius_m / 4.0 and res > 0:
                continue
            if edge > radius_m * 4.0 and best is not None:
                break
            q = parent_cells(query_cells, res)
            p = parent_cells(point_cells, res)
            groups = np.unique(q)
            per_cell = p.size / max(1, np.unique(p).size)
            disk = self._group_disk(int(groups[0]), radius_m).size
            cost = _GROUP_S * groups.size + _PAIR_S * q.size * per_cell * disk
            if best is None or cost < best[0]:
                best = (cost, p, q)
        assert best is not None
        return best[1], best[2]

    def _radius_pairs(
        self,
        lats: npt.ArrayLike,
        lngs: npt.ArrayLike,
        radius_m: float | npt.ArrayLike,
        k: int | None,
        status: str | None,
        vehicle: str | None,
        min_free_capacity: int | None,
        tenant: str | None,
    ) -> tuple[IntArray, IntArray, FloatArray]:
        la, ln = validate_arrays(lats, lngs)
        radii = _check_radii(radius_m, la.size)
        top_k = None if k is None else _check_k(k)
        f = self._filter(status, vehicle, min_free_capacity, tenant)
        rows = self._rows(f, float(self._clock()))
        if not la.size or not rows.size:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        queries = unit_vectors(la, ln)
        points = self._xyz[rows]
        point_cells, query_cells = self._group_cells(
            self._cell[rows], cells_of_valid(la, ln, self.resolution), float(radii.max())
        )
        by_cell = np.argsort(point_cells, kind="stable")
        cells, starts, counts = np.unique(
            point_cells[by_cell], return_index=True, return_counts=True
        )
        q_order = np.argsort(query_cells, kind="stable")
        groups, g_starts, g_counts = np.unique(
            query_cells[q_order], return_index=True, return_counts=True
        )
        slack = (2.0 * np.sin(radii / (2.0 * EARTH_RADIUS_M))) ** 2 * (1 + 1e-9) + 1e-18
        out_q: list[IntArray] = []
        out_p: list[IntArray] = []
        for g, start, count in zip(
            groups.tolist(), g_starts.tolist(), g_counts.tolist(), strict=True
        ):
            qi = q_order[start : start + count]
            geom = cell_geometry(g)
            disk = self._group_disk(g, float(radii[qi].max()))
            pos = np.minimum(np.searchsorted(cells, disk), cells.size - 1)
            pos = pos[cells[pos] == disk]
            if not pos.size:
                continue
            cand = np.concatenate(
                [
                    by_cell[s : s + c]
                    for s, c in zip(starts[pos].tolist(), counts[pos].tolist(), strict=True)
                ]
            )
            # Centre on the group's cell so that the dot-product form keeps its precision.
            centre = np.array(geom.xyz)
            pc = points[cand] - centre
            pn = np.einsum("ij,ij->i", pc, pc)
            step = max(1, _BLOCK // cand.size)
            for b in range(0, qi.size, step):
                qb = qi[b : b + step]
                qc = queries[qb] - centre
                # d2 = |q|^2 + |p|^2 - 2 q.p, built in place: one block-sized temporary, not four.
                d2 = qc @ pc.T
                d2 *= -2.0
                d2 += pn
                d2 += np.einsum("ij,ij->i", qc, qc)[:, None]
                inside = d2 <= slack[qb, None]
                if top_k is not None and cand.size > top_k:
                    d2 = np.where(inside, d2, np.inf)
                    pick = np.argpartition(d2, top_k - 1, axis=1)[:, :top_k]
                    keep = np.isfinite(np.take_along_axis(d2, pick, axis=1))
                    out_q.append(np.repeat(qb, top_k)[keep.ravel()])
                    out_p.append(cand[pick[keep]])
                else:
                    qq, pp = np.nonzero(inside)
                    out_q.append(qb[qq])
                    out_p.append(cand[pp])
        if not out_q:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        q_idx = np.concatenate(out_q)
        p_idx = np.concatenate(out_p)
        d = points[p_idx] - queries[q_idx]
        metres = chord2_to_m(np.einsum("ij,ij->i", d, d))
        sel = metres <= radii[q_idx]
        return q_idx[sel], rows[p_idx[sel]], metres[sel]

    # ------------------------------------------------------------------ fences

    def add_fence(
        self,
        fence_id: Hashable,
        fence: Geofence | Mapping[str, Any],
        *,
        kind: FenceKind | str = FenceKind.SERVICE_ZONE,
        tenant: str | None = None,
        dwell_s: float = 300.0,
    ) -> list[FenceEvent]:
        """Register a fence (a `geo.Geofence` or GeoJSON) for every courier, or only for one
        tenant's; couriers already inside get an ``enter`` event now."""
        if not isinstance(fence, Geofence):
            fence = Geofence.from_geojson(fence, self.resolution)
        if tenant is not None and not isinstance(tenant, str):
            raise InvalidAttribute("tenant", tenant, "a string")
        code = 0 if tenant is None else self._tenants.code(tenant)
        state = self.fences.add(fence_id, fence, kind, code, dwell_s)
        now = float(self._clock())
        rows = self._rows(None, now)
        inside = state.geofence.covers_cells(self._cell[rows], self._lat[rows], self._lng[rows])
        if code:
            inside &= self._tenant[rows] == code
        entered = self.fences.enter_existing(state, rows, inside, now)
        return [FenceEvent(EventKind.ENTER, fence_id, c, now) for c in self._ids[entered].tolist()]

    def remove_fence(self, fence_id: Hashable) -> list[FenceEvent]:
        """Unregister a fence; every courier inside gets a final ``exit`` event now."""
        _, rows = self.fences.remove(fence_id)
        now = float(self._clock())
        return [FenceEvent(EventKind.EXIT, fence_id, c, now) for c in self._ids[rows].tolist()]

    def inside(self, fence_id: Hashable, lat: float, lng: float) -> bool:
        """Whether a registered fence covers a point (boundary included)."""
        return self.fences.get(fence_id).geofence.covers(lat, lng)

    def fences_of(self, courier_id: Hashable) -> list[Hashable]:
        """The fences a courier is currently inside."""
        return self.fences.fences_of(self._row(courier_id))


def _rounds(ids: list[Hashable], rows: IntArray) -> list[IntArray]:
    """Split a batch so that no courier appears twice in one round, keeping item order."""
    n = len(ids)
    known = rows >= 0
    fresh = [ids[i] for i in np.flatnonzero(~known).tolist()]
    distinct_known = np.unique(rows[known]).size == int(known.sum())
    if distinct_known and len(set(fresh)) == len(fresh):
        return [np.arange(n)]
    keys = rows.copy()
    codes: dict[Hashable, int] = {}
    for i in np.flatnonzero(~known).tolist():
        keys[i] = -1 - codes.setdefault(ids[i], len(codes))
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    occurrence = np.empty(n, dtype=np.int64)
    occurrence[order] = np.arange(n) - group_start
    return [np.flatnonzero(occurrence == r) for r in range(int(occurrence.max()) + 1)]


def _edge_m(resolution: int) -> float:
    return float(h3.average_hexagon_edge_length(resolution, "m"))


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidQuery("k", k, "need an integer >= 1")
    return int(k)


def _check_radius(radius_m: Any) -> float:
    if isinstance(radius_m, bool) or not isinstance(
        radius_m, (int, float, np.integer, np.floating)
    ):
        raise InvalidQuery("radius_m", radius_m, "not a number")
    if not math.isfinite(radius_m) or radius_m < 0:
        raise InvalidQuery("radius_m", radius_m, "need a finite number >= 0")
    return float(radius_m)


def _check_radii(radius_m: Any, n: int) -> FloatArray:
    if np.ndim(radius_m) == 0:
        return np.full(n, _check_radius(radius_m))
    radii = np.asarray(radius_m, dtype=np.float64)
    if radii.shape != (n,):
        raise InvalidQuery("radius_m", f"shape {radii.shape}", f"need a scalar or {n} radii")
    bad = np.flatnonzero(~(np.isfinite(radii) & (radii >= 0)))
    if bad.size:
        i = int(bad[0])
        raise InvalidQuery(f"radius_m[{i}]", float(radii[i]), "need a finite number >= 0")
    return radii
