"""GeoJSON polygons in and out of the stores, validated by `geo.geofence` before any write."""

from __future__ import annotations

from typing import Any

from geo.geofence import FenceGeometry, geometry_from_geojson, validate_geometry


def polygon_from_geojson(obj: Any) -> FenceGeometry:
    """A validated shapely Polygon/MultiPolygon from GeoJSON (``[lng, lat]`` positions).

    Raises
    ------
    geo.errors.InvalidGeometry
        For a wrong type, non-numeric or out-of-range positions (with a hint when they look like
        ``[lat, lng]``), short or unclosed rings, self-intersections, zero area.
    """
    return validate_geometry(geometry_from_geojson(obj), "coordinates")


def geojson_from_polygon(geom: FenceGeometry) -> dict[str, Any]:
    """The GeoJSON mapping of a shapely polygon, with lists (JSON-ready) instead of tuples."""

    def lists(value: Any) -> Any:
        return [lists(v) for v in value] if isinstance(value, (list, tuple)) else value

    coords = geom.__geo_interface__["coordinates"]
    return {"type": geom.geom_type, "coordinates": lists(coords)}
