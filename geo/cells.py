"""H3 helpers: cells of points, parent cells, guaranteed ring covers and polygon covers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import h3
import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from geo.coords import validate_arrays, validate_lat_lng
from geo.distance import EARTH_RADIUS_M, unit_vector
from geo.errors import InvalidParameter

CellArray = npt.NDArray[np.int64]

MAX_RESOLUTION = 15
_RES_SHIFT = 52
_RES_MASK = 15 << _RES_SHIFT


def check_resolution(resolution: Any, field: str = "resolution") -> int:
    """Return ``resolution`` as an int in [0, 15] or raise `InvalidParameter`."""
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise InvalidParameter(field, resolution, "not an integer")
    if not 0 <= int(resolution) <= MAX_RESOLUTION:
        raise InvalidParameter(field, resolution, f"outside [0, {MAX_RESOLUTION}]")
    return int(resolution)


def cell_of(lat: float, lng: float, resolution: int) -> int:
    """The H3 cell (64-bit integer) holding one point, after validating it."""
    la, ln = validate_lat_lng(lat, lng)
    return int(h3i.latlng_to_cell(la, ln, check_resolution(resolution)))


def cells_of(lats: npt.ArrayLike, lngs: npt.ArrayLike, resolution: int) -> CellArray:
    """H3 cells of many points as an int64 array (validated; h3 has no array entry point)."""
    la, ln = validate_arrays(lats, lngs)
    return cells_of_valid(la, ln, check_resolution(resolution))


def cells_of_valid(
    lats: npt.NDArray[np.float64], lngs: npt.NDArray[np.float64], resolution: int
) -> CellArray:
    """`cells_of` without validation, for hot paths whose input is already checked."""
    to_cell = h3i.latlng_to_cell
    return np.fromiter(
        (to_cell(a, b, resolution) for a, b in zip(lats.tolist(), lngs.tolist(), strict=True)),
        dtype=np.int64,
        count=len(lats),
    )


def resolution_of(cells: CellArray) -> npt.NDArray[np.int64]:
    """Resolution of each cell, read from the index bits."""
    return np.asarray((cells >> _RES_SHIFT) & 15, dtype=np.int64)


def parent_cells(cells: npt.ArrayLike, resolution: int) -> CellArray:
    """Vectorized `h3.cell_to_parent`: rewrite the resolution field and blank finer digits.

    Raises
    ------
    InvalidParameter
        When ``resolution`` is finer than some cell's own resolution.
    """
    res = check_resolution(resolution)
    arr = np.asarray(cells, dtype=np.int64)
    if arr.size and int(resolution_of(arr).min()) < res:
        raise InvalidParameter("resolution", resolution, "finer than the cells' resolution")
    unused_digits = (1 << (3 * (MAX_RESOLUTION - res))) - 1
    cleared = arr & np.int64(~_RES_MASK)
    return np.asarray(cleared | np.int64((res << _RES_SHIFT) | unused_digits), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class CellGeometry:
    """Centre and radii of one cell on the unit sphere (radii as angles in radians)."""

    lat: float
    lng: float
    xyz: tuple[float, float, float]
    circumradius: float
    """Largest angle from the centre to the cell boundary (slightly inflated)."""
    inradius: float
    """Smallest angle from the centre to the great circle of any edge (slightly deflated):
    every point closer than this to the centre lies in the cell."""


def central_angle(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    cx = a[1] * b[2] - a[2] * b[1]
    cy = a[2] * b[0] - a[0] * b[2]
    cz = a[0] * b[1] - a[1] * b[0]
    return math.atan2(
        math.sqrt(cx * cx + cy * cy + cz * cz), a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    )


@lru_cache(maxsize=1 << 17)
def cell_geometry(cell: int) -> CellGeometry:
    """Centre, circumradius and inradius of a cell (cached).

    H3 cell edges are great-circle arcs (straight lines in the gnomonic projection of an
    icosahedron face), so the distance from the centre to each edge's great circle bounds the
    inscribed disc from below.
    """
    lat, lng = h3i.cell_to_latlng(cell)
    c = unit_vector(lat, lng)
    verts = [unit_vector(a, b) for a, b in h3i.cell_to_boundary(cell)]
    circum = max(central_angle(c, v) for v in verts)
    inner = math.pi
    for i, a in enumerate(verts):
        b = verts[(i + 1) % len(verts)]
        n = (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])
        norm = math.sqrt(n[0] ** 2 + n[1] ** 2 + n[2] ** 2)
        if norm > 0.0:
            inner = min(
                inner, math.asin(min(1.0, abs(c[0] * n[0] + c[1] * n[1] + c[2] * n[2]) / norm))
            )
    # Margins absorb rounding in h3 and here (1e-9 rad is 6 mm).
    return CellGeometry(
        lat, lng, c, circum * (1 + 1e-9) + 1e-9, max(0.0, inner * (1 - 1e-9) - 1e-9)
    )


@lru_cache(maxsize=1 << 16)
def disk_cover_radius_m(cell: int, k: int) -> float:
    """Radius around the centre of ``cell`` that ``grid_disk(cell, k)`` is guaranteed to cover.

    Every point closer than ``disk_cover_radius_m(cell, k) - d`` to a point at distance ``d``
    from the centre lies in a cell of the disk: a path leaving the disk must enter a cell at
    grid distance exactly ``k + 1``, and no point of such a cell is nearer the centre than its
    own centre's distance minus its circumradius.
    """
    if k < 0:
        raise InvalidParameter("k", k, "negative")
    centre = cell_geometry(cell).xyz
    outer = set(h3i.grid_disk(cell, k + 1)).difference(h3i.grid_disk(cell, k))
    best = math.pi
    for other in outer:
        g = cell_geometry(other)
        best = min(best, central_angle(centre, g.xyz) - g.circumradius)
    return max(0.0, best * EARTH_RADIUS_M * (1 - 1e-9) - 1e-3)


def ring_for_radius(
    lat: float, lng: float, radius_m: float, resolution: int, max_k: int = 1000
) -> int:
    """Smallest ``k`` such that ``grid_disk(cell_of(lat, lng), k)`` covers every point within
    ``radius_m`` of ``(lat, lng)``; guaranteed, not estimated (see `disk_cover_radius_m`).

    Raises
    ------
    InvalidParameter
        When ``radius_m`` is negative or not finite, or needs more than ``max_k`` rings.
    """
    if not isinstance(radius_m, (int, float)) or not math.isfinite(radius_m) or radius_m < 0:
        raise InvalidParameter("radius_m", radius_m, "need a finite number >= 0")
    cell = cell_of(lat, lng, resolution)
    offset = central_angle(unit_vector(lat, lng), cell_geometry(cell).xyz) * EARTH_RADIUS_M
    return ring_for_offset(cell, offset, float(radius_m), max_k)


def ring_for_offset(cell: int, offset_m: float, radius_m: float, max_k: int = 1000) -> int:
    """`ring_for_radius` for a point ``offset_m`` from the centre of its ``cell``."""
    edge = h3.average_hexagon_edge_length(h3i.get_resolution(cell), "m")
    # A disk of k rings reaches about (1.5 k + 0.5) edges; start a little short of that.
    k = max(0, int((radius_m + offset_m) / (2.0 * edge)))
    while disk_cover_radius_m(cell, k) - offset_m < radius_m:
        k += 1
        if k > max_k:
            raise InvalidParameter("radius_m", radius_m, f"needs more than {max_k} rings")
    while k > 0 and disk_cover_radius_m(cell, k - 1) - offset_m >= radius_m:
        k -= 1
    return k


def _cell_polygons(cells: list[int]) -> npt.NDArray[np.object_]:
    """Cell boundaries as planar lng/lat shapely polygons, unwrapped across the antimeridian."""
    coords: list[tuple[float, float]] = []
    ring_ids: list[int] = []
    for i, cell in enumerate(cells):
        boundary = h3i.cell_to_boundary(cell)
        lngs = [p[1] for p in boundary]
        if max(lngs) - min(lngs) > 180.0:
            lngs = [v + 360.0 if v < 0 else v for v in lngs]
        ring = [(x, p[0]) for x, p in zip(lngs, boundary, strict=True)]
        ring.append(ring[0])
        coords.extend(ring)
        ring_ids.extend([i] * len(ring))
    rings = shapely.linearrings(np.asarray(coords), indices=np.asarray(ring_ids))
    return np.asarray(shapely.polygons(rings), dtype=object)


def polygon_cover(geometry: Polygon | MultiPolygon, resolution: int) -> tuple[CellArray, CellArray]:
    """The cells covering a lng/lat polygon, split into interior and boundary cells.

    Every point the polygon covers lies in one of the returned cells. Interior cells lie
    wholly inside (a point there needs no exact test); boundary cells touch the polygon's
    boundary, within a margin that absorbs the curvature of H3's great-circle edges against
    the planar lng/lat polygon.

    Returns
    -------
    tuple of numpy.ndarray
        ``(interior, boundary)``, sorted int64 cell ids.
    """
    res = check_resolution(resolution)
    _, miny, _, maxy = geometry.bounds
    lat_max = math.radians(min(89.0, max(abs(miny), abs(maxy)) + 1.0))
    edge_max = 2.5 * h3.average_hexagon_edge_length(res, "m") / EARTH_RADIUS_M
    # Every cell meeting the polygon has its centre within one circumradius of it.
    reach_deg = math.degrees(edge_max) / math.cos(lat_max)
    search = geometry.buffer(reach_deg, quad_segs=4).intersection(box(-180.0, -90.0, 180.0, 90.0))
    cells = sorted(set(h3i.h3shape_to_cells(h3.geo_to_h3shape(mapping(search)), res)))
    empty = np.empty(0, dtype=np.int64)
    if not cells:
        return empty, empty
    # Sagitta of a great-circle edge against its lng/lat chord, doubled, plus rounding.
    margin_deg = 2.0 * math.degrees(edge_max**2 * math.tan(lat_max) / 8.0) + 1e-7
    outline = geometry.boundary
    shapely.prepare(outline)
    centres = np.asarray([h3i.cell_to_latlng(c) for c in cells], dtype=np.float64)
    # Only cells whose centre lies within a circumradius of the outline can touch it; build
    # polygons for those alone (a large fence has far more interior cells than edge cells).
    centre_points = shapely.points(centres[:, 1], centres[:, 0])
    maybe = np.flatnonzero(shapely.dwithin(centre_points, outline, reach_deg + margin_deg))
    near_edge = np.zeros(len(cells), dtype=np.bool_)
    if maybe.size:
        polys = _cell_polygons([cells[i] for i in maybe.tolist()])
        near_edge[maybe] = shapely.dwithin(polys, outline, margin_deg)
    shapely.prepare(geometry)
    centre_in = shapely.intersects_xy(geometry, centres[:, 1], centres[:, 0])
    arr = np.asarray(cells, dtype=np.int64)
    return arr[~near_edge & centre_in], arr[near_edge]
