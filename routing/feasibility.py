"""Independent feasibility checker of a solution against its problem; used by tests and precheck."""

from __future__ import annotations

import itertools
from collections import Counter

from routing.model import Problem, Route, Solution, Vehicle
from routing.schedule import Visit, start_load, visit_stop

TOLERANCE = 1e-6


def route_violations(
    problem: Problem, route: Route, tol: float = TOLERANCE, vehicle: Vehicle | None = None
) -> list[str]:
    """Everything wrong with one route: times, windows, shift, loads, precedence, skills, distance.

    ``vehicle`` overrides the problem's vehicle of the route's id (to check a hypothetical route).

    Returns
    -------
    list of str
        One readable line per violation; empty when the route is feasible.
    """
    out: list[str] = []
    if vehicle is None:
        vehicle = next((v for v in problem.vehicles if v.id == route.vehicle_id), None)
    if vehicle is None:
        return [f"route of unknown vehicle {route.vehicle_id!r}"]
    name = f"vehicle {vehicle.id}"
    stops = route.stops
    if not stops or stops[0].kind != "start" or stops[0].location != vehicle.start:
        return [f"{name}: route does not begin at its start location {vehicle.start}"]
    if vehicle.end is not None and (stops[-1].kind != "end" or stops[-1].location != vehicle.end):
        out.append(f"{name}: route does not end at its end location {vehicle.end}")
    visits: list[Visit] = [(s.kind, s.id) for s in stops if s.kind not in ("start", "end") and s.id]
    if len(visits) != sum(1 for s in stops if s.kind not in ("start", "end")):
        out.append(f"{name}: a visit without an id")
    if any(s.kind in ("start", "end") for s in stops[1:-1]):
        out.append(f"{name}: start or end in the middle of the route")
    if vehicle.max_stops is not None and len(visits) > vehicle.max_stops:
        out.append(f"{name}: {len(visits)} stops > max_stops {vehicle.max_stops}")
    secs, metres = problem.travel.seconds, problem.travel.metres
    if stops[0].departure < vehicle.shift[0] - tol:
        out.append(f"{name}: leaves at {stops[0].departure} before its shift {vehicle.shift}")
    if stops[-1].departure > vehicle.shift[1] + tol:
        out.append(f"{name}: finishes at {stops[-1].departure} after its shift {vehicle.shift}")
    load = start_load(problem, vehicle, visits)
    out += _load_problems(name, "start", load, stops[0].load, vehicle.capacity, tol)
    picked: set[str] = set()
    distance = 0.0
    for prev, stop in itertools.pairwise(stops):
        travel = float(secs[prev.location, stop.location]) / vehicle.speed_factor
        distance += float(metres[prev.location, stop.location])
        where = f"{name} at {stop.kind} {stop.id}"
        if stop.arrival < prev.departure + travel - tol:
            out.append(f"{where}: arrives {stop.arrival} before it can ({prev.departure + travel})")
        if stop.kind == "end" or stop.id is None:
            continue
        try:
            spec, change = visit_stop(problem, (stop.kind, stop.id))
        except KeyError:
            out.append(f"{where}: no such {stop.kind}")
            continue
        if stop.location != spec.location:
            out.append(f"{where}: at location {stop.location}, expected {spec.location}")
        a, b = spec.time_window
        if stop.start < max(a, stop.arrival) - tol or stop.start > b + tol:
            out.append(f"{where}: service starts {stop.start} outside window {spec.time_window}")
        if stop.departure < stop.start + spec.service_s - tol:
            out.append(f"{where}: leaves {stop.departure} before service ends")
        load = [x + d for x, d in zip(load, change, strict=True)]
        out += _load_problems(
            name, f"{stop.kind} {stop.id}", load, stop.load, vehicle.capacity, tol
        )
        item = problem.jobs_by_id.get(stop.id) or problem.shipments_by_id.get(stop.id)
        if item is not None and not item.skills <= vehicle.skills:
            out.append(f"{where}: needs skills {sorted(item.skills - vehicle.skills)}")
        if stop.kind == "pickup":
            if stop.id in vehicle.carrying:
                out.append(f"{where}: shipment already on board")
            picked.add(stop.id)
        elif stop.kind == "delivery" and stop.id not in picked and stop.id not in vehicle.carrying:
            out.append(f"{where}: delivered before (or without) its pickup on this vehicle")
    undelivered = (picked | set(vehicle.carrying)) - {i for k, i in visits if k == "delivery"}
    if undelivered:
        out.append(f"{name}: shipments on board never delivered: {sorted(undelivered)}")
    if abs(distance - route.distance) > tol * max(1.0, distance):
        out.append(f"{name}: reports distance {route.distance}, recomputed {distance}")
    return out


def _load_problems(
    name: str,
    where: str,
    expected: list[float],
    reported: tuple[float, ...],
    capacity: tuple[float, ...],
    tol: float,
) -> list[str]:
    out = []
    if len(reported) != len(expected) or any(
        abs(x - y) > tol for x, y in zip(expected, reported, strict=False)
    ):
        out.append(f"{name} at {where}: reports load {reported}, recomputed {tuple(expected)}")
    if any(x < -tol or x > c + tol for x, c in zip(expected, capacity, strict=True)):
        out.append(f"{name} at {where}: load {tuple(expected)} outside [0, {capacity}]")
    return out


def check_solution(problem: Problem, solution: Solution, tol: float = TOLERANCE) -> list[str]:
    """Every violation of a solution: per route, and every shipment and job served once or reported.

    Returns
    -------
    list of str
        Empty when the solution is feasible and complete.
    """
    out: list[str] = []
    vehicle_count = Counter(r.vehicle_id for r in solution.routes)
    out += [f"vehicle {v} has {c} routes" for v, c in vehicle_count.items() if c > 1]
    for route in solution.routes:
        out += route_violations(problem, route, tol)
    seen = Counter(
        (s.kind, s.id) for r in solution.routes for s in r.stops if s.kind not in ("start", "end")
    )
    unassigned = Counter(u.id for u in solution.unassigned)
    carried = {sid for v in problem.vehicles for sid in v.carrying}
    expected: dict[str, list[Visit]] = {j.id: [("job", j.id)] for j in problem.jobs}
    for s in problem.shipments:
        expected[s.id] = (
            [("delivery", s.id)] if s.id in carried else [("pickup", s.id), ("delivery", s.id)]
        )
    for item, wanted in expected.items():
        counts = [seen.get(v, 0) for v in wanted]
        routed = all(c == 1 for c in counts)
        absent = all(c == 0 for c in counts)
        if not (routed or absent):
            out.append(f"{item}: visited {counts} times, expected once each")
        elif routed == bool(unassigned.get(item)):
            out.append(f"{item}: must be either routed or reported unassigned, exactly one of them")
        if unassigned.get(item, 0) > 1:
            out.append(f"{item}: reported unassigned {unassigned[item]} times")
    extra = set(unassigned) - set(expected)
    out += [f"{item}: unassigned but not in the problem" for item in sorted(extra)]
    total = sum(r.distance for r in solution.routes)
    if abs(total - solution.distance) > tol * max(1.0, total):
        out.append(f"solution reports distance {solution.distance}, routes sum to {total}")
    return out
