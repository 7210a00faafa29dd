"""A short in-process demonstration: a synthetic Nairobi fleet, kNN, radius and fence queries."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from geo import Geofence
from tracking import LiveIndex

# A Nairobi-sized box: 28 km north-south by 44 km east-west around the CBD.
CENTRE_LAT, CENTRE_LNG = -1.2864, 36.8172
HEIGHT_M, WIDTH_M = 28_000.0, 44_000.0
_M_PER_DEG = 111_320.0


def city_points(
    n: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``n`` uniform points in the box (lat, lng degrees)."""
    lats = CENTRE_LAT + rng.uniform(-HEIGHT_M / 2, HEIGHT_M / 2, n) / _M_PER_DEG
    scale = _M_PER_DEG * np.cos(np.radians(CENTRE_LAT))
    lngs = CENTRE_LNG + rng.uniform(-WIDTH_M / 2, WIDTH_M / 2, n) / scale
    return lats, lngs


def jitter(
    lats: npt.NDArray[np.float64],
    lngs: npt.NDArray[np.float64],
    metres: float,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Move every point by a normal step of ``metres`` per axis (a courier's next fix)."""
    return (
        lats + rng.normal(0.0, metres, lats.size) / _M_PER_DEG,
        lngs + rng.normal(0.0, metres, lngs.size) / _M_PER_DEG,
    )


def square_fence(lat: float, lng: float, half_m: float) -> Geofence:
    """An axis-aligned square fence of side ``2 * half_m`` around a point."""
    dlat = half_m / _M_PER_DEG
    dlng = half_m / (_M_PER_DEG * np.cos(np.radians(lat)))
    ring = [
        [lng - dlng, lat - dlat],
        [lng + dlng, lat - dlat],
        [lng + dlng, lat + dlat],
        [lng - dlng, lat + dlat],
        [lng - dlng, lat - dlat],
    ]
    return Geofence.from_geojson({"type": "Polygon", "coordinates": [ring]})


def run_demo(couriers: int = 5000, seed: int = 7) -> None:
    """Build a synthetic fleet, move it once, and print a few queries."""
    console = Console()
    rng = np.random.default_rng(seed)
    now = time.time()
    index = LiveIndex()
    ids = [f"courier-{i:05d}" for i in range(couriers)]
    lats, lngs = city_points(couriers, rng)
    statuses = rng.choice(["idle", "busy", "offline"], couriers, p=[0.6, 0.3, 0.1]).tolist()
    vehicles = rng.choice(["bike", "car", "van"], couriers, p=[0.7, 0.2, 0.1]).tolist()
    index.upsert_many(ids, lats, lngs, now - 20, status=statuses, vehicle=vehicles)
    index.add_fence("cbd-hub", square_fence(CENTRE_LAT, CENTRE_LNG, 1500.0), kind="hub")
    index.add_fence("airport", square_fence(-1.3192, 36.9278, 2000.0), kind="restricted")
    lats, lngs = jitter(lats, lngs, 40.0, rng)
    started = time.perf_counter()
    result = index.upsert_many(ids, lats, lngs, now - 10)
    ingest_ms = (time.perf_counter() - started) * 1e3
    console.print(
        f"[bold]hexdispatch demo[/bold]: {len(index)} couriers in a 28 × 44 km box around Nairobi; "
        f"second batch of {couriers} pings applied in {ingest_ms:.1f} ms "
        f"({result.n_accepted} accepted, {len(result.events)} fence events)"
    )
    table = Table(title="queries")
    for column in ("query", "answer"):
        table.add_column(column)
    for name, lat, lng in (("CBD", CENTRE_LAT, CENTRE_LNG), ("Westlands", -1.2676, 36.8108)):
        near = index.nearest(lat, lng, k=3, status="idle")
        table.add_row(
            f"3 nearest idle couriers to {name}",
            ", ".join(f"{c} ({m:.0f} m)" for c, m in near),
        )
    within = index.within(CENTRE_LAT, CENTRE_LNG, 500.0, vehicle="bike")
    table.add_row("bikes within 500 m of the CBD", str(len(within)))
    for fence_id in ("cbd-hub", "airport"):
        inside = sum(1 for c in ids if fence_id in index.fences_of(c))
        table.add_row(f"couriers inside {fence_id}", str(inside))
    table.add_row(
        "is the CBD centre inside cbd-hub?", str(index.inside("cbd-hub", CENTRE_LAT, CENTRE_LNG))
    )
    busiest = sorted(index.count_by_cell(7).items(), key=lambda kv: -kv[1])[:3]
    table.add_row("busiest res-7 cells", ", ".join(f"{c:x}: {n}" for c, n in busiest))
    console.print(table)
    for event in result.events[:5]:
        console.print(f"  event {event.kind.value:<5} {event.fence_id} {event.courier_id}")
