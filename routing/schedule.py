"""Earliest-start schedule of a visit sequence: float arrival, service and departure times, loads."""

from __future__ import annotations

from collections.abc import Sequence

from routing.model import Problem, Route, RouteStop, Stop, StopKind, Vehicle

Visit = tuple[StopKind, str]
"""``("job" | "pickup" | "delivery", id)``: one visit of a route, before it is timed."""


def visit_stop(problem: Problem, visit: Visit) -> tuple[Stop, tuple[float, ...]]:
    """The stop of a visit and its signed load change (positive when goods come on board)."""
    kind, item_id = visit
    if kind == "job":
        job = problem.jobs_by_id[item_id]
        sign = 1.0 if job.kind == "pickup" else -1.0
        return job.stop, tuple(sign * a for a in job.amount)
    shipment = problem.shipments_by_id[item_id]
    if kind == "pickup":
        return shipment.pickup, shipment.amount
    return shipment.delivery, tuple(-a for a in shipment.amount)


def start_load(problem: Problem, vehicle: Vehicle, visits: Sequence[Visit]) -> list[float]:
    """Goods on board when leaving the start: carried shipments plus the deliveries on the route."""
    load = [0.0] * problem.dimensions
    for sid in vehicle.carrying:
        load = [a + b for a, b in zip(load, problem.shipments_by_id[sid].amount, strict=True)]
    for kind, item_id in visits:
        if kind == "job" and problem.jobs_by_id[item_id].kind == "delivery":
            amount = problem.jobs_by_id[item_id].amount
            load = [a + b for a, b in zip(load, amount, strict=True)]
    return load


def build_route(problem: Problem, vehicle: Vehicle, visits: Sequence[Visit]) -> Route:
    """Time a visit sequence: leave at shift start, wait for each window to open, never earlier.

    Parameters
    ----------
    problem
        The problem the visits belong to.
    vehicle
        The vehicle driving them; its speed factor divides matrix durations.
    visits
        Ordered visits, without the start and end.

    Returns
    -------
    Route
        Stops from start to end (no end stop for an open route), the travelled distance in the
        matrix's unit and the duration from departure to the end.
    """
    secs = problem.travel.seconds
    metres = problem.travel.metres
    load = start_load(problem, vehicle, visits)
    t = vehicle.shift[0]
    here = vehicle.start
    stops = [RouteStop("start", None, here, t, t, t, tuple(load))]
    distance = 0.0
    for kind, item_id in visits:
        stop, change = visit_stop(problem, (kind, item_id))
        arrival = t + float(secs[here, stop.location]) / vehicle.speed_factor
        distance += float(metres[here, stop.location])
        begin = max(arrival, stop.time_window[0])
        t = begin + stop.service_s
        load = [a + b for a, b in zip(load, change, strict=True)]
        here = stop.location
        stops.append(RouteStop(kind, item_id, here, arrival, begin, t, tuple(load)))
    if vehicle.end is not None:
        arrival = t + float(secs[here, vehicle.end]) / vehicle.speed_factor
        distance += float(metres[here, vehicle.end])
        t = arrival
        stops.append(RouteStop("end", None, vehicle.end, arrival, arrival, arrival, tuple(load)))
    return Route(vehicle.id, tuple(stops), distance, t - vehicle.shift[0])
