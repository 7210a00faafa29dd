"""The live courier index: numpy columns, an H3 cell → couriers map, kNN and radius queries."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
from geo.distance import (
    EARTH_RADIUS_M,
    chord2_to_m,
    chord2_to_m_scalar,
    m_to_chord2,
    unit_vector,
    unit_vectors,
)
from geo.geofence import Geofence
from tracking.arrays import BoolArray, FloatArray, IntArray, ObjectArray
from tracking.attributes import (
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
from tracking.bulk_query import candidate_pairs, edge_m
from tracking.cell_map import CellMap
from tracking.errors import InvalidAttribute, InvalidPing, InvalidQuery, UnknownCourier
from tracking.fences import EventKind, FenceEngine, FenceEvent, FenceKind, Observation
from tracking.pings import (
    REASONS,
    Ping,
    PingRules,
    Reason,
    bad_optional_attributes,
    batch_rounds,
    check_ping,
    check_pings,
    courier_chains,
)
from tracking.results import (
    BatchResult,
    CourierColumns,
    CourierState,
    Neighbours,
    Snapshot,
    UpsertResult,
)

_NO_CELL = -1
_DEVICE = ("speed", "heading", "accuracy")
_NO_SKILLS: frozenset[str] = frozenset()
_ONES3 = np.ones(3)


@dataclass(frozen=True, slots=True)
class _Filter:
    status: tuple[int, ...] | None
    vehicle: int | None
    tenant: int | None
    min_free: int | None


@dataclass(frozen=True, slots=True)
class _Pings:
    """A checked `LiveIndex.upsert_many` batch: one entry per item in every column."""

    ids: list[Hashable]
    lat: FloatArray
    lng: FloatArray
    ts: FloatArray
    device: list[FloatArray]
    cols: dict[str, Column]
    bad: BoolArray
    now: float


class LiveIndex:
    """Every courier's last accepted position and attributes, indexed by H3 cell.

    Courier state lives in numpy columns (one row per courier, rows reused after removal) with
    unit vectors for chord-distance ranking; a dict maps each H3 cell to the set of rows in it.
    A ping whose position stays inside its cell's inscribed disc skips the H3 lookup and the
    map entirely. Geofences live in ``fences`` (see `add_fence`). Not thread-safe: use one
    index from one thread or event loop.

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
        self._cells = CellMap(self._live_cells)
        self._k_hint: dict[int, int] = {}
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
        # A courier appears idle (the default status): idle from now, for dispatch's fairness.
        self._idle_since[rows] = self._clock()
        return rows

    def _write(self, name: str, rows: IntArray, values: npt.NDArray[Any], idle_given: bool) -> None:
        """Write one attribute column; a status change also moves ``idle_since`` (set when a
        courier becomes idle, cleared when it stops being idle) unless the caller gave it."""
        if name == "status" and not idle_given and rows.size:
            became = (values == IDLE) & (self._status[rows] != IDLE)
            self._idle_since[rows[became]] = self._clock()
            self._idle_since[rows[values != IDLE]] = np.nan
        getattr(self, f"_{name}")[rows] = values

    def _live_cells(self) -> tuple[IntArray, IntArray]:
        rows = np.flatnonzero(
            self._alive[: self._n_rows] & (self._cell[: self._n_rows] != _NO_CELL)
        )
        return rows, self._cell[rows]

    def _move(self, rows: IntArray, old: IntArray, new: IntArray) -> None:
        self._cell[rows] = new
        self._cells.move(rows.tolist(), old.tolist(), new.tolist())
        cells, inverse = np.unique(new, return_inverse=True)
        geoms = [cell_geometry(c) for c in cells.tolist()]
        self._centre[rows] = np.array([g.xyz for g in geoms])[inverse]
        self._cos_in[rows] = np.cos(np.array([g.inradius for g in geoms]))[inverse]

    @property
    def row_span(self) -> int:
        """Every row this index has used (held or freed) is below this."""
        return self._n_rows

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
            ``vehicle``, ``capacity``, ``load``, ``skills`` (a set of strings) and
            ``idle_since`` (UTC epoch seconds since the courier is idle, dispatch's fairness
            term) (courier attributes).
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
        try:
            row = self._row_of.get(courier_id)
        except TypeError:
            raise InvalidPing("courier_id", courier_id, "not hashable") from None
        lat, lng, ts = float(lat), float(lng), float(ts)
        known = row is not None
        prev_lat = float(self._lat[row]) if known else None
        prev_lng = float(self._lng[row]) if known else math.nan
        prev_ts = float(self._ts[row]) if known else math.nan
        accuracy = attrs.get("accuracy")
        reason = check_ping(
            self.rules, lat, lng, ts, accuracy, prev_lat, prev_lng, prev_ts, float(self._clock())
        )
        if reason is not None:
            self.rejections[reason] += 1
            return UpsertResult(False, reason, [])
        if row is None:
            row = int(self._new_rows([courier_id])[0])
        old_cell = int(self._cell[row])
        xyz = unit_vector(lat, lng)
        cx, cy, cz = self._centre[row].tolist()
        cell = old_cell
        if xyz[0] * cx + xyz[1] * cy + xyz[2] * cz < self._cos_in[row]:
            cell = h3i.latlng_to_cell(lat, lng, self.resolution)
        self._lat[row] = lat
        self._lng[row] = lng
        self._xyz[row] = xyz
        self._ts[row] = ts
        for name in _DEVICE:
            value = attrs.get(name)
            getattr(self, f"_{name}")[row] = math.nan if value is None else float(value)
        if len(attrs) > sum(1 for name in _DEVICE if name in attrs):
            courier = {k: v for k, v in attrs.items() if k not in _DEVICE}
            cols = self._one(courier)
            for name, col in cols.items():
                self._write(name, np.array([row]), col.values[:1], "idle_since" in cols)
        rows = np.array([row])
        if cell != old_cell:
            self._move(rows, np.array([old_cell]), np.array([cell]))
        if not len(self.fences):
            return UpsertResult(True, None, [])
        obs = Observation(
            rows,
            np.array([lat]),
            np.array([lng]),
            np.array([ts]),
            np.array([cell]),
            np.array([math.nan if prev_lat is None else prev_lat]),
            np.array([prev_lng]),
            np.array([old_cell]),
            self._tenant[rows],
        )
        return UpsertResult(True, None, self.fences.observe(obs, self._ids))

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
            elif self._one({name: value})[name].bad[0]:
                raise InvalidAttribute(name, value, REASON_TEXT[name])

    def _one(self, attrs: Mapping[str, Any]) -> dict[str, Column]:
        """`_columns` for one courier: a list value (skills) is that courier's, not one per
        item."""
        return self._columns({k: [v] for k, v in attrs.items()}, 1)

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
        b = _Pings(ids, la, ln, t, device, cols, bad, now)
        order, starts = courier_chains(ids, rows)
        rest = np.arange(n)
        if starts.size < n:
            # Several pings of one courier: judged in one pass along each courier's chain;
            # only chains with a rejected ping take one round per ping below.
            rest, ev = self._apply_chains(order, starts, rows, b)
            events.extend(ev)
        sub_ids = [ids[i] for i in rest.tolist()]
        for rnd, part in enumerate(batch_rounds(sub_ids, rows[rest])):
            items = rest[part]
            if rnd:
                # A courier first seen earlier in this batch has a row now.
                rows[items] = [get(ids[i], -1) for i in items.tolist()]
            c, ev = self._apply(items, rows[items], b)
            codes[items] = c
            events.extend(ev)
        for code, count in enumerate(np.bincount(codes, minlength=len(REASONS) + 1).tolist()):
            if code and count:
                self.rejections[REASONS[code - 1]] += count
        return BatchResult(codes == 0, codes, events)

    def ingest(self, pings: Sequence[Ping]) -> BatchResult:
        """`upsert_many` for `Ping` records (the device fields travel with each ping)."""
        return self.upsert_many(
            [p.courier_id for p in pings],
            [p.lat for p in pings],
            [p.lng for p in pings],
            [p.ts for p in pings],
            speed=[p.speed for p in pings],
            heading=[p.heading for p in pings],
            accuracy=[p.accuracy for p in pings],
        )

    def _apply(
        self, items: IntArray, rows: IntArray, b: _Pings
    ) -> tuple[npt.NDArray[np.int8], list[FenceEvent]]:
        known = rows >= 0
        safe = np.where(known, rows, 0)
        prev_lat = np.where(known, self._lat[safe], np.nan)
        prev_lng = np.where(known, self._lng[safe], np.nan)
        prev_ts = np.where(known, self._ts[safe], np.nan)
        lat, lng, ts = b.lat[items], b.lng[items], b.ts[items]
        codes = check_pings(
            self.rules, lat, lng, ts, b.device[2][items], prev_lat, prev_lng, prev_ts, b.now,
            b.bad[items],
        )  # fmt: skip
        ok = np.flatnonzero(codes == 0)
        if not ok.size:
            return codes, []
        it = items[ok]
        r = rows[ok]
        fresh = np.flatnonzero(r < 0)
        if fresh.size:
            r[fresh] = self._new_rows([b.ids[i] for i in it[fresh].tolist()])
        lat, lng, ts = lat[ok], lng[ok], ts[ok]
        old_cells = self._cell[r]
        new_cells = self._place(it, r, b)
        for name, col in b.cols.items():
            sel = col.present[it]
            self._write(name, r[sel], col.values[it[sel]], "idle_since" in b.cols)
        if not len(self.fences):
            return codes, []
        obs = Observation(
            r, lat, lng, ts, new_cells, prev_lat[ok], prev_lng[ok], old_cells, self._tenant[r]
        )
        return codes, self.fences.observe(obs, self._ids)

    def _place(self, it: IntArray, r: IntArray, b: _Pings) -> IntArray:
        """Move rows ``r`` (distinct) to the accepted pings ``it``; returns their new cells."""
        lat, lng = b.lat[it], b.lng[it]
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
        self._ts[r] = b.ts[it]
        self._speed[r] = b.device[0][it]
        self._heading[r] = b.device[1][it]
        self._accuracy[r] = b.device[2][it]
        moved = np.flatnonzero(new_cells != old_cells)
        if moved.size:
            self._move(r[moved], old_cells[moved], new_cells[moved])
        return new_cells

    def _apply_chains(
        self, order: IntArray, starts: IntArray, rows: IntArray, b: _Pings
    ) -> tuple[IntArray, list[FenceEvent]]:
        """Judge every courier's pings in one pass, each against the ping before it in the
        batch (or the stored one), and apply the chains where every ping passes.

        When all of a courier's pings pass, each was judged against the ping that would have
        been its predecessor had they been applied one by one, so the outcome is the same as
        one round per ping; the courier ends at its last ping. Fence events are those of every
        ping of the chain, in order.

        Returns
        -------
        rest, events
            The items of chains with a rejected ping, in batch order, for the round-by-round
            path (nothing of those couriers is applied here); the fence events of the others.
        """
        n = order.size
        lengths = np.diff(np.r_[starts, n])
        chain = np.repeat(np.arange(starts.size), lengths)
        first = np.zeros(n, dtype=np.bool_)
        first[starts] = True
        later = np.flatnonzero(~first)
        r = rows[order]
        known = r >= 0
        safe = np.where(known, r, 0)
        lat, lng, ts = b.lat[order], b.lng[order], b.ts[order]
        prev = [np.where(known, a[safe], np.nan) for a in (self._lat, self._lng, self._ts)]
        for p, a in zip(prev, (lat, lng, ts), strict=True):
            p[later] = a[later - 1]
        codes = check_pings(
            self.rules, lat, lng, ts, b.device[2][order], prev[0], prev[1], prev[2], b.now,
            b.bad[order],
        )  # fmt: skip
        failed = np.add.reduceat((codes != 0).astype(np.int64), starts) > 0
        tenant = b.cols.get("tenant")
        if len(self.fences) and tenant is not None:
            # fences see one tenant per courier and chain; a tenant set mid-chain goes by rounds
            failed |= (np.add.reduceat(tenant.present[order].astype(np.int64), starts) > 0) & (
                lengths > 1
            )
        good = np.flatnonzero(~failed)
        if not good.size:
            return np.arange(n), []
        ends = starts[good] + lengths[good] - 1
        it = order[ends]
        chain_rows = np.full(starts.size, -1, dtype=np.int64)
        rr = r[starts[good]]
        fresh = np.flatnonzero(rr < 0)
        if fresh.size:
            rr[fresh] = self._new_rows([b.ids[i] for i in it[fresh].tolist()])
        chain_rows[good] = rr
        old_cells = self._cell[rr]
        self._place(it, rr, b)
        in_good = ~failed[chain]
        for name, col in b.cols.items():
            pos = np.flatnonzero(col.present[order] & in_good)
            if pos.size:
                # the last value a chain sets wins, as it would ping by ping
                ch = chain[pos]
                pos = pos[np.r_[ch[1:] != ch[:-1], True]]
                self._write(
                    name, chain_rows[chain[pos]], col.values[order[pos]], "idle_since" in b.cols
                )
        events: list[FenceEvent] = []
        if len(self.fences):
            events = self._chain_fence_events(
                np.flatnonzero(in_good), chain, starts, chain_rows, old_cells, good,
                lat, lng, ts, prev,
            )  # fmt: skip
        return np.sort(order[~in_good]), events

    def _chain_fence_events(
        self,
        pos: IntArray,
        chain: IntArray,
        starts: IntArray,
        chain_rows: IntArray,
        old_cells: IntArray,
        good: IntArray,
        lat: FloatArray,
        lng: FloatArray,
        ts: FloatArray,
        prev: list[FloatArray],
    ) -> list[FenceEvent]:
        """Fence events of accepted chains (positions ``pos`` of the courier-sorted batch),
        observed one ping per courier at a time: every intermediate position counts."""
        cell = np.full(lat.size, _NO_CELL, dtype=np.int64)
        cell[pos] = cells_of_valid(lat[pos], lng[pos], self.resolution)
        prev_cell = np.full(lat.size, _NO_CELL, dtype=np.int64)
        chain_old = np.full(starts.size, _NO_CELL, dtype=np.int64)
        chain_old[good] = old_cells
        is_first = pos == starts[chain[pos]]
        prev_cell[pos] = np.where(is_first, chain_old[chain[pos]], cell[np.maximum(pos - 1, 0)])
        occurrence = pos - starts[chain[pos]]
        events: list[FenceEvent] = []
        for k in range(int(occurrence.max()) + 1):
            p = pos[occurrence == k]
            r = chain_rows[chain[p]]
            obs = Observation(
                r, lat[p], lng[p], ts[p], cell[p], prev[0][p], prev[1][p], prev_cell[p],
                self._tenant[r],
            )  # fmt: skip
            events.extend(self.fences.observe(obs, self._ids))
        return events

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
        cols = self._one(attrs)
        for name, col in cols.items():
            self._write(name, np.array([row]), col.values[:1], "idle_since" in cols)

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
        self._cells.discard(row, int(self._cell[row]))
        self._alive[row] = False
        self._ids[row] = None
        self._cell[row] = _NO_CELL
        self._cos_in[row] = 2.0
        self._ts[row] = np.nan
        self._free.append(row)
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
        status: str | tuple[str, ...] | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
    ) -> _Filter | None:
        wanted = (status,) if isinstance(status, str) else status
        if wanted is not None and (
            not isinstance(wanted, tuple) or not wanted or any(s not in STATUS_CODE for s in wanted)
        ):
            raise InvalidQuery("status", status, f"one or a tuple of {', '.join(STATUSES)}")
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
            None if wanted is None else tuple(STATUS_CODE[s] for s in wanted),
            None if vehicle is None else self._vehicles.lookup(vehicle),
            None if tenant is None else self._tenants.lookup(tenant),
            min_free_capacity,
        )

    def _keep(self, f: _Filter, rows: IntArray, now: float) -> BoolArray:
        keep = np.ones(rows.size, dtype=np.bool_)
        if f.status is not None:
            # The effective status: a stale courier counts as offline.
            allowed = np.zeros(len(STATUSES), dtype=np.bool_)
            allowed[list(f.status)] = True
            stale = self._ts[rows] < now - self.staleness_s
            keep &= allowed[np.where(stale, OFFLINE, self._status[rows])]
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

    def _scan_limit(self) -> int:
        """Disk size (cells) above which scanning every row is cheaper than the cell map."""
        return max(61, len(self._row_of) // 4)

    def nearest(
        self,
        lat: float,
        lng: float,
        k: int = 10,
        *,
        status: str | tuple[str, ...] | None = None,
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
            Filters; ``status`` (one, or a tuple of those allowed) is the effective one
            (stale couriers are ``offline``).

        Returns
        -------
        list of (courier_id, metres)
        """
        q, cell, offset = self._locate(lat, lng)
        if type(k) is not int or k < 1:
            k = _check_k(k)
        no_filter = (
            status is None and vehicle is None and min_free_capacity is None and tenant is None
        )
        f = None if no_filter else self._filter(status, vehicle, min_free_capacity, tenant)
        if not self._row_of:
            return []
        now = self._clock() if f is not None else 0.0
        qa = np.array(q)
        ring = self._k_hint.get(cell, 1)
        limit = self._scan_limit()
        while True:
            scan = 3 * ring * (ring + 1) + 1 > limit
            rows = self._rows(None, now) if scan else self._cells.disk(cell, ring)
            if f is not None:
                rows = rows[self._keep(f, rows, now)]
            d = self._xyz.take(rows, axis=0)
            d -= qa
            d2 = np.square(d, out=d) @ _ONES3
            n = rows.size
            if n > 4 * k:
                top = np.argpartition(d2, k - 1)[:k]
                top = top.take(np.argsort(d2.take(top), kind="stable"))
            else:
                top = np.argsort(d2, kind="stable")[:k]
            kth = float(d2[top[-1]]) if n else 0.0  # top is sorted: its last is the k-th
            if scan:
                break
            if n >= k:
                cover = disk_cover_radius_m(cell, ring) - offset
                if cover > 0.0 and kth <= m_to_chord2(cover):
                    if ring != 1:
                        self._remember(cell, ring)
                    break
                reach = chord2_to_m_scalar(kth)
                estimate = int(reach / (1.5 * edge_m(self.resolution)))
                ring = (
                    limit
                    if 3 * estimate * estimate > limit
                    else ring_for_offset(cell, offset, reach)
                )
            else:
                ring = 2 * ring + 1
        # ``top`` is already in ascending order of distance.
        ids = self._ids.take(rows.take(top)).tolist()
        metres = np.arcsin(np.sqrt(d2.take(top)) * 0.5) * (2.0 * EARTH_RADIUS_M)
        return list(zip(ids, metres.tolist(), strict=True))

    def _locate(self, lat: float, lng: float) -> tuple[tuple[float, float, float], int, float]:
        """Validated query point: unit vector, cell, metres from the cell's centre."""
        # Plain in-range floats skip the full validation (NaN fails the comparisons).
        if (
            type(lat) is float
            and type(lng) is float
            and -90.0 <= lat <= 90.0
            and -180.0 <= lng <= 180.0
        ):
            la, ln = lat, lng
        else:
            la, ln = validate_lat_lng(lat, lng)
        q = unit_vector(la, ln)
        cell = h3i.latlng_to_cell(la, ln, self.resolution)
        return q, cell, central_angle(q, cell_geometry(cell).xyz) * EARTH_RADIUS_M

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
        status: str | tuple[str, ...] | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
    ) -> list[tuple[Hashable, float]]:
        """Every courier within ``radius_m`` metres (great-circle), ascending by distance.

        Takes the same filters as `nearest`.
        """
        q, cell, offset = self._locate(lat, lng)
        radius = _check_radius(radius_m)
        f = self._filter(status, vehicle, min_free_capacity, tenant)
        if not self._row_of:
            return []
        now = self._clock() if f is not None else 0.0
        estimate = int(radius / (1.5 * edge_m(self.resolution))) + 1
        limit = self._scan_limit()
        if 3 * estimate * estimate > limit:
            rows = self._rows(f, now)
        else:
            ring = ring_for_offset(cell, offset, radius)
            rows = (
                self._rows(None, now)
                if 3 * ring * (ring + 1) + 1 > limit
                else self._cells.disk(cell, ring)
            )
            if f is not None:
                rows = rows[self._keep(f, rows, now)]
        d = self._xyz.take(rows, axis=0)
        d -= np.array(q)
        d2 = np.square(d, out=d) @ _ONES3
        near = np.flatnonzero(d2 <= m_to_chord2(radius) * (1 + 1e-9))
        values = d2.take(near)
        order = np.argsort(values, kind="stable")
        metres = chord2_to_m(values.take(order))
        cut = int(np.searchsorted(metres, radius, side="right"))
        ids = self._ids.take(rows.take(near.take(order[:cut]))).tolist()
        return list(zip(ids, metres[:cut].tolist(), strict=True))

    def within_many(
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
    ) -> Neighbours:
        """Bulk radius query (candidate generation): per query point, the couriers within its
        radius, at most the ``k`` nearest when ``k`` is given.

        Queries and couriers are joined over a grid of cubes in unit-vector space
        (`tracking.bulk_query.candidate_pairs`): vectorized, no Python pass per query or per
        cell. Distances are exact great-circle metres, as in `within`.

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
            ``(query_idx, rows, metres)`` triples sorted by query then distance; `ids_of` and
            `columns` turn rows into courier ids and attributes.
        """
        pairs = self.radius_pairs(
            lats,
            lngs,
            radius_m,
            k=k,
            status=status,
            vehicle=vehicle,
            min_free_capacity=min_free_capacity,
            tenant=tenant,
        )
        order = np.lexsort((pairs.metres, pairs.query_idx))
        return Neighbours(pairs.query_idx[order], pairs.rows[order], pairs.metres[order])

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
        reserved: Mapping[Any, int] | None = None,
    ) -> Neighbours:
        """`within_many` in no particular order: for bulk consumers that rank the pairs
        themselves (dispatch candidate generation sorts by cost), sorting them by distance
        would be wasted. ``xyz``: the query points' unit vectors (`geo.distance.unit_vectors`),
        when the caller keeps them (a standing pool of queries), so they are not computed
        again. ``reserved``: units couriers hold outside the index (dispatch's outstanding
        offers), taken off their free capacity for ``min_free_capacity``."""
        la, ln = validate_arrays(lats, lngs)
        radii = _check_radii(radius_m, la.size)
        top_k = None if k is None else _check_k(k)
        f = self._filter(status, vehicle, min_free_capacity, tenant)
        rows = self._rows(f, float(self._clock()))
        if reserved and f is not None and f.min_free is not None:
            rows = self._without_room(rows, reserved, f.min_free)
        if not la.size or not rows.size:
            return Neighbours(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
        queries = unit_vectors(la, ln) if xyz is None else np.asarray(xyz, dtype=np.float64)
        if queries.shape != (la.size, 3):
            raise InvalidQuery(
                "xyz", queries.shape, f"need one unit vector per query, ({la.size}, 3)"
            )
        points = self._xyz.take(rows, axis=0)
        everyone = np.arange(la.size)
        slack = _chord2_slack(radii)
        first = slack
        if top_k is not None:
            # Most queries find their k nearest well inside a generous radius: try a smaller
            # one first (sized by the fleet's bounding box), then redo with the full radius
            # only the queries that came up short.
            lat_span = float(np.ptp(self._lat.take(rows))) * 111_320.0
            mid_lat = math.radians(float(self._lat.take(rows).mean()))
            lng_span = float(np.ptp(self._lng.take(rows))) * 111_320.0 * math.cos(mid_lat)
            area = max(lat_span * lng_span, 1.0)
            guess = 1.4 * math.sqrt(top_k * area / (math.pi * rows.size))
            first = np.minimum(slack, _chord2_slack(np.minimum(radii, guess)))
        q_idx, p_idx, d2 = candidate_pairs(queries, everyone, first, top_k, points)
        if top_k is not None:
            found = np.bincount(q_idx, minlength=la.size)
            redo = np.flatnonzero((found < top_k) & (first < slack))
            if redo.size:
                keep = ~np.isin(q_idx, redo)
                q2, p2, d2_2 = candidate_pairs(queries, redo, slack, top_k, points)
                q_idx = np.concatenate([q_idx[keep], q2])
                p_idx = np.concatenate([p_idx[keep], p2])
                d2 = np.concatenate([d2[keep], d2_2])
        metres = chord2_to_m(d2)
        sel = metres <= radii.take(q_idx)
        return Neighbours(q_idx[sel], rows.take(p_idx[sel]), metres[sel])

    def _without_room(self, rows: IntArray, reserved: Mapping[Any, int], min_free: int) -> IntArray:
        """``rows`` less the couriers whose reserved units leave less than ``min_free``."""
        held = [(self._row_of[c], units) for c, units in reserved.items() if c in self._row_of]
        if not held:
            return rows
        at = np.array([r for r, _ in held], dtype=np.int64)
        units = np.array([u for _, u in held], dtype=np.int64)
        full = np.zeros(self._n_rows, dtype=np.bool_)
        full[at] = self._capacity[at] - self._load[at] - units < min_free
        return rows[~full[rows]]

    def ids_of(self, rows: npt.ArrayLike) -> ObjectArray:
        """Courier ids of index rows (as returned by `within_many`)."""
        return np.asarray(self._ids.take(np.asarray(rows, dtype=np.int64)), dtype=object)

    def rows_of(self, courier_ids: Sequence[Hashable]) -> IntArray:
        """Index rows of couriers (for `columns`).

        Raises
        ------
        UnknownCourier
            Naming the first courier not in the index.
        """
        try:
            return np.array([self._row_of[c] for c in courier_ids], dtype=np.int64)
        except KeyError as exc:
            raise UnknownCourier(exc.args[0]) from None

    def columns(self, rows: npt.ArrayLike) -> CourierColumns:
        """Attributes of index rows as numpy columns (for dispatch's candidate table).

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
        stale = self._ts.take(r) < self._clock() - self.staleness_s
        status = np.where(stale, OFFLINE, self._status.take(r))
        return CourierColumns(
            ids=self.ids_of(r),
            lat=self._lat.take(r),
            lng=self._lng.take(r),
            ts=self._ts.take(r),
            tenant=np.array(self._tenants.names, dtype=object).take(self._tenant.take(r)),
            status=np.array(STATUSES, dtype=object).take(status),
            vehicle=np.array(self._vehicles.names, dtype=object).take(self._vehicle.take(r)),
            capacity=self._capacity.take(r),
            load=self._load.take(r),
            skills=self._skills.take(r),
            idle_since=self._idle_since.take(r),
            speed=self._speed.take(r),
            heading=self._heading.take(r),
        )

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

    def has_fence(self, fence_id: Hashable) -> bool:
        return fence_id in self.fences

    def snapshot(self, **filters: Any) -> Snapshot:
        """Every courier that passes the query filters, with its position and cell (consoles,
        bbox listings)."""
        rows = self._rows(self._filter(**filters), float(self._clock()))
        return Snapshot(
            self._ids[rows], self._lat[rows].copy(), self._lng[rows].copy(), self._cell[rows]
        )


def _check_k(k: Any) -> int:
    if type(k) is int and k >= 1:
        return k
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


def _chord2_slack(radii: FloatArray) -> FloatArray:
    """Squared chords of great-circle radii, a hair wide: pairs on the edge are kept here and
    decided by the exact metres."""
    half_angle = np.minimum(radii / EARTH_RADIUS_M, math.pi) / 2.0
    return np.square(2.0 * np.sin(half_angle)) * (1 + 1e-9) + 1e-18


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
