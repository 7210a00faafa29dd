"""Order arrivals: a Poisson process with pickups clustered around restaurant hot spots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sims.city import City
from sims.fleet import Spots

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OrderArrivals:
    """Orders created in one interval, in time order."""

    at: FloatArray
    pickup_lat: FloatArray
    pickup_lng: FloatArray
    dropoff_lat: FloatArray
    dropoff_lng: FloatArray

    def __len__(self) -> int:
        return int(self.at.size)


class Demand:
    """Restaurant clusters with Zipf-like popularity; drop-offs at a log-normal distance
    (median ``dropoff_median_m``) in a random direction, kept inside the zone.

    Parameters
    ----------
    city
        Where pickups and drop-offs may lie.
    rate_per_s
        Mean orders per second.
    hotspots, spread_m
        Number of clusters and the standard deviation of pickups around each centre.
    """

    def __init__(
        self,
        city: City,
        rng: np.random.Generator,
        *,
        rate_per_s: float,
        hotspots: int,
        spread_m: float,
        dropoff_median_m: float,
    ) -> None:
        self.city = city
        self.rng = rng
        self.rate_per_s = rate_per_s
        self.spread_m = spread_m
        self.dropoff_median_m = dropoff_median_m
        self.centre_lat, self.centre_lng = city.uniform(hotspots, rng)
        weight = 1.0 / np.arange(1, hotspots + 1)
        self.weight = weight / weight.sum()

    @property
    def spots(self) -> Spots:
        return Spots(self.centre_lat, self.centre_lng, self.weight, self.spread_m)

    def arrivals(self, t0: float, t1: float, limit: int | None = None) -> OrderArrivals:
        """Orders created in ``[t0, t1)`` (at most ``limit``)."""
        rng = self.rng
        n = int(rng.poisson(self.rate_per_s * (t1 - t0)))
        if limit is not None:
            n = min(n, max(limit, 0))
        at = np.sort(rng.uniform(t0, t1, n))
        spot = rng.choice(self.weight.size, n, p=self.weight)
        noise = rng.normal(0.0, self.spread_m, (2, n))
        plat, plng = self.city.offset(
            self.centre_lat[spot], self.centre_lng[spot], noise[0], noise[1]
        )
        plat, plng = self.city.keep_inside(plat, plng, self.centre_lat[spot], self.centre_lng[spot])
        dist = self.dropoff_median_m * np.exp(rng.normal(0.0, 0.5, n))
        angle = rng.uniform(0.0, 2 * np.pi, n)
        dlat, dlng = self.city.offset(plat, plng, dist * np.cos(angle), dist * np.sin(angle))
        # A drop-off outside the zone is mirrored through the pickup (the city is convex-ish),
        # then, if still outside, put next to the pickup.
        out = ~self.city.contains(dlat, dlng)
        dlat[out], dlng[out] = 2 * plat[out] - dlat[out], 2 * plng[out] - dlng[out]
        near_lat, near_lng = self.city.offset(plat, plng, np.full(n, 300.0), np.zeros(n))
        dlat, dlng = self.city.keep_inside(dlat, dlng, near_lat, near_lng)
        dlat, dlng = self.city.keep_inside(dlat, dlng, plat, plng)
        return OrderArrivals(at, plat, plng, dlat, dlng)
