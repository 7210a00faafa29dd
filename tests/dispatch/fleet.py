"""Courier fleets for dispatch tests and benchmarks: the real live index, built from records,
and an array-backed fleet with brute-force radius queries (an oracle and a benchmark peer)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from geo import great_circle_matrix
from tracking import CourierColumns, LiveIndex

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Record = dict[str, Any]


def _objects(values: list[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def columns_from_records(records: Sequence[Record]) -> CourierColumns:
    """Records with keys id, lat, lng, tenant, status, vehicle, capacity, load and optionally
    skills and idle_since, as the columns `tracking.LiveIndex.columns` returns."""
    return CourierColumns(
        ids=_objects([r["id"] for r in records]),
        lat=np.array([r["lat"] for r in records], dtype=np.float64),
        lng=np.array([r["lng"] for r in records], dtype=np.float64),
        ts=np.array([r.get("ts", math.nan) for r in records], dtype=np.float64),
        status=_objects([r["status"] for r in records]),
        tenant=_objects([r["tenant"] for r in records]),
        vehicle=_objects([r.get("vehicle") for r in records]),
        capacity=np.array([r["capacity"] for r in records], dtype=np.int64),
        load=np.array([r["load"] for r in records], dtype=np.int64),
        skills=_objects([frozenset(r.get("skills", ())) for r in records]),
        idle_since=np.array([r.get("idle_since", math.nan) for r in records], dtype=np.float64),
    )


def live_fleet(records: Sequence[Record], now: float) -> LiveIndex:
    """A real `tracking.LiveIndex` holding the records (pinged at ``now``, clock fixed)."""
    index = LiveIndex(clock=lambda: now)
    if not records:
        return index
    result = index.upsert_many(
        [r["id"] for r in records],
        [r["lat"] for r in records],
        [r["lng"] for r in records],
        now,
        **{
            name: [r.get(name) for r in records]
            for name in ("tenant", "status", "vehicle", "capacity", "load", "idle_since")
        },
        skills=[r.get("skills", ()) for r in records],
    )
    assert result.n_accepted == len(records), result.reasons
    return index


class ArrayFleet:
    """`dispatch.candidates.CandidateIndex` over fixed columns, scanning every courier."""

    def __init__(self, table: CourierColumns, chunk: int = 256) -> None:
        self.table = table
        self.chunk = chunk

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
        la = np.asarray(lats, dtype=np.float64)
        ln = np.asarray(lngs, dtype=np.float64)
        radii = np.broadcast_to(np.asarray(radius_m, dtype=np.float64), la.shape)
        allowed = np.ones(self.table.ids.size, dtype=bool)
        for name, value in (("tenant", tenant), ("vehicle", vehicle)):
            if value is not None:
                allowed &= np.asarray(getattr(self.table, name) == value, dtype=bool)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            allowed &= np.isin(self.table.status.astype(str), wanted)
        cols = np.flatnonzero(allowed)
        out_q, out_r, out_m = [], [], []
        for start in range(0, la.size, self.chunk):
            d = great_circle_matrix(
                la[start : start + self.chunk],
                ln[start : start + self.chunk],
                self.table.lat[cols],
                self.table.lng[cols],
            )
            qi, ci = np.nonzero(d <= radii[start : start + self.chunk, None])
            out_q.append(qi + start)
            out_r.append(cols[ci])
            out_m.append(d[qi, ci])
        if not out_q:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_m)

    def columns(self, rows: npt.ArrayLike) -> CourierColumns:
        r = np.asarray(rows, dtype=np.int64)
        t = self.table
        return CourierColumns(
            ids=t.ids[r],
            lat=t.lat[r],
            lng=t.lng[r],
            ts=t.ts[r],
            status=t.status[r],
            tenant=t.tenant[r],
            vehicle=t.vehicle[r],
            capacity=t.capacity[r],
            load=t.load[r],
            skills=t.skills[r],
            idle_since=t.idle_since[r],
        )


def random_records(
    rng: np.random.Generator,
    n: int,
    *,
    lat0: float = 52.35,
    lng0: float = 4.75,
    height_m: float = 28_000.0,
    width_m: float = 44_000.0,
    tenants: tuple[str, ...] = ("t1",),
    vehicles: tuple[str, ...] = ("motorbike",),
    busy_share: float = 0.0,
    capacity: int = 1,
) -> list[Record]:
    """n couriers spread uniformly over a height x width box whose south-west corner is given;
    busy ones carry one unit."""
    lat = lat0 + rng.uniform(0, height_m, n) / 111_195.0
    lng = lng0 + rng.uniform(0, width_m, n) / (111_195.0 * np.cos(np.radians(lat0)))
    busy = rng.random(n) < busy_share
    return [
        {
            "id": f"c{i}",
            "lat": float(lat[i]),
            "lng": float(lng[i]),
            "tenant": tenants[i % len(tenants)],
            "status": "busy" if busy[i] else "idle",
            "vehicle": vehicles[i % len(vehicles)],
            "capacity": capacity,
            "load": 1 if busy[i] else 0,
        }
        for i in range(n)
    ]
