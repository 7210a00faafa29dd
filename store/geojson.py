"""GeoJSON polygons in and out: validated into shapely before any store sees them."""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

from store.errors import InvalidGeofence, Problem

PolygonLike: TypeAlias = Polygon | MultiPolygon
MAX_REPORTED = 10


def _position_problems(path: str, pos: Any) -> list[Problem]:
    if not isinstance(pos, (list, tuple)) or len(pos) not in (2, 3):
        return [(path, pos, "a position is [lng, lat]")]
    problems: list[Problem] = []
    for i, (name, limit) in enumerate((("lng", 180.0), ("lat", 90.0))):
        value = pos[i]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append((f"{path}[{i}]", value, f"{name} is not a number"))
        elif not math.isfinite(value):
            problems.append((f"{path}[{i}]", value, f"{name} is not finite"))
        elif abs(value) > limit:
            problems.append((f"{path}[{i}]", value, f"{name} outside [-{limit:g}, {limit:g}]"))
    return problems


def _ring_problems(path: str, ring: Any) -> list[Problem]:
    if not isinstance(ring, (list, tuple)) or len(ring) < 4:
        return [(path, ring, "a linear ring needs at least 4 positions")]
    problems = [p for i, pos in enumerate(ring) for p in _position_problems(f"{path}[{i}]", pos)]
    if not problems and list(ring[0][:2]) != list(ring[-1][:2]):
        problems.append((path, ring[-1], "ring is not closed: last position differs from first"))
    return problems


def _polygon_problems(path: str, rings: Any) -> list[Problem]:
    if not isinstance(rings, (list, tuple)) or not rings:
        return [(path, rings, "a polygon is a non-empty list of linear rings")]
    return [p for i, ring in enumerate(rings) for p in _ring_problems(f"{path}[{i}]", ring)]


def _swap_hint(problems: list[Problem]) -> list[Problem]:
    # A lat out of range where every lng would have been a valid lat is a [lat, lng] swap.
    if problems and all(field.endswith("[1]") and "lat outside" in r for field, _, r in problems):
        field, value, reason = problems[0]
        problems[0] = (
            field,
            value,
            reason + " (positions look like [lat, lng]; GeoJSON is [lng, lat])",
        )
    return problems


def polygon_from_geojson(obj: Any, field: str = "geometry") -> PolygonLike:
    """Validate a GeoJSON Polygon or MultiPolygon and return it as a shapely geometry.

    Parameters
    ----------
    obj
        A GeoJSON geometry mapping (RFC 7946, positions ``[lng, lat]``).
    field
        The name of the input, prefixed to every reported path.

    Raises
    ------
    InvalidGeofence
        Listing every problem found: wrong type, non-numeric or out-of-range positions, rings
        that are too short or not closed, self-intersections and other invalid shapes, zero area.
    """
    if not isinstance(obj, dict) or obj.get("type") not in ("Polygon", "MultiPolygon"):
        got = obj.get("type") if isinstance(obj, dict) else obj
        raise InvalidGeofence([(f"{field}.type", got, "must be a Polygon or MultiPolygon")])
    coords = obj.get("coordinates")
    path = f"{field}.coordinates"
    if obj["type"] == "Polygon":
        problems = _polygon_problems(path, coords)
    elif not isinstance(coords, (list, tuple)) or not coords:
        problems = [(path, coords, "a multipolygon is a non-empty list of polygons")]
    else:
        problems = [
            p for i, poly in enumerate(coords) for p in _polygon_problems(f"{path}[{i}]", poly)
        ]
    if problems:
        raise InvalidGeofence(_swap_hint(problems)[:MAX_REPORTED])
    geom = shape(obj)
    if not geom.is_valid:
        raise InvalidGeofence(
            [(path, obj["type"], f"invalid shape: {shapely.is_valid_reason(geom)}")]
        )
    if geom.area <= 0.0:
        raise InvalidGeofence([(path, obj["type"], "polygon has zero area")])
    return geom


def geojson_from_polygon(geom: PolygonLike) -> dict[str, Any]:
    """The GeoJSON mapping of a shapely polygon, with lists (JSON-ready) instead of tuples."""

    def lists(value: Any) -> Any:
        return [lists(v) for v in value] if isinstance(value, (list, tuple)) else value

    m = mapping(geom)
    return {"type": m["type"], "coordinates": lists(m["coordinates"])}
