"""Supply and demand per H3 cell: idle couriers against waiting orders, as GeoJSON hexagons."""

from __future__ import annotations

from typing import Annotated, Any

import h3.api.basic_int as h3i
import numpy as np
from fastapi import APIRouter, Query

from api.deps import RuntimeDep, TenantDep
from api.runtime import in_bbox, parse_bbox_query
from geo.cells import cells_of

router = APIRouter(tags=["supply"])

WAITING_LIMIT = 1000
"""The newest unassigned orders counted as demand (the same bound as a console snapshot)."""


def _counts(cells: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(cells, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _hexagon(cell: int) -> dict[str, Any]:
    ring = [[lng, lat] for lat, lng in h3i.cell_to_boundary(cell)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@router.get("/supply")
def supply(
    tenant: TenantDep,
    runtime: RuntimeDep,
    bbox: Annotated[
        str | None,
        Query(description="min_lng,min_lat,max_lng,max_lat; cells whose centre is in it"),
    ] = None,
    resolution: Annotated[int, Query(ge=5, le=10)] = 8,
) -> dict[str, Any]:
    """Cells holding at least one idle courier or waiting (``created``) order, each a GeoJSON
    hexagon with ``idle``, ``waiting`` and ``balance = idle - waiting``."""
    box = None if bbox is None else parse_bbox_query(bbox)
    idle = runtime.index.snapshot(tenant=tenant.id, status="idle")
    supply = _counts(cells_of(idle.lats, idle.lngs, resolution)) if len(idle.courier_ids) else {}
    orders = runtime.store.list_orders(tenant.id, state="created", limit=WAITING_LIMIT)
    demand = (
        _counts(
            cells_of([o.pickup_lat for o in orders], [o.pickup_lng for o in orders], resolution)
        )
        if orders
        else {}
    )
    features = []
    for cell in sorted(supply.keys() | demand.keys()):
        if box is not None:
            lat, lng = h3i.cell_to_latlng(cell)
            if not in_bbox(lat, lng, box):
                continue
        n_idle, n_waiting = supply.get(cell, 0), demand.get(cell, 0)
        features.append(
            {
                "type": "Feature",
                "id": h3i.int_to_str(cell),
                "geometry": _hexagon(cell),
                "properties": {
                    "cell": h3i.int_to_str(cell),
                    "idle": n_idle,
                    "waiting": n_waiting,
                    "balance": n_idle - n_waiting,
                },
            }
        )
    return {"type": "FeatureCollection", "resolution": resolution, "features": features}
