"""Pure geometry: coordinate validation, great-circle distance, H3 helpers and geofence polygons."""

from geo.cells import cell_of, cells_of, parent_cells, polygon_cover, ring_for_radius
from geo.coords import valid_mask, validate_arrays, validate_lat_lng
from geo.distance import EARTH_RADIUS_M, great_circle_m, great_circle_m_array, great_circle_matrix
from geo.errors import GeoError, InvalidCoordinate, InvalidGeometry, InvalidParameter
from geo.geofence import Geofence

__all__ = [
    "EARTH_RADIUS_M",
    "GeoError",
    "Geofence",
    "InvalidCoordinate",
    "InvalidGeometry",
    "InvalidParameter",
    "cell_of",
    "cells_of",
    "great_circle_m",
    "great_circle_m_array",
    "great_circle_matrix",
    "parent_cells",
    "polygon_cover",
    "ring_for_radius",
    "valid_mask",
    "validate_arrays",
    "validate_lat_lng",
]
