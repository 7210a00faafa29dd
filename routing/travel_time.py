"""Travel-time providers: the interface dispatch and routing ask for durations and distances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from geo.distance import great_circle_m_array, great_circle_matrix

FloatArray = npt.NDArray[np.float64]

DEFAULT_SPEEDS_MPS: dict[str, float] = {
    "walk": 1.4,
    "bicycle": 4.5,
    "bike": 4.5,
    "motorbike": 8.5,
    "car": 7.5,
    "van": 6.5,
}
"""Average door-to-door speeds in m/s per vehicle type (urban traffic, stops included);
``bike`` is the store's default name for a bicycle."""


class UnknownVehicle(ValueError):
    """A vehicle type the provider has no speed for."""

    def __init__(self, value: object) -> None:
        self.field = "vehicle"
        self.value = value
        super().__init__(f"unknown vehicle={value!r}")


@dataclass(frozen=True, slots=True)
class Travel:
    """Durations in seconds and distances in metres, of one shape."""

    seconds: FloatArray
    metres: FloatArray


class TravelTimeProvider(Protocol):
    """Where durations and distances come from; a road-network table service can replace it."""

    def pairwise(
        self,
        src_lats: npt.ArrayLike,
        src_lngs: npt.ArrayLike,
        dst_lats: npt.ArrayLike,
        dst_lngs: npt.ArrayLike,
        vehicles: str | npt.ArrayLike | None = None,
    ) -> Travel:
        """Element-wise travel from ``src[i]`` to ``dst[i]`` (numpy broadcasting)."""
        ...

    def matrix(
        self, lats: npt.ArrayLike, lngs: npt.ArrayLike, vehicle: str | None = None
    ) -> Travel:
        """All pairs between the given points: arrays of shape ``(n, n)``."""
        ...


@dataclass(frozen=True)
class GreatCircleTravelTime:
    """Great-circle distance times a circuity factor, at a constant speed per vehicle type.

    Parameters
    ----------
    speeds_mps
        Speed per vehicle type in m/s; ``default_vehicle`` is used when none is given.
    circuity
        Road distance over great-circle distance; 1.0 keeps distances great-circle, real street
        grids are typically 1.2 to 1.4.
    """

    speeds_mps: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEEDS_MPS))
    default_vehicle: str = "motorbike"
    circuity: float = 1.0

    def speed_of(self, vehicles: str | npt.ArrayLike | None) -> float | FloatArray:
        if vehicles is None:
            vehicles = self.default_vehicle
        if isinstance(vehicles, str):
            try:
                return float(self.speeds_mps[vehicles])
            except KeyError:
                raise UnknownVehicle(vehicles) from None
        names = np.asarray(vehicles)
        out = np.empty(names.shape, dtype=np.float64)
        for name in np.unique(names):
            key = str(name)
            if key not in self.speeds_mps:
                raise UnknownVehicle(key)
            out[names == name] = self.speeds_mps[key]
        return out

    def pairwise(
        self,
        src_lats: npt.ArrayLike,
        src_lngs: npt.ArrayLike,
        dst_lats: npt.ArrayLike,
        dst_lngs: npt.ArrayLike,
        vehicles: str | npt.ArrayLike | None = None,
    ) -> Travel:
        metres = great_circle_m_array(src_lats, src_lngs, dst_lats, dst_lngs) * self.circuity
        return Travel(seconds=np.asarray(metres / self.speed_of(vehicles)), metres=metres)

    def matrix(
        self, lats: npt.ArrayLike, lngs: npt.ArrayLike, vehicle: str | None = None
    ) -> Travel:
        metres = great_circle_matrix(lats, lngs, lats, lngs) * self.circuity
        return Travel(seconds=np.asarray(metres / self.speed_of(vehicle)), metres=metres)


@dataclass(frozen=True)
class EuclideanTravelTime:
    """Straight-line distance on a plane (benchmark instances), travelled at a constant speed.

    Coordinates are planar ``y, x`` in the positions where other providers take ``lat, lng``;
    distances are in the coordinates' unit and never rounded.
    """

    speed: float = 1.0

    def pairwise(
        self,
        src_lats: npt.ArrayLike,
        src_lngs: npt.ArrayLike,
        dst_lats: npt.ArrayLike,
        dst_lngs: npt.ArrayLike,
        vehicles: str | npt.ArrayLike | None = None,
    ) -> Travel:
        dy = np.asarray(dst_lats, dtype=np.float64) - np.asarray(src_lats, dtype=np.float64)
        dx = np.asarray(dst_lngs, dtype=np.float64) - np.asarray(src_lngs, dtype=np.float64)
        metres = np.asarray(np.hypot(dy, dx))
        return Travel(seconds=metres / self.speed, metres=metres)

    def matrix(
        self, lats: npt.ArrayLike, lngs: npt.ArrayLike, vehicle: str | None = None
    ) -> Travel:
        y = np.asarray(lats, dtype=np.float64)
        x = np.asarray(lngs, dtype=np.float64)
        return self.pairwise(y[:, None], x[:, None], y[None, :], x[None, :])
