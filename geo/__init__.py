"""Pure geometry: coordinate validation, great-circle distance, H3 helpers and geofence polygons."""

from geo.coords import valid_mask, validate_arrays, validate_lat_lng
from geo.distance import EARTH_RADIUS_M, great_circle_m, great_circle_m_array, great_circle_matrix
from geo.errors import GeoError, InvalidCoordinate, InvalidGeometry, InvalidParameter

__all__ = [
    "EARTH_RADIUS_M",
    "GeoError",
    "InvalidCoordinate",
    "InvalidGeometry",
    "InvalidParameter",
    "great_circle_m",
    "great_circle_m_array",
    "great_circle_matrix",
    "valid_mask",
    "validate_arrays",
    "validate_lat_lng",
]
