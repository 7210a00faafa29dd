"""Builds the OR-Tools routing model of a problem over a chosen subset of its vehicles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp

from routing.model import Problem, Vehicle
from routing.schedule import Visit, visit_stop
from routing.time_axis import time_axis

IntArray = npt.NDArray[np.int64]


@dataclass
class OrToolsModel:
    """An OR-Tools routing model and the mapping between its nodes and the problem's visits.

    Nodes ``0 .. len(visits) - 1`` are the visits; after them come one start and one end node per
    vehicle in ``vehicles`` (indices into ``problem.vehicles``).
    """

    problem: Problem
    vehicles: list[int]
    visits: list[Visit]
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time_scale: float
    fixed_vehicle_cost: int = 0

    def routes_of(self, assignment: pywrapcp.Assignment) -> dict[int, list[Visit]]:
        """Visits per problem vehicle index in an assignment (vehicles with no visit included)."""
        out: dict[int, list[Visit]] = {}
        for k, v in enumerate(self.vehicles):
            index = self.routing.Start(k)
            seq: list[Visit] = []
            index = assignment.Value(self.routing.NextVar(index))
            while not self.routing.IsEnd(index):
                seq.append(self.visits[self.manager.IndexToNode(index)])
                index = assignment.Value(self.routing.NextVar(index))
            out[v] = seq
        return out

    def assignment_from(self, routes: dict[int, list[Visit]]) -> pywrapcp.Assignment | None:
        """An assignment holding the given routes; visits not listed stay unperformed."""
        node_of = {visit: i for i, visit in enumerate(self.visits)}
        seqs = [
            [self.manager.NodeToIndex(node_of[x]) for x in routes.get(v, []) if x in node_of]
            for v in self.vehicles
        ]
        result: pywrapcp.Assignment | None = self.routing.ReadAssignmentFromRoutes(seqs, True)
        return result


def build_model(
    problem: Problem,
    vehicles: Sequence[int],
    visits: Sequence[Visit],
    *,
    fixed_vehicle_cost: int = 0,
    time_scale: float = 1000.0,
    distance_scale: float = 1000.0,
) -> OrToolsModel:
    """Build the OR-Tools model of ``visits`` served by ``problem.vehicles[i] for i in vehicles``.

    Parameters
    ----------
    problem
        The problem; matrix durations and distances are scaled to integers.
    vehicles
        Indices of the vehicles available to this model.
    visits
        Pickups, deliveries and jobs to route; a shipment's pickup and delivery must both be
        listed unless the shipment is carried (then only its delivery).
    fixed_vehicle_cost
        Cost of using a vehicle, in scaled distance units; large values minimise vehicles first.
    time_scale, distance_scale
        Integer units per second and per distance unit.
    """
    vs = [problem.vehicles[i] for i in vehicles]
    m = len(visits)
    nv = len(vs)
    stops = [visit_stop(problem, x) for x in visits]
    loc = np.array(
        [s.location for s, _ in stops]
        + [v.start for v in vs]
        + [v.end if v.end is not None else -1 for v in vs],
        dtype=np.int64,
    )
    n = loc.size
    open_end = loc < 0
    safe = np.where(open_end, 0, loc)
    secs = np.asarray(problem.travel.seconds, dtype=np.float64)[np.ix_(safe, safe)]
    dist = np.asarray(problem.travel.metres, dtype=np.float64)[np.ix_(safe, safe)]
    secs[:, open_end] = 0.0
    dist[:, open_end] = 0.0
    service = np.zeros(n)
    service[:m] = [s.service_s for s, _ in stops]

    manager = pywrapcp.RoutingIndexManager(
        n, nv, [m + k for k in range(nv)], [m + nv + k for k in range(nv)]
    )
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()

    # Matrices registered as such are evaluated in C++, far faster than Python callbacks.
    cost = np.rint(dist * distance_scale).astype(np.int64)
    cost_cb = routing.RegisterTransitMatrix(cost.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
    if fixed_vehicle_cost:
        routing.SetFixedCostOfAllVehicles(int(fixed_vehicle_cost))

    axis = time_axis(problem, visits, time_scale)
    horizon = axis.horizon
    time_cbs: dict[float, int] = {}
    per_vehicle = []
    for v in vs:
        if v.speed_factor not in time_cbs:
            transit = axis.transit(service, secs, v.speed_factor)
            time_cbs[v.speed_factor] = routing.RegisterTransitMatrix(transit.tolist())
        per_vehicle.append(time_cbs[v.speed_factor])
    routing.AddDimensionWithVehicleTransits(per_vehicle, horizon, horizon, False, "time")
    time = routing.GetDimensionOrDie("time")
    for node, (s, _) in enumerate(stops):
        index = manager.NodeToIndex(node)
        time.CumulVar(index).SetRange(axis.at(s.time_window[0]), axis.at(s.time_window[1]))
    for k, v in enumerate(vs):
        lo, hi = axis.at(v.shift[0]), axis.at(v.shift[1])
        time.CumulVar(routing.Start(k)).SetRange(lo, hi)
        time.CumulVar(routing.End(k)).SetRange(lo, hi)

    _add_capacities(problem, routing, visits, stops, vs, n)
    if any(v.max_stops is not None for v in vs):
        ones = [1] * m + [0] * (n - m)
        cb = routing.RegisterUnaryTransitVector(ones)
        limits = [m if v.max_stops is None else v.max_stops for v in vs]
        routing.AddDimensionWithVehicleCapacity(cb, 0, limits, True, "stops")

    _add_pairs_skills_and_penalties(problem, routing, manager, visits, vs, cost, fixed_vehicle_cost)
    node_of = {visit: node for node, visit in enumerate(visits)}
    for node, (kind, sid) in enumerate(visits):
        if kind == "pickup":
            d = manager.NodeToIndex(node_of["delivery", sid])
            p = manager.NodeToIndex(node)
            routing.AddPickupAndDelivery(p, d)
            solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
            solver.Add(time.CumulVar(p) <= time.CumulVar(d))
    return OrToolsModel(
        problem, list(vehicles), list(visits), manager, routing, time_scale, fixed_vehicle_cost
    )


def amount_scale(problem: Problem) -> float:
    values = [a for v in problem.vehicles for a in v.capacity]
    values += [a for s in problem.shipments for a in s.amount]
    values += [a for j in problem.jobs for a in j.amount]
    finite = [a for a in values if math.isfinite(a)]
    return 1.0 if all(float(a).is_integer() for a in finite) else 1000.0


def _add_capacities(
    problem: Problem,
    routing: pywrapcp.RoutingModel,
    visits: Sequence[Visit],
    stops: Sequence[tuple[object, tuple[float, ...]]],
    vs: Sequence[Vehicle],
    n: int,
) -> None:
    scale = amount_scale(problem)
    kinds = {problem.jobs_by_id[i].kind for k, i in visits if k == "job"}
    carrying = any(v.carrying for v in vs)
    has_shipments = any(k != "job" for k, _ in visits)
    # Deliveries alone: counting them up from zero is the same constraint as unloading them
    # down from a full start, and propagates better than a free start load.
    count_up = kinds == {"delivery"} and not has_shipments and not carrying
    free_start = "delivery" in kinds and not count_up
    for d in range(problem.dimensions):
        change = [0] * n
        for node, (_, delta) in enumerate(stops):
            value = round(delta[d] * scale)
            change[node] = abs(value) if count_up else value
        cb = routing.RegisterUnaryTransitVector(change)
        caps = [
            math.floor(v.capacity[d] * scale) if math.isfinite(v.capacity[d]) else 2**40 for v in vs
        ]
        name = f"capacity{d}"
        routing.AddDimensionWithVehicleCapacity(cb, 0, caps, False, name)
        dim = routing.GetDimensionOrDie(name)
        delivered = None
        if free_start:
            # The start load must be exactly what the route's delivery jobs unload (plus what is
            # carried), else goods picked up on the way could be "delivered" as job deliveries.
            unloads = [
                max(0, -c) if k < len(visits) and visits[k][0] == "job" else 0
                for k, c in enumerate(change)
            ]
            ucb = routing.RegisterUnaryTransitVector(unloads)
            routing.AddDimensionWithVehicleCapacity(ucb, 0, caps, True, f"delivered{d}")
            delivered = routing.GetDimensionOrDie(f"delivered{d}")
        for k, v in enumerate(vs):
            carried = round(sum(problem.shipments_by_id[s].amount[d] for s in v.carrying) * scale)
            start = dim.CumulVar(routing.Start(k))
            if delivered is not None:
                routing.solver().Add(start == carried + delivered.CumulVar(routing.End(k)))
            else:
                start.SetValue(min(carried, caps[k]))


def _add_pairs_skills_and_penalties(
    problem: Problem,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    visits: Sequence[Visit],
    vs: Sequence[Vehicle],
    cost: IntArray,
    fixed_vehicle_cost: int,
) -> None:
    carrier = {sid: k for k, v in enumerate(vs) for sid in v.carrying}
    base = int(fixed_vehicle_cost + 100 * (int(cost.max(initial=0)) + 1))
    for node, (kind, item_id) in enumerate(visits):
        index = manager.NodeToIndex(node)
        if kind == "job":
            job = problem.jobs_by_id[item_id]
            skills, priority = job.skills, job.priority
        else:
            shipment = problem.shipments_by_id[item_id]
            skills, priority = shipment.skills, shipment.priority
        if item_id in carrier:
            routing.VehicleVar(index).SetValues([-1, carrier[item_id]])
            # A carried delivery that cannot be made is reported, so it must cost the most.
            routing.AddDisjunction([index], base * 1000)
            continue
        allowed = [k for k, v in enumerate(vs) if skills <= v.skills]
        if len(allowed) < len(vs):
            # -1 keeps the visit droppable (and forces it out when no vehicle here may serve it).
            routing.VehicleVar(index).SetValues([-1, *allowed])
        routing.AddDisjunction([index], base * (1 + max(priority, 0)))
