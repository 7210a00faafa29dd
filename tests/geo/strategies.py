"""Hypothesis strategies and helpers shared by the geo and tracking tests."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from geo.distance import EARTH_RADIUS_M

# Latitudes up to ±85 and longitudes that reach the antimeridian.
lats = st.floats(-85.0, 85.0)
lngs = st.one_of(st.floats(-180.0, 180.0), st.floats(179.0, 180.0), st.floats(-180.0, -179.0))


def destination(
    lat: float, lng: float, bearing_rad: npt.ArrayLike, dist_m: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points at ``dist_m`` along ``bearing_rad`` from ``(lat, lng)``, lng wrapped to ±180."""
    phi1 = math.radians(lat)
    delta = np.asarray(dist_m, dtype=np.float64) / EARTH_RADIUS_M
    theta = np.asarray(bearing_rad, dtype=np.float64)
    phi2 = np.arcsin(
        np.clip(
            math.sin(phi1) * np.cos(delta) + math.cos(phi1) * np.sin(delta) * np.cos(theta),
            -1.0,
            1.0,
        )
    )
    lam2 = math.radians(lng) + np.arctan2(
        np.sin(theta) * np.sin(delta) * math.cos(phi1),
        np.cos(delta) - math.sin(phi1) * np.sin(phi2),
    )
    out_lng = (np.degrees(lam2) + 540.0) % 360.0 - 180.0
    return np.degrees(phi2), out_lng
