"""Cost of giving an order to a courier: ETA to pickup plus documented penalties, as integers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dispatch.errors import InvalidParams, Problem
from dispatch.model import MAX_PRIORITY
from routing.travel_time import GreatCircleTravelTime, TravelTimeProvider

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Pairs:
    """Candidate (order, courier) pairs and the geometry needed to price them.

    Orders and couriers are given once (``pickup_*`` per order, ``courier_*`` and
    ``vehicle_code`` per courier, ``vehicle_names[code]`` the vehicle type, None for the
    provider's default); pair ``i`` joins
    order ``order_idx[i]`` and courier ``courier_idx[i]``, ``great_circle_m[i]`` apart when the
    index measured it.
    """

    order_idx: IntArray
    courier_idx: IntArray
    pickup_lat: FloatArray
    pickup_lng: FloatArray
    courier_lat: FloatArray
    courier_lng: FloatArray
    vehicle_code: IntArray
    vehicle_names: Sequence[str | None]
    great_circle_m: FloatArray | None = None


@dataclass(frozen=True, slots=True)
class PairCosts:
    """Per candidate pair: integer cost, ETA to pickup in seconds, pickup distance in metres."""

    cost: IntArray
    eta_s: FloatArray
    metres: FloatArray


@dataclass(frozen=True)
class CostModel:
    """Cost of an (order, courier) pair, in integer units of ``unit_s`` seconds.

    Every term is expressed in seconds of ETA it is worth, then divided by ``unit_s`` and
    rounded, so that OR-Tools gets integers::

        cost = ETA to pickup (travel-time provider)
             + age_weight   * (age_cap_s  - min(order age, age_cap_s))      older orders first
             + priority_s   * (MAX_PRIORITY - priority)                     urgent orders first
             + load_s       * courier load (units already carried)          spread stacking
             + idle_weight  * (idle_cap_s - min(courier idle time, idle_cap_s))   fairness

    Order terms are written as "missing bonus" so every cost stays non-negative: an order
    that is old or urgent is cheaper to serve, so when couriers are scarce the solver, which
    first maximises the number of assigned orders, then picks the old and urgent ones.
    Couriers idle longer are cheaper, so work goes to the courier who has waited longest
    among those about as close. A courier whose idle time is unknown counts as just idle.

    Parameters
    ----------
    travel
        Where ETAs come from (`routing.travel_time`), queried with the courier's vehicle.
    unit_s
        Seconds per integer cost unit (0.1 s by default).
    """

    travel: TravelTimeProvider = field(default_factory=GreatCircleTravelTime)
    unit_s: float = 0.1
    age_weight: float = 0.5
    age_cap_s: float = 900.0
    priority_s: float = 60.0
    load_s: float = 120.0
    idle_weight: float = 0.1
    idle_cap_s: float = 1_800.0

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        for name in ("unit_s", "age_cap_s", "idle_cap_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                problems.append((name, value, "must be positive and finite"))
        for name in ("age_weight", "priority_s", "load_s", "idle_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                problems.append((name, value, "must be non-negative and finite"))
        if problems:
            raise InvalidParams(problems)

    def order_penalty_s(self, now: float, created_at: FloatArray, priority: IntArray) -> FloatArray:
        """Per order: the age and priority terms, in seconds."""
        age = np.clip(now - created_at, 0.0, self.age_cap_s)
        return np.asarray(
            self.age_weight * (self.age_cap_s - age) + self.priority_s * (MAX_PRIORITY - priority),
            dtype=np.float64,
        )

    def courier_penalty_s(self, now: float, load: IntArray, idle_since: FloatArray) -> FloatArray:
        """Per courier: the load and idle-time terms, in seconds."""
        idle = np.where(np.isnan(idle_since), 0.0, np.clip(now - idle_since, 0.0, self.idle_cap_s))
        return np.asarray(
            self.load_s * load + self.idle_weight * (self.idle_cap_s - idle), dtype=np.float64
        )

    def pair_costs(self, pairs: Pairs, penalty_s: FloatArray) -> PairCosts:
        """Costs of candidate pairs.

        ``penalty_s`` is, per pair, the sum of its order and courier penalties
        (`order_penalty_s`, `courier_penalty_s`). The travel-time provider is asked once per
        vehicle type; the great-circle provider only scales the distances the index already
        measured (same numbers, without computing every haversine again).
        """
        travel = self.travel
        single = len(pairs.vehicle_names) == 1
        code = pairs.vehicle_code[pairs.courier_idx] if not single else pairs.courier_idx
        if isinstance(travel, GreatCircleTravelTime) and pairs.great_circle_m is not None:
            speeds = np.array([travel.speed_of(v) for v in pairs.vehicle_names], dtype=float)
            metres = pairs.great_circle_m * travel.circuity
            eta = metres / (speeds[0] if single else speeds[code])
        else:
            eta = np.empty(pairs.order_idx.size, dtype=np.float64)
            metres = np.empty(pairs.order_idx.size, dtype=np.float64)
            for c, kind in enumerate(pairs.vehicle_names):
                sel = np.arange(code.size) if single else np.flatnonzero(code == c)
                o, k = pairs.order_idx[sel], pairs.courier_idx[sel]
                t = travel.pairwise(
                    pairs.courier_lat[k],
                    pairs.courier_lng[k],
                    pairs.pickup_lat[o],
                    pairs.pickup_lng[o],
                    kind,
                )
                eta[sel] = t.seconds
                metres[sel] = t.metres
        cost = np.rint((eta + penalty_s) * (1.0 / self.unit_s)).astype(np.int64)
        return PairCosts(cost=cost, eta_s=eta, metres=metres)
