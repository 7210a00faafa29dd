"""An array-backed courier fleet with brute-force radius queries: a fixture and a benchmark peer."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dispatch.model import CourierTable
from geo import great_circle_matrix

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class ArrayFleet:
    """`dispatch.candidates.CandidateIndex` over a `CourierTable`, scanning every courier."""

    def __init__(self, table: CourierTable, chunk: int = 256) -> None:
        self.table = table
        self.chunk = chunk

    def within_many(
        self,
        lats: FloatArray,
        lngs: FloatArray,
        radius_m: float,
        *,
        k: int | None = None,
        **filters: Any,
    ) -> tuple[IntArray, IntArray, FloatArray]:
        allowed = np.ones(len(self.table), dtype=bool)
        for name in ("tenant", "vehicle"):
            if name in filters:
                allowed &= np.asarray(getattr(self.table, name) == filters[name], dtype=bool)
        cols = np.flatnonzero(allowed)
        out_q, out_r, out_m = [], [], []
        for start in range(0, len(lats), self.chunk):
            d = great_circle_matrix(
                lats[start : start + self.chunk],
                lngs[start : start + self.chunk],
                self.table.lat[cols],
                self.table.lng[cols],
            )
            qi, ci = np.nonzero(d <= radius_m)
            by = np.lexsort((d[qi, ci], qi))  # nearest first within each query
            out_q.append(qi[by] + start)
            out_r.append(cols[ci[by]])
            out_m.append(d[qi, ci][by])
        if not out_q:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_m)

    def courier_table(self, rows: IntArray) -> CourierTable:
        return self.table.take(rows)


def random_fleet(
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
) -> CourierTable:
    """n couriers spread uniformly over a height x width box whose south-west corner is given."""
    lat = lat0 + rng.uniform(0, height_m, n) / 111_195.0
    lng = lng0 + rng.uniform(0, width_m, n) / (111_195.0 * np.cos(np.radians(lat0)))
    busy = rng.random(n) < busy_share
    return CourierTable.from_records(
        [
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
    )
