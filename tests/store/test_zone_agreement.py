"""PostGIS ST_Covers, the memory store, the tracking fence engine and shapely agree on every point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from store.errors import OutsideServiceZone
from store.memory import MemoryStore
from store.postgis import PostgisStore
from tests.store.conftest import new_order
from tracking import LiveIndex

pytestmark = pytest.mark.postgis

RNG_SEED = 20261123
INSIDE = (10.1, 10.1)  # a drop-off covered by the holed square


def _ring(points: np.ndarray) -> list[list[float]]:
    ring = points.tolist()
    return [*ring, ring[0]]


def _fences(rng: np.random.Generator) -> list[dict[str, Any]]:
    """A square with a hole, a multipolygon of irregular parts, a concave star."""
    holed = {
        "type": "Polygon",
        "coordinates": [
            _ring(np.array([[10, 10], [11, 10], [11, 11], [10, 11]], float)),
            _ring(np.array([[10.25, 10.25], [10.25, 10.75], [10.75, 10.75], [10.75, 10.25]])),
        ],
    }

    def blob(cx: float, cy: float, n: int, rmin: float, rmax: float) -> np.ndarray:
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(rmin, rmax, n)
        return np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])

    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [_ring(blob(20.0, 20.0, 9, 0.2, 0.3))],
            [_ring(blob(21.0, 20.5, 7, 0.1, 0.4))],
        ],
    }
    k = 12
    angles = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.uniform(0, 0.05)
    # Small enough for a resolution-9 H3 cover in the memory store (interior cells accept fast).
    radii = np.where(np.arange(2 * k) % 2 == 0, 0.02, 0.008) * rng.uniform(0.9, 1.1, 2 * k)
    star = {
        "type": "Polygon",
        "coordinates": [
            _ring(np.column_stack([30 + radii * np.cos(angles), -30 + radii * np.sin(angles)]))
        ],
    }
    return [holed, multi, star]


def _rings(geom: Polygon | MultiPolygon) -> list[np.ndarray]:
    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    return [np.asarray(r.coords) for p in polys for r in (p.exterior, *p.interiors)]


def _points(rng: np.random.Generator, geoms: list[Polygon | MultiPolygon]) -> np.ndarray:
    """(lng, lat) rows: uniform in each bbox, on vertices, on edges, near vertices, in holes."""
    out = []
    for g in geoms:
        x0, y0, x1, y1 = g.bounds
        pad = 0.1 * max(x1 - x0, y1 - y0)
        out.append(rng.uniform([x0 - pad, y0 - pad], [x1 + pad, y1 + pad], (1000, 2)))
        for ring in _rings(g):
            a, b = ring[:-1], ring[1:]
            out.append(a)  # exact vertices
            t = rng.uniform(0, 1, (len(a), 15, 1))
            out.append((a[:, None, :] + t * (b - a)[:, None, :]).reshape(-1, 2))  # on edges
            out.append(((a[:, None, :] + b[:, None, :]) / 2).reshape(-1, 2))  # midpoints
            jitter = rng.choice([-1, 1], (len(a), 8, 2)) * 10.0 ** rng.uniform(
                -12, -5, (len(a), 8, 1)
            )
            out.append((a[:, None, :] + jitter).reshape(-1, 2))  # near vertices
    out.append(rng.uniform(10.25, 10.75, (300, 2)))  # in the hole
    return np.concatenate(out)


Zones = tuple[MemoryStore, LiveIndex, list[Polygon | MultiPolygon]]


@pytest.fixture
def zones(pg_store: PostgisStore) -> Zones:
    memory = MemoryStore()
    fences = _fences(np.random.default_rng(RNG_SEED))
    # The tracking geofence engine (resolution 7 keeps the 1-degree fences' covers small).
    engine = LiveIndex(resolution=7)
    for i, f in enumerate(fences):
        engine.add_fence(f"z{i}", f, tenant="acme")
    for s in (pg_store, memory):
        s.create_tenant("Acme", tenant_id="acme")
        for i, f in enumerate(fences):
            s.create_geofence("acme", "service_zone", f, fence_id=f"z{i}")
        s.create_geofence(
            "acme",
            "restricted",
            {
                "type": "Polygon",
                "coordinates": [_ring(np.array([[9.0, 9.0], [12.0, 9.0], [12.0, 12.0]]))],
            },
        )
    return memory, engine, [shape(f) for f in fences]


def test_postgis_memory_engine_and_shapely_agree_on_every_point(
    pg_store: PostgisStore, zones: Zones
) -> None:
    memory, engine, geoms = zones
    pts = _points(np.random.default_rng(RNG_SEED + 1), geoms)
    assert len(pts) > 4000
    lngs, lats = pts[:, 0], pts[:, 1]
    shapely_says = np.zeros(len(pts), dtype=bool)
    for g in geoms:
        shapely_says |= shapely.covers(g, shapely.points(lngs, lats))
    postgis_says = pg_store.in_service_zone("acme", lats, lngs)
    memory_says = memory.in_service_zone("acme", lats, lngs)
    engine_says = np.array(
        [
            any(engine.inside(f"z{i}", la, ln) for i in range(len(geoms)))
            for la, ln in zip(lats, lngs, strict=True)
        ]
    )
    # Both answers occur in quantity, so agreement is not trivial.
    assert 1000 < shapely_says.sum() < len(pts) - 1000
    disagree = np.flatnonzero(
        (postgis_says != shapely_says)
        | (memory_says != shapely_says)
        | (engine_says != shapely_says)
    )
    assert disagree.size == 0, [
        (lats[i], lngs[i], postgis_says[i], shapely_says[i]) for i in disagree[:10]
    ]


def test_order_creation_on_both_stores_follows_the_same_predicate(
    pg_store: PostgisStore, zones: Zones
) -> None:
    memory, _, geoms = zones
    rng = np.random.default_rng(RNG_SEED + 2)
    pts = _points(rng, geoms)
    sample = pts[rng.choice(len(pts), 120, replace=False)]
    for lng, lat in sample:
        expected = any(g.covers(shapely.Point(lng, lat)) for g in geoms)
        for s in (pg_store, memory):
            order = new_order("acme", (lat, lng), INSIDE)
            if expected:
                assert s.create_order(order)[1]
            else:
                with pytest.raises(OutsideServiceZone) as info:
                    s.create_order(order)
                assert info.value.points == ("pickup",)
