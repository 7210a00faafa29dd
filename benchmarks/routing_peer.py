"""VROOM (pyvroom) as the routing peer: the same problem and the same integer matrix."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import vroom

from routing.model import Problem
from routing.schedule import Visit, build_route

SCALE = 1000
"""Integer units per second and per distance unit, as inside the OR-Tools model."""


@dataclass(frozen=True)
class PeerResult:
    """What VROOM found: vehicles used, true float distance, unassigned count, wall time."""

    vehicles: int
    distance: float
    unassigned: int
    seconds: float
    plan: dict[int, list[Visit]]


def _tw(a: float, b: float) -> vroom.TimeWindow:
    hi = 2**31 if not math.isfinite(b) else math.floor(b * SCALE + 1e-6)
    return vroom.TimeWindow(max(0, math.floor(a * SCALE + 1e-6)), hi)


def solve_with_vroom(problem: Problem, exploration_level: int = 5, threads: int = 1) -> PeerResult:
    """Solve with VROOM on the matrix OR-Tools sees: durations rounded up, costs rounded.

    Only what the benchmark instances use is mapped: one capacity dimension or more, shifts,
    windows, service times, jobs and shipments (no speed factors, skills or carried loads).
    """
    inp = vroom.Input()
    secs = np.ceil(np.asarray(problem.travel.seconds) * SCALE - 1e-6).astype(np.int64)
    cost = np.rint(np.asarray(problem.travel.metres) * SCALE).astype(np.int64)
    inp.set_durations_matrix(profile="car", matrix_input=secs.tolist())
    inp.set_costs_matrix(profile="car", matrix_input=cost.tolist())
    for k, v in enumerate(problem.vehicles):
        inp.add_vehicle(
            vroom.Vehicle(
                k,
                start=v.start,
                end=v.end,
                capacity=[int(c) for c in v.capacity],
                time_window=_tw(*v.shift),
            )
        )
    visit_of: dict[int, Visit] = {}
    next_id = 1
    for job in problem.jobs:
        amount = [int(a) for a in job.amount]
        kwargs = {"delivery": amount} if job.kind == "delivery" else {"pickup": amount}
        inp.add_job(
            vroom.Job(
                next_id,
                location=job.stop.location,
                default_service=math.ceil(job.stop.service_s * SCALE),
                time_windows=[_tw(*job.stop.time_window)],
                **kwargs,
            )
        )
        visit_of[next_id] = ("job", job.id)
        next_id += 1
    for s in problem.shipments:
        steps = []
        for kind, stop in (("pickup", s.pickup), ("delivery", s.delivery)):
            steps.append(
                vroom.ShipmentStep(
                    next_id,
                    location=stop.location,
                    default_service=math.ceil(stop.service_s * SCALE),
                    time_windows=[_tw(*stop.time_window)],
                )
            )
            visit_of[next_id] = (kind, s.id)  # type: ignore[assignment]
            next_id += 1
        inp.add_shipment(steps[0], steps[1], amount=vroom.Amount([int(a) for a in s.amount]))
    began = time.perf_counter()
    solution = inp.solve(exploration_level=exploration_level, nb_threads=threads)
    seconds = time.perf_counter() - began
    plan: dict[int, list[Visit]] = {}
    routes = solution.routes
    for vehicle_id, typ, step_id in zip(
        routes["vehicle_id"], routes["type"], routes["id"], strict=True
    ):
        if typ in ("job", "pickup", "delivery"):
            plan.setdefault(int(vehicle_id), []).append(visit_of[int(step_id)])
    distance = sum(
        build_route(problem, problem.vehicles[k], seq).distance for k, seq in plan.items()
    )
    return PeerResult(len(plan), distance, int(solution.summary.unassigned), seconds, plan)
