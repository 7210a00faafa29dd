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

    def pair_costs(
        self,
        pickup_lat: FloatArray,
        pickup_lng: FloatArray,
        courier_lat: FloatArray,
        courier_lng: FloatArray,
        vehicle_code: IntArray,
        vehicle_names: Sequence[str],
        penalty_s: FloatArray,
    ) -> PairCosts:
        """Costs of candidate pairs given as aligned arrays (one element per pair).

        ``vehicle_names[vehicle_code[i]]`` is the vehicle of pair ``i``'s courier; the
        travel-time provider is asked once per vehicle type. ``penalty_s`` is the sum of the
        pair's order and courier penalties (`order_penalty_s`, `courier_penalty_s`).
        """
        eta = np.empty(pickup_lat.size, dtype=np.float64)
        metres = np.empty(pickup_lat.size, dtype=np.float64)
        for code, kind in enumerate(vehicle_names):
            sel = np.flatnonzero(vehicle_code == code) if len(vehicle_names) > 1 else slice(None)
            travel = self.travel.pairwise(
                courier_lat[sel], courier_lng[sel], pickup_lat[sel], pickup_lng[sel], kind
            )
            eta[sel] = travel.seconds
            metres[sel] = travel.metres
        seconds = eta + penalty_s
        cost = np.rint(seconds * (1.0 / self.unit_s)).astype(np.int64)
        return PairCosts(cost=cost, eta_s=eta, metres=metres)
