"""Coordinate validation for scalars and arrays (finite, lat in [-90, 90], lng in [-180, 180])."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.errors import InvalidCoordinate

FloatArray = npt.NDArray[np.float64]


def _problem(field: str, value: Any, limit: float) -> tuple[str, Any, str] | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        return (field, value, "not a number")
    v = float(value)
    if not math.isfinite(v):
        return (field, value, "not finite")
    if not -limit <= v <= limit:
        return (field, value, f"outside [-{limit:g}, {limit:g}]")
    return None


def validate_lat_lng(lat: Any, lng: Any) -> tuple[float, float]:
    """Check one coordinate pair and return it as floats.

    Parameters
    ----------
    lat, lng
        Latitude and longitude in degrees (WGS 84).

    Returns
    -------
    tuple of float
        ``(lat, lng)``.

    Raises
    ------
    InvalidCoordinate
        Naming every offending field and its value.
    """
    problems = [p for p in (_problem("lat", lat, 90.0), _problem("lng", lng, 180.0)) if p]
    if problems:
        raise InvalidCoordinate(problems)
    return float(lat), float(lng)


def valid_mask(lats: npt.ArrayLike, lngs: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Vectorized validity: True where both values are finite and in range."""
    la = np.asarray(lats, dtype=np.float64)
    ln = np.asarray(lngs, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(la) & np.isfinite(ln) & (np.abs(la) <= 90.0) & (np.abs(ln) <= 180.0)


def validate_arrays(
    lats: npt.ArrayLike, lngs: npt.ArrayLike, *, max_reported: int = 10
) -> tuple[FloatArray, FloatArray]:
    """Check arrays of coordinates and return them as float64 arrays.

    Raises
    ------
    InvalidCoordinate
        Listing up to ``max_reported`` offending items as ``lat[i]`` / ``lng[i]``.
    """
    la = np.ascontiguousarray(lats, dtype=np.float64)
    ln = np.ascontiguousarray(lngs, dtype=np.float64)
    if la.shape != ln.shape or la.ndim != 1:
        raise InvalidCoordinate(
            [("lats/lngs", (la.shape, ln.shape), "need two 1-d arrays of one length")]
        )
    bad = np.flatnonzero(~valid_mask(la, ln))
    if bad.size:
        problems: list[tuple[str, Any, str]] = []
        for i in bad[:max_reported]:
            for field, arr, limit in (("lat", la, 90.0), ("lng", ln, 180.0)):
                p = _problem(f"{field}[{i}]", float(arr[i]), limit)
                if p:
                    problems.append(p)
        raise InvalidCoordinate(problems)
    return la, ln
