"""Problem and solution model: vehicles, shipments, jobs, the travel matrix, routes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from routing.errors import InvalidProblem
from routing.travel_time import Travel

TimeWindow = tuple[float, float]
"""``(earliest, latest)`` start of service in seconds; ``latest`` may be ``math.inf``."""

OPEN: TimeWindow = (0.0, math.inf)

StopKind = Literal["start", "pickup", "delivery", "job", "end"]


@dataclass(frozen=True, slots=True)
class Stop:
    """Where and when one visit happens: a location index into the travel matrix."""

    location: int
    service_s: float = 0.0
    time_window: TimeWindow = OPEN


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle and its shift.

    Parameters
    ----------
    id
        Unique name.
    start
        Location index where the route starts (the current position when re-optimising).
    end
        Location index where the route must end; ``None`` for an open route ending at its last stop.
    capacity
        One amount per capacity dimension (weight, volume, parcels, ...).
    shift
        Earliest departure and latest return in seconds.
    speed_factor
        Travel durations are divided by this (2.0 drives twice as fast as the matrix says).
    max_stops
        Most pickups, deliveries and jobs on the route; ``None`` for no limit.
    skills
        What the vehicle offers; a job needing a skill goes only to vehicles that have it.
    carrying
        Ids of shipments already picked up by this vehicle: their deliveries must be on its route.
    """

    id: str
    start: int
    end: int | None
    capacity: tuple[float, ...]
    shift: TimeWindow = OPEN
    speed_factor: float = 1.0
    max_stops: int | None = None
    skills: frozenset[str] = frozenset()
    carrying: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Shipment:
    """Goods moved from a pickup to a delivery by one vehicle, pickup first."""

    id: str
    pickup: Stop
    delivery: Stop
    amount: tuple[float, ...]
    skills: frozenset[str] = frozenset()
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Job:
    """A single-stop visit: a delivery loaded at the vehicle's start, or a pickup brought to its end."""

    id: str
    stop: Stop
    amount: tuple[float, ...]
    kind: Literal["delivery", "pickup"] = "delivery"
    skills: frozenset[str] = frozenset()
    priority: int = 0


@dataclass(frozen=True)
class Problem:
    """Vehicles, shipments and jobs over one travel matrix (``travel.seconds[i, j]`` from i to j)."""

    vehicles: tuple[Vehicle, ...]
    travel: Travel
    shipments: tuple[Shipment, ...] = ()
    jobs: tuple[Job, ...] = ()

    def __post_init__(self) -> None:
        validate_problem(self)

    @property
    def dimensions(self) -> int:
        """Number of capacity dimensions."""
        return len(self.vehicles[0].capacity) if self.vehicles else 0

    @cached_property
    def shipments_by_id(self) -> dict[str, Shipment]:
        """Shipments keyed by id."""
        return {s.id: s for s in self.shipments}

    @cached_property
    def jobs_by_id(self) -> dict[str, Job]:
        """Jobs keyed by id."""
        return {j.id: j for j in self.jobs}


@dataclass(frozen=True, slots=True)
class RouteStop:
    """One visit of a route: times in seconds, ``load`` on board after the stop."""

    kind: StopKind
    id: str | None
    location: int
    arrival: float
    start: float
    departure: float
    load: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """The ordered stops of one vehicle, from its start to its end, with its travel totals."""

    vehicle_id: str
    stops: tuple[RouteStop, ...]
    distance: float
    duration: float


@dataclass(frozen=True, slots=True)
class Unassigned:
    """A shipment or job that no route serves, and why."""

    id: str
    kind: Literal["shipment", "job"]
    reason: str


@dataclass(frozen=True, slots=True)
class PhaseReport:
    """One solver phase: what it tried, when it began, its time limit, how it ended.

    ``started_s + time_limit_s`` never exceeds the solve call's time limit.
    """

    name: str
    started_s: float
    time_limit_s: float
    status: str
    vehicles: int
    distance: float


@dataclass(frozen=True)
class Solution:
    """Routes of the used vehicles, what stayed unassigned, and how the search went."""

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    distance: float
    time_limit_s: float
    phases: tuple[PhaseReport, ...] = field(default_factory=tuple)

    @property
    def vehicles_used(self) -> int:
        """Vehicles with at least one visit."""
        return sum(1 for r in self.routes if any(s.kind not in ("start", "end") for s in r.stops))


MAX_TIME_S = 1e10
"""Bound on any time or duration (about 317 years of epoch seconds): beyond it the solver's
integer time scale would overflow."""


def _check_window(where: str, window: TimeWindow, problems: list[tuple[str, Any, str]]) -> None:
    a, b = window
    if not (math.isfinite(a) and a <= b):
        problems.append((where, window, "need finite start <= end"))
    elif abs(a) > MAX_TIME_S or (math.isfinite(b) and abs(b) > MAX_TIME_S):
        problems.append((where, window, f"times must lie within +-{MAX_TIME_S:g} s"))


def _check_stop(where: str, stop: Stop, n: int, problems: list[tuple[str, Any, str]]) -> None:
    if not 0 <= stop.location < n:
        problems.append((f"{where}.location", stop.location, f"not in [0, {n})"))
    if not (math.isfinite(stop.service_s) and 0 <= stop.service_s <= MAX_TIME_S):
        problems.append(
            (f"{where}.service_s", stop.service_s, f"must be finite, >= 0 and <= {MAX_TIME_S:g}")
        )
    _check_window(f"{where}.time_window", stop.time_window, problems)


def _check_amount(
    where: str, amount: tuple[float, ...], dims: int, problems: list[tuple[str, Any, str]]
) -> None:
    if len(amount) != dims:
        problems.append((where, amount, f"need {dims} capacity dimensions"))
    elif not all(math.isfinite(a) and a >= 0 for a in amount):
        problems.append((where, amount, "amounts must be finite and >= 0"))


def validate_problem(problem: Problem) -> None:
    """Check ids, indices, amounts and windows; raise one `InvalidProblem` listing every issue."""
    problems: list[tuple[str, Any, str]] = []
    secs = np.asarray(problem.travel.seconds)
    metres = np.asarray(problem.travel.metres)
    n = secs.shape[0] if secs.ndim == 2 else 0
    if secs.ndim != 2 or secs.shape != (n, n) or metres.shape != secs.shape:
        problems.append(("travel", (secs.shape, metres.shape), "need two (n, n) matrices"))
    elif not (np.all(np.isfinite(secs)) and np.all(np.isfinite(metres))):
        problems.append(("travel", "non-finite", "durations and distances must be finite"))
    elif (secs < 0).any() or (metres < 0).any():
        problems.append(("travel", "negative", "durations and distances must be >= 0"))
    if not problem.vehicles:
        problems.append(("vehicles", (), "need at least one vehicle"))
    dims = problem.dimensions
    seen: set[str] = set()
    for v in problem.vehicles:
        if v.id in seen:
            problems.append(("vehicles.id", v.id, "duplicate id"))
        seen.add(v.id)
    seen = set()
    for kind, items in (("shipments", problem.shipments), ("jobs", problem.jobs)):
        for item in items:
            if item.id in seen:
                problems.append((f"{kind}.id", item.id, "duplicate id"))
            seen.add(item.id)
    carried: dict[str, str] = {}
    for v in problem.vehicles:
        w = f"vehicles[{v.id}]"
        for name, loc in (("start", v.start), ("end", v.end)):
            if loc is not None and not 0 <= loc < n:
                problems.append((f"{w}.{name}", loc, f"not in [0, {n})"))
        if len(v.capacity) != dims:
            problems.append((f"{w}.capacity", v.capacity, f"need {dims} capacity dimensions"))
        _check_window(f"{w}.shift", v.shift, problems)
        if not (math.isfinite(v.speed_factor) and v.speed_factor > 0):
            problems.append((f"{w}.speed_factor", v.speed_factor, "must be finite and > 0"))
        if v.max_stops is not None and v.max_stops < 0:
            problems.append((f"{w}.max_stops", v.max_stops, "must be >= 0"))
        for sid in v.carrying:
            if sid in carried:
                problems.append((f"{w}.carrying", sid, f"also carried by {carried[sid]}"))
            carried[sid] = v.id
    shipment_ids = {s.id for s in problem.shipments}
    for sid in carried:
        if sid not in shipment_ids:
            problems.append(("vehicles.carrying", sid, "no such shipment"))
    for s in problem.shipments:
        _check_stop(f"shipments[{s.id}].pickup", s.pickup, n, problems)
        _check_stop(f"shipments[{s.id}].delivery", s.delivery, n, problems)
        _check_amount(f"shipments[{s.id}].amount", s.amount, dims, problems)
    for j in problem.jobs:
        _check_stop(f"jobs[{j.id}].stop", j.stop, n, problems)
        _check_amount(f"jobs[{j.id}].amount", j.amount, dims, problems)
    if problems:
        raise InvalidProblem(problems)
