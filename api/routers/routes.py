"""Routes: solve a pickup-and-delivery problem given as GeoJSON points (`routing.solve`)."""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, TenantDep
from geo.coords import validate_arrays
from routing.model import Problem, Shipment, Stop, Vehicle
from routing.solver import solve
from routing.travel_time import DEFAULT_SPEEDS_MPS, GreatCircleTravelTime

router = APIRouter(tags=["routes"])

Coordinates = tuple[float, float]
VehicleType = Literal["walk", "bicycle", "bike", "motorbike", "car", "van"]
BASE_VEHICLE = "motorbike"
"""The matrix is built at this vehicle's speed; others get a speed factor relative to it."""


class WindowIn(BaseModel):
    start: float = 0.0
    end: float | None = None

    def pair(self) -> tuple[float, float]:
        return (self.start, math.inf if self.end is None else self.end)


class VehicleIn(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    start: Coordinates = Field(description="[lng, lat]")
    end: Coordinates | None = None
    type: VehicleType = BASE_VEHICLE
    capacity: list[float] = Field(default=[1.0], min_length=1, max_length=4)
    shift: WindowIn = WindowIn()
    max_stops: int | None = Field(default=None, ge=1)
    skills: list[str] = []


class StopIn(BaseModel):
    location: Coordinates = Field(description="[lng, lat]")
    service_s: float = Field(default=0.0, ge=0)
    time_window: WindowIn = WindowIn()


class ShipmentIn(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    pickup: StopIn
    delivery: StopIn
    amount: list[float] = Field(default=[1.0], min_length=1, max_length=4)
    skills: list[str] = []
    priority: int = Field(default=0, ge=0, le=100)


class RoutesIn(BaseModel):
    vehicles: list[VehicleIn] = Field(min_length=1, max_length=200)
    shipments: list[ShipmentIn] = Field(min_length=1, max_length=500)
    time_limit_s: float = Field(default=2.0, gt=0, le=30)


def _problem(body: RoutesIn) -> tuple[Problem, list[Coordinates]]:
    points: list[Coordinates] = []

    def at(point: Coordinates) -> int:
        points.append(point)
        return len(points) - 1

    base = DEFAULT_SPEEDS_MPS[BASE_VEHICLE]
    vehicles = tuple(
        Vehicle(
            id=v.id,
            start=at(v.start),
            end=None if v.end is None else at(v.end),
            capacity=tuple(v.capacity),
            shift=v.shift.pair(),
            speed_factor=DEFAULT_SPEEDS_MPS[v.type] / base,
            max_stops=v.max_stops,
            skills=frozenset(v.skills),
        )
        for v in body.vehicles
    )
    shipments = tuple(
        Shipment(
            id=s.id,
            pickup=Stop(at(s.pickup.location), s.pickup.service_s, s.pickup.time_window.pair()),
            delivery=Stop(
                at(s.delivery.location), s.delivery.service_s, s.delivery.time_window.pair()
            ),
            amount=tuple(s.amount),
            skills=frozenset(s.skills),
            priority=s.priority,
        )
        for s in body.shipments
    )
    lats, lngs = validate_arrays([p[1] for p in points], [p[0] for p in points])
    travel = GreatCircleTravelTime().matrix(lats, lngs, BASE_VEHICLE)
    return Problem(vehicles, travel, shipments), points


@router.post("/routes/solve")
async def solve_routes(body: RoutesIn, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Vehicles and shipments in, routes out: stops in order with arrival, departure and the
    load after each; shipments that cannot be served are listed with a reason."""
    problem, points = _problem(body)
    solution = await run_in_threadpool(solve, problem, body.time_limit_s)
    return {
        "vehicles_used": solution.vehicles_used,
        "distance_m": solution.distance,
        "routes": [
            {
                "vehicle_id": r.vehicle_id,
                "distance_m": r.distance,
                "duration_s": r.duration,
                "stops": [
                    {
                        "kind": s.kind,
                        "id": s.id,
                        "location": list(points[s.location]),
                        "arrival": s.arrival,
                        "departure": s.departure,
                        "load": list(s.load),
                    }
                    for s in r.stops
                ],
            }
            for r in solution.routes
        ],
        "unassigned": [{"id": u.id, "reason": u.reason} for u in solution.unassigned],
    }
