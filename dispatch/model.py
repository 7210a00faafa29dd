"""Dispatch orders: what the engine needs to know about an order waiting for a courier."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.errors import InvalidOrder, Problem
from geo import InvalidCoordinate, validate_lat_lng

MAX_PRIORITY = 9
"""Priorities run from 0 (routine) to 9 (most urgent)."""

DEFAULT_MAX_PICKUP_M = 3_000.0
"""Pickup radius of an order that does not set one, in metres."""


def _coordinate_problems(prefix: str, lat: Any, lng: Any) -> list[Problem]:
    try:
        validate_lat_lng(lat, lng)
    except InvalidCoordinate as err:
        return [(f"{prefix}_{name}", value, reason) for name, value, reason in err.problems]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class DispatchOrder:
    """An order waiting for a courier.

    Parameters
    ----------
    id, tenant
        The order and the tenant it belongs to; only that tenant's couriers may take it.
    pickup_lat, pickup_lng, dropoff_lat, dropoff_lng
        Degrees (WGS 84).
    created_at
        UTC epoch seconds; older orders are favoured (see `dispatch.cost.CostModel`).
    size
        Capacity units the order takes on a courier (positive integer).
    priority
        0 (routine) to `MAX_PRIORITY` (most urgent).
    vehicle
        Required vehicle type, or None for any.
    skills
        Skills the courier must all have (e.g. ``{"alcohol", "cold_chain"}``).
    max_pickup_m
        Couriers farther than this great-circle distance from the pickup are not considered.

    Raises
    ------
    InvalidOrder
        Naming every offending field and value.
    """

    id: str
    tenant: str
    pickup_lat: float
    pickup_lng: float
    dropoff_lat: float
    dropoff_lng: float
    created_at: float
    size: int = 1
    priority: int = 0
    vehicle: str | None = None
    skills: frozenset[str] = field(default_factory=frozenset)
    max_pickup_m: float = DEFAULT_MAX_PICKUP_M

    def __post_init__(self) -> None:
        problems = _coordinate_problems("pickup", self.pickup_lat, self.pickup_lng)
        problems += _coordinate_problems("dropoff", self.dropoff_lat, self.dropoff_lng)
        if not isinstance(self.id, str) or not self.id:
            problems.append(("id", self.id, "must be a non-empty string"))
        if not isinstance(self.tenant, str) or not self.tenant:
            problems.append(("tenant", self.tenant, "must be a non-empty string"))
        if not isinstance(self.created_at, (int, float)) or not math.isfinite(self.created_at):
            problems.append(("created_at", self.created_at, "must be finite epoch seconds"))
        if not _is_int(self.size) or self.size <= 0:
            problems.append(("size", self.size, "must be a positive integer"))
        if not _is_int(self.priority) or not 0 <= self.priority <= MAX_PRIORITY:
            problems.append(
                ("priority", self.priority, f"must be an integer in [0, {MAX_PRIORITY}]")
            )
        if self.vehicle is not None and not isinstance(self.vehicle, str):
            problems.append(("vehicle", self.vehicle, "must be a string or None"))
        if not isinstance(self.skills, frozenset) or not all(
            isinstance(s, str) for s in self.skills
        ):
            problems.append(("skills", self.skills, "must be a frozenset of strings"))
        radius = self.max_pickup_m
        if not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius <= 0:
            problems.append(("max_pickup_m", radius, "must be a positive number of metres"))
        if problems:
            raise InvalidOrder(problems)
