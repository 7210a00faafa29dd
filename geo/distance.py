"""Great-circle distance in metres, scalar and vectorized."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), the sphere every distance in hexdispatch is measured on."""


def great_circle_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance between two points, in metres (scalar fast path)."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    h = math.sin(dp * 0.5) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def great_circle_m_array(
    lat1: npt.ArrayLike, lng1: npt.ArrayLike, lat2: npt.ArrayLike, lng2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Haversine distance in metres over numpy arrays, with broadcasting.

    Parameters
    ----------
    lat1, lng1, lat2, lng2
        Degrees; any shapes that broadcast together.

    Returns
    -------
    numpy.ndarray
        float64 distances in metres, of the broadcast shape.
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dl = np.radians(np.asarray(lng2, dtype=np.float64) - np.asarray(lng1, dtype=np.float64))
    h = np.sin((p2 - p1) * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl * 0.5) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h))))


def great_circle_matrix(
    lats_a: npt.ArrayLike, lngs_a: npt.ArrayLike, lats_b: npt.ArrayLike, lngs_b: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """All-pairs distances in metres: shape ``(len(a), len(b))``."""
    la = np.asarray(lats_a, dtype=np.float64)[:, None]
    lo = np.asarray(lngs_a, dtype=np.float64)[:, None]
    lb = np.asarray(lats_b, dtype=np.float64)[None, :]
    lob = np.asarray(lngs_b, dtype=np.float64)[None, :]
    return great_circle_m_array(la, lo, lb, lob)


def unit_vectors(lats: npt.ArrayLike, lngs: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Points on the unit sphere, shape ``(n, 3)``, for chord-distance ranking.

    The chord between two unit vectors is monotone in their great-circle distance, so
    nearest-neighbour ranking needs only squared differences; `chord2_to_m` converts back.
    """
    phi = np.radians(np.asarray(lats, dtype=np.float64))
    lam = np.radians(np.asarray(lngs, dtype=np.float64))
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)], axis=-1)


def unit_vector(lat: float, lng: float) -> tuple[float, float, float]:
    """Scalar `unit_vectors`: ``(x, y, z)`` of one point."""
    phi = math.radians(lat)
    lam = math.radians(lng)
    cos_phi = math.cos(phi)
    return cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi)


def chord2_to_m(chord2: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Great-circle metres from squared chord lengths between unit vectors."""
    half = np.sqrt(np.asarray(chord2, dtype=np.float64)) * 0.5
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, half)))


def m_to_chord2(metres: float) -> float:
    """Squared chord length between unit vectors that are ``metres`` apart (inverse of
    `chord2_to_m`)."""
    half_angle = min(math.pi, max(0.0, metres) / EARTH_RADIUS_M) * 0.5
    return (2.0 * math.sin(half_angle)) ** 2


def chord2_to_m_scalar(chord2: float) -> float:
    """Scalar `chord2_to_m`, for the few values a single query returns."""
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(chord2) * 0.5))
