"""Geofence: a validated lng/lat polygon, prepared, with an H3 cover for fast accept."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping

from geo.cells import CellArray, cells_of_valid, check_resolution, polygon_cover
from geo.coords import validate_arrays, validate_lat_lng
from geo.errors import InvalidGeometry

FenceGeometry: TypeAlias = Polygon | MultiPolygon


def _position(value: Any, field: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) < 2:
        raise InvalidGeometry(field, value, "a position is [lng, lat]")
    lng, lat = value[0], value[1]
    for name, v in (("lng", lng), ("lat", lat)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidGeometry(field, value, f"{name} is not a finite number")
    if abs(lat) > 90.0:
        hint = "; looks like [lat, lng], GeoJSON is [lng, lat]" if abs(lng) <= 90.0 else ""
        raise InvalidGeometry(field, value, f"lat outside [-90, 90]{hint}")
    if abs(lng) > 180.0:
        raise InvalidGeometry(field, value, "lng outside [-180, 180]")
    return float(lng), float(lat)


def _ring(value: Any, field: str) -> list[tuple[float, float]]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidGeometry(field, value, "a ring is a list of positions")
    points = [_position(p, f"{field}[{i}]") for i, p in enumerate(value)]
    if len(points) < 4:
        raise InvalidGeometry(field, value, "a ring needs at least 4 positions")
    if points[0] != points[-1]:
        raise InvalidGeometry(field, value, "ring is not closed (first position != last)")
    return points


def _polygon(value: Any, field: str) -> Polygon:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise InvalidGeometry(field, value, "a polygon is a non-empty list of rings")
    rings = [_ring(r, f"{field}[{i}]") for i, r in enumerate(value)]
    return Polygon(rings[0], rings[1:])


def geometry_from_geojson(obj: Mapping[str, Any]) -> FenceGeometry:
    """Parse a GeoJSON Polygon or MultiPolygon (or a Feature holding one).

    Raises
    ------
    InvalidGeometry
        Naming the offending field (e.g. ``coordinates[0][3]``) and value.
    """
    if not isinstance(obj, Mapping):
        raise InvalidGeometry("geometry", obj, "not a GeoJSON object")
    if obj.get("type") == "Feature":
        return geometry_from_geojson(obj.get("geometry"))  # type: ignore[arg-type]
    kind = obj.get("type")
    coords = obj.get("coordinates")
    if kind == "Polygon":
        geom: FenceGeometry = _polygon(coords, "coordinates")
    elif kind == "MultiPolygon":
        if isinstance(coords, (str, bytes)) or not isinstance(coords, Sequence) or not coords:
            raise InvalidGeometry("coordinates", coords, "a multipolygon is a list of polygons")
        geom = MultiPolygon([_polygon(p, f"coordinates[{i}]") for i, p in enumerate(coords)])
    else:
        raise InvalidGeometry("type", kind, "need Polygon or MultiPolygon")
    return geom


def validate_geometry(geometry: Any, field: str = "geometry") -> FenceGeometry:
    """Check a shapely geometry is a usable fence: polygonal, valid, non-empty, in range."""
    if not isinstance(geometry, (Polygon, MultiPolygon)):
        raise InvalidGeometry(field, geometry, "need a Polygon or MultiPolygon")
    if geometry.is_empty:
        raise InvalidGeometry(field, geometry.wkt, "empty geometry")
    xy = shapely.get_coordinates(geometry)
    if not np.isfinite(xy).all():
        raise InvalidGeometry(field, geometry.wkt, "coordinates are not finite")
    if (np.abs(xy[:, 1]) > 90.0).any():
        raise InvalidGeometry(field, geometry.wkt, "lat outside [-90, 90] (GeoJSON is [lng, lat])")
    if (np.abs(xy[:, 0]) > 180.0).any():
        raise InvalidGeometry(field, geometry.wkt, "lng outside [-180, 180]")
    if not geometry.is_valid:
        raise InvalidGeometry(field, geometry.wkt, shapely.is_valid_reason(geometry))
    if geometry.area <= 0.0:
        raise InvalidGeometry(field, geometry.wkt, "zero-area geometry")
    minx, _, maxx, _ = geometry.bounds
    if maxx - minx > 180.0:
        raise InvalidGeometry(
            field, geometry.wkt, "spans more than 180° of longitude; split it at the antimeridian"
        )
    return geometry


def _members(cells: CellArray, sorted_cells: CellArray) -> npt.NDArray[np.bool_]:
    """``np.isin(cells, sorted_cells)`` by binary search: a large city cover is sorted once,
    not on every call (`np.isin` sorts both sides each time)."""
    if not sorted_cells.size:
        return np.zeros(cells.shape, dtype=np.bool_)
    at = np.minimum(np.searchsorted(sorted_cells, cells), sorted_cells.size - 1)
    return np.asarray(sorted_cells[at] == cells)


class Geofence:
    """A fence polygon in lng/lat (GeoJSON order), prepared, with an H3 cover.

    Membership is shapely's ``covers``: points on the boundary are inside. Points in interior
    cells are accepted without a geometric test, points in boundary cells get the exact test,
    every other point is outside.

    Parameters
    ----------
    geometry
        A shapely Polygon or MultiPolygon with x = lng, y = lat.
    resolution
        H3 resolution of the cover.

    Raises
    ------
    InvalidGeometry
        For self-intersecting, empty, out-of-range or otherwise invalid shapes.
    """

    __slots__ = (
        "_boundary_set",
        "_boundary_sorted",
        "_interior_set",
        "_interior_sorted",
        "boundary_cells",
        "geometry",
        "interior_cells",
        "resolution",
    )

    def __init__(self, geometry: FenceGeometry, resolution: int = 9) -> None:
        self.resolution = check_resolution(resolution)
        self.geometry: FenceGeometry = validate_geometry(geometry)
        shapely.prepare(self.geometry)
        interior, boundary = polygon_cover(self.geometry, self.resolution)
        self.interior_cells: CellArray = interior
        self.boundary_cells: CellArray = boundary
        self._interior_set = frozenset(interior.tolist())
        self._boundary_set = frozenset(boundary.tolist())
        self._interior_sorted = np.sort(interior)
        self._boundary_sorted = np.sort(boundary)

    @classmethod
    def from_geojson(cls, obj: Mapping[str, Any], resolution: int = 9) -> Geofence:
        """Build from a GeoJSON Polygon / MultiPolygon / Feature (``[lng, lat]`` positions)."""
        return cls(validate_geometry(geometry_from_geojson(obj), "coordinates"), resolution)

    def to_geojson(self) -> dict[str, Any]:
        """The geometry as a GeoJSON mapping."""
        return dict(mapping(self.geometry))

    def covers(self, lat: float, lng: float) -> bool:
        """Whether the fence covers one point (boundary included)."""
        la, ln = validate_lat_lng(lat, lng)
        cell = h3i.latlng_to_cell(la, ln, self.resolution)
        if cell in self._interior_set:
            return True
        if cell in self._boundary_set:
            return bool(shapely.intersects_xy(self.geometry, ln, la))
        return False

    def covers_array(self, lats: npt.ArrayLike, lngs: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Vectorized `covers`."""
        la, ln = validate_arrays(lats, lngs)
        return self.covers_cells(cells_of_valid(la, ln, self.resolution), la, ln)

    def covers_cells(
        self, cells: CellArray, lats: npt.NDArray[np.float64], lngs: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """`covers_array` for points whose cells at `resolution` are already known."""
        out = _members(cells, self._interior_sorted)
        edge = np.flatnonzero(_members(cells, self._boundary_sorted))
        if edge.size:
            out[edge] = shapely.intersects_xy(self.geometry, lngs[edge], lats[edge])
        return out

    def __repr__(self) -> str:
        return (
            f"Geofence(res={self.resolution}, interior={self.interior_cells.size}, "
            f"boundary={self.boundary_cells.size}, bounds={self.geometry.bounds})"
        )
