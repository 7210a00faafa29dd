"""Solve a routing problem: fewest vehicles first, then least travel, under a hard time limit."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing.distance_annealing import anneal_distance
from routing.errors import InvalidOption
from routing.insertion import Network
from routing.model import PhaseReport, Problem, Solution, Unassigned
from routing.ortools_model import OrToolsModel, build_model
from routing.precheck import unservable
from routing.route_elimination import eliminate_routes
from routing.schedule import Visit, build_route, visit_stop

FIRST_SOLUTION_STRATEGIES = frozenset(routing_enums_pb2.FirstSolutionStrategy.Value.keys()) - {
    "UNSET",
    "AUTOMATIC",
}
METAHEURISTICS = frozenset(routing_enums_pb2.LocalSearchMetaheuristic.Value.keys()) - {"UNSET"}
_STATUS = {
    v: k.removeprefix("ROUTING_").lower()
    for k, v in routing_enums_pb2.RoutingSearchStatus.Value.items()
}

DROPPED = "dropped by the solver: no feasible place in any route found within the time limit"


@dataclass(frozen=True)
class SolverOptions:
    """How the search runs.

    Parameters
    ----------
    first_solution_strategies
        OR-Tools first-solution strategies tried in turn, each followed by greedy descent;
        the best local optimum is kept.
    metaheuristic
        OR-Tools local-search metaheuristic of every improvement phase.
    minimise_vehicles
        Run the route-elimination phase (``routing.route_elimination``: empty a route, then
        ruin and recreate until its visits fit in the others) before the distance phase.
    ruin_and_recreate
        Improve distance by rounds of ruin (a cluster of nearby items) and greedy re-insertion;
        when False the distance phase runs ``metaheuristic`` from the best plan.
    anneal
        When route elimination emptied a route, shorten its plan by the package's own
        ruin-and-recreate rounds under simulated annealing (``routing.distance_annealing``)
        before the distance phase.
    gls_lambda
        Guided local search penalty coefficient.
    time_scale, distance_scale
        Integer units per second and per distance unit inside OR-Tools.
    """

    first_solution_strategies: tuple[str, ...] = (
        "LOCAL_CHEAPEST_COST_INSERTION",
        "PARALLEL_CHEAPEST_INSERTION",
        "SAVINGS",
    )
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    minimise_vehicles: bool = True
    ruin_and_recreate: bool = True
    anneal: bool = True
    gls_lambda: float = 0.1
    time_scale: float = 1000.0
    distance_scale: float = 1000.0

    def __post_init__(self) -> None:
        bad = [s for s in self.first_solution_strategies if s not in FIRST_SOLUTION_STRATEGIES]
        if bad or not self.first_solution_strategies:
            raise InvalidOption(
                "first_solution_strategies",
                bad or (),
                f"choose from {sorted(FIRST_SOLUTION_STRATEGIES)}",
            )
        if self.metaheuristic not in METAHEURISTICS:
            raise InvalidOption(
                "metaheuristic", self.metaheuristic, f"choose from {sorted(METAHEURISTICS)}"
            )
        for name in ("gls_lambda", "time_scale", "distance_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidOption(name, value, "must be finite and > 0")


Plan = dict[int, list[Visit]]
"""Visits per problem vehicle index."""


@dataclass
class _Best:
    plan: Plan
    dropped: int
    vehicles: int
    distance: float

    def key(self) -> tuple[int, int, float]:
        return (self.dropped, self.vehicles, self.distance)


class _Search:
    """The phases of one solve call, sharing the deadline and the best plan so far."""

    def __init__(
        self, problem: Problem, visits: list[Visit], options: SolverOptions, deadline: float
    ) -> None:
        self.problem = problem
        self.visits = visits
        self.options = options
        self.deadline = deadline
        self.began = time.monotonic()
        self.phases: list[PhaseReport] = []
        self.best: _Best | None = None
        self.fixed_cost = 0
        self._fixed_cost_set = False

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def evaluate(self, plan: Plan) -> _Best:
        served = sum(len(v) for v in plan.values())
        used = sum(1 for v in plan.values() if v)
        distance = sum(
            build_route(self.problem, self.problem.vehicles[k], seq).distance
            for k, seq in plan.items()
            if seq
        )
        return _Best(plan, len(self.visits) - served, used, distance)

    def offer(self, candidate: _Best) -> bool:
        if self.best is None or candidate.key() < self.best.key():
            self.best = candidate
            return True
        return False

    def model(self, vehicles: Sequence[int], fixed_cost: bool) -> OrToolsModel:
        return self._build(vehicles, self.vehicle_cost() if fixed_cost else 0)

    def rebuild(self, model: OrToolsModel) -> OrToolsModel:
        """A fresh OR-Tools model of the same vehicles and costs as ``model``."""
        return self._build(model.vehicles, model.fixed_vehicle_cost)

    def _build(self, vehicles: Sequence[int], fixed_vehicle_cost: int) -> OrToolsModel:
        return build_model(
            self.problem,
            vehicles,
            self.visits,
            fixed_vehicle_cost=fixed_vehicle_cost,
            time_scale=self.options.time_scale,
            distance_scale=self.options.distance_scale,
        )

    def vehicle_cost(self) -> int:
        if not self._fixed_cost_set:
            # More than any route can cost, so one vehicle fewer always beats any distance saving.
            secs = self.problem.travel.metres
            self.fixed_cost = (
                int(
                    float(secs.max(initial=0.0))
                    * (len(self.visits) + 2)
                    * self.options.distance_scale
                )
                + 1
            )
            self._fixed_cost_set = True
        return self.fixed_cost

    def params(
        self, seconds: float, strategy: str | None, metaheuristic: str
    ) -> pywrapcp.DefaultRoutingSearchParameters:
        p = pywrapcp.DefaultRoutingSearchParameters()
        if strategy is not None:
            p.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, strategy)
        p.local_search_metaheuristic = getattr(
            routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic
        )
        p.guided_local_search_lambda_coefficient = self.options.gls_lambda
        p.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
        return p

    def run(
        self,
        name: str,
        model: OrToolsModel,
        seconds: float,
        *,
        strategy: str | None = None,
        start: Plan | None = None,
        metaheuristic: str | None = None,
    ) -> _Best | None:
        started = time.monotonic() - self.began
        seconds = min(seconds, self.remaining())
        if seconds <= 0.001:
            return None
        params = self.params(seconds, strategy, metaheuristic or self.options.metaheuristic)
        if start is not None:
            initial = model.assignment_from(start)
            solution = (
                model.routing.SolveFromAssignmentWithParameters(initial, params)
                if initial is not None
                else None
            )
        else:
            solution = model.routing.SolveWithParameters(params)
        status = _STATUS.get(model.routing.status(), "unknown")
        if solution is None:
            self.phases.append(PhaseReport(name, started, seconds, status, 0, math.nan))
            return None
        plan = model.routes_of(solution)
        result = self.evaluate(plan)
        self.phases.append(
            PhaseReport(name, started, seconds, status, result.vehicles, result.distance)
        )
        self.offer(result)
        return result


def _visits(problem: Problem, excluded: set[str]) -> list[Visit]:
    carried = {sid for v in problem.vehicles for sid in v.carrying}
    visits: list[Visit] = []
    for s in problem.shipments:
        if s.id in excluded:
            continue
        if s.id not in carried:
            visits.append(("pickup", s.id))
        visits.append(("delivery", s.id))
    visits.extend(("job", j.id) for j in problem.jobs if j.id not in excluded)
    return visits


def solve(
    problem: Problem, time_limit_s: float = 10.0, options: SolverOptions | None = None
) -> Solution:
    """Route the problem's shipments and jobs with its vehicles.

    Parameters
    ----------
    problem
        Vehicles, shipments, jobs and the travel matrix.
    time_limit_s
        Hard limit on the whole search, split between the phases (first solutions, vehicle
        reduction, distance).
    options
        Strategies and scales; the defaults suit both live dispatch and the benchmarks.

    Returns
    -------
    Solution
        One route per used vehicle with timed stops and loads, the true float distance,
        and every shipment or job no route serves, with the reason.
    """
    options = options or SolverOptions()
    if not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise InvalidOption("time_limit_s", time_limit_s, "must be finite and > 0")
    deadline = time.monotonic() + time_limit_s
    reasons = unservable(problem)
    visits = _visits(problem, set(reasons) - {s for v in problem.vehicles for s in v.carrying})
    search = _Search(problem, visits, options, deadline)
    if visits:
        _search(search, time_limit_s)
    plan = search.best.plan if search.best else {}
    return _solution(problem, plan, visits, reasons, time_limit_s, search.phases)


START_SHARE = 0.15
"""Share of the time limit for the multi-start phase."""
RUIN_ROUND_S = 0.5
"""Time cap of one ruin-and-recreate round (greedy descent usually ends far sooner)."""
ELIMINATE_UNTIL = 0.65
"""Share of the time limit by which the route-elimination phase ends."""
PATIENCE_SHARE = 0.3
"""Route elimination gives up after this share of the time limit without a route emptied.

(0.25 before: the first route of a type-2 plan, 25-50 visits each, took 3-4 s to empty on
R207 and R211. 0.4 cost the type-2 plans that cannot lose a route 1.5 s of distance search,
+1 to +5 points of gap on R201, R205, R209 in a sample.)"""
DESCENT_SHARE = 0.05
"""Share of the time limit left to OR-Tools' own descent after the annealing phase."""


def _search(search: _Search, total: float) -> None:
    problem = search.problem
    everyone = list(range(len(problem.vehicles)))
    opts = search.options
    first = search.model(everyone, fixed_cost=True)
    # Greedy descent from several first solutions lands in different local optima; on the
    # benchmarks the best of them beats one long guided search from a single start, which
    # tends to stall in the first optimum it reaches.
    starts_until = time.monotonic() + START_SHARE * total
    strategies = opts.first_solution_strategies
    for i, strategy in enumerate(strategies):
        left = max(0.0, starts_until - time.monotonic()) / (len(strategies) - i)
        # A floor keeps tiny limits from starving a strategy (a first solution takes ms).
        share = max(left, min(0.05, total / 4))
        search.run(
            f"start:{strategy}", first, share, strategy=strategy, metaheuristic="GREEDY_DESCENT"
        )
    if search.best is None:
        return
    started_with = search.best.vehicles
    if opts.minimise_vehicles:
        used = sorted(k for k, seq in search.best.plan.items() if seq)
        _own_phase(
            search,
            "vehicles:eliminate",
            search.began + ELIMINATE_UNTIL * total,
            used,
            partial(eliminate_routes, patience=PATIENCE_SHARE * total),
        )
    assert search.best is not None
    used = sorted(k for k, seq in search.best.plan.items() if seq) or everyone
    keep = sorted(set(used) | {k for k, v in enumerate(problem.vehicles) if v.carrying})
    # From a plan of fewer routes than any start, the annealing repairs the distance that
    # elimination ignored; from an OR-Tools local optimum, OR-Tools' own ruin-and-recreate
    # rounds did better on the benchmarks (lrc204, lrc205, C204), so they get all the time.
    if opts.anneal and search.best.vehicles < started_with:
        _own_phase(
            search,
            "distance:anneal",
            search.deadline - DESCENT_SHARE * total,
            keep,
            anneal_distance,
        )
    final = search.model(keep, fixed_cost=not opts.minimise_vehicles)
    if opts.ruin_and_recreate:
        _ruin_and_recreate(search, final, search.best.plan, search.deadline, "distance")
    else:
        search.run("distance", final, search.remaining(), start=search.best.plan)


def _ruin(
    problem: Problem, plan: Plan, visits: Sequence[Visit], rng: random.Random
) -> tuple[Plan, int]:
    """The plan without a cluster of nearby items: around a dropped item if any, else at random."""
    served = [(kind, item) for seq in plan.values() for kind, item in seq if kind != "delivery"]
    in_plan = {item for _, item in served}
    dropped = [(kind, item) for kind, item in visits if kind != "delivery" and item not in in_plan]
    if not served:
        return plan, 0
    seed = rng.choice(dropped or served)
    metres = problem.travel.metres
    here = visit_stop(problem, seed)[0].location
    near = sorted(served, key=lambda x: float(metres[here, visit_stop(problem, x)[0].location]))
    size = rng.randint(max(2, len(served) // 20), max(3, len(served) // 7))
    ruined = {item for _, item in near[:size]}
    return {k: [x for x in seq if x[1] not in ruined] for k, seq in plan.items()}, len(ruined)


def _ruin_and_recreate(
    search: _Search, model: OrToolsModel, plan: Plan, until: float, name: str
) -> _Best | None:
    """Rounds of ruin (a cluster of nearby items) and greedy re-insertion, keeping the best.

    The guided search of OR-Tools stalls on long routes with wide windows (it keeps undoing its
    own moves); ruining a neighbourhood and descending again escapes such optima. Stops at
    ``until``, or as soon as nothing is dropped when ``name`` starts with ``vehicles``.
    """
    rng = random.Random(len(model.vehicles))
    best = search.run(name, model, RUIN_ROUND_S, start=plan, metaheuristic="GREEDY_DESCENT")
    if best is None and until - time.monotonic() > 0.05:
        # The first restore failed at once (see the rebuild below): fall back on a fresh model.
        model = search.rebuild(model)
        return search.run(f"{name}:fallback", model, until - time.monotonic(), start=plan)
    failures = 0
    # A round needs a few tens of milliseconds at least; shorter ones would only spin.
    while best is not None and until - time.monotonic() > 0.05 and search.remaining() > 0.05:
        if name.startswith("vehicles") and best.dropped == 0:
            break
        if failures >= 3:
            # OR-Tools now and then rejects restored starts at once; rather than spin on that,
            # spend what is left on the configured metaheuristic from the best plan.
            seconds = until - time.monotonic()
            model = search.rebuild(model)
            result = search.run(f"{name}:fallback", model, seconds, start=best.plan)
            if result is not None and (result.dropped, result.distance) < (
                best.dropped,
                best.distance,
            ):
                best = result
            break
        start, size = _ruin(search.problem, best.plan, model.visits, rng)
        seconds = min(RUIN_ROUND_S, max(0.0, until - time.monotonic()))
        result = search.run(
            f"{name}:ruin-{size}", model, seconds, start=start, metaheuristic="GREEDY_DESCENT"
        )
        failures = failures + 1 if result is None else 0
        if result is None:
            # After a search that hit its time limit, OR-Tools sometimes rejects every later
            # start on the same model at once; a fresh model of the same vehicles does not.
            model = search.rebuild(model)
        if result is not None and (result.dropped, result.distance) <= (
            best.dropped,
            best.distance,
        ):
            best = result
    return best


def _own_phase(
    search: _Search,
    name: str,
    until: float,
    keep: Sequence[int],
    improve: Callable[[Network, dict[int, list[int]], float, int], dict[int, list[int]]],
) -> None:
    """Run one of the package's own heuristics on the best plan (vehicles ``keep``) and offer it."""
    assert search.best is not None
    if search.best.dropped or until <= time.monotonic():
        return
    started = time.monotonic() - search.began
    net = Network(search.problem, search.visits, search.options.time_scale)
    node_of = {x: i for i, x in enumerate(net.visits)}
    plan = search.best.plan
    routes = {k: [node_of[x] for x in plan.get(k, [])] for k in keep}
    found = improve(net, routes, until, len(search.visits))
    result = search.evaluate({k: [net.visits[x] for x in nodes] for k, nodes in found.items()})
    search.phases.append(
        PhaseReport(
            name,
            started,
            until - search.began - started,
            "success",
            result.vehicles,
            result.distance,
        )
    )
    search.offer(result)


def _solution(
    problem: Problem,
    plan: Plan,
    visits: list[Visit],
    reasons: dict[str, str],
    time_limit_s: float,
    phases: list[PhaseReport],
) -> Solution:
    routes = tuple(
        build_route(problem, problem.vehicles[k], seq) for k, seq in sorted(plan.items()) if seq
    )
    served = {item for seq in plan.values() for _, item in seq}
    dropped = {i: DROPPED for _, i in visits if i not in served}
    unassigned = [
        Unassigned(i, "shipment" if i in problem.shipments_by_id else "job", reason)
        for i, reason in (reasons | dropped).items()
    ]
    return Solution(
        routes=routes,
        unassigned=tuple(unassigned),
        distance=sum(r.distance for r in routes),
        time_limit_s=time_limit_s,
        phases=tuple(phases),
    )
