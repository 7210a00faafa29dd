import itertools
import math
import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.distance_annealing import anneal_distance
from routing.feasibility import check_solution, route_violations
from routing.insertion import Item, Network, Route
from routing.model import Job, Problem, Shipment, Stop, Vehicle
from routing.route_elimination import best_ejection, eliminate_routes
from routing.schedule import build_route
from routing.solver import _visits, solve
from routing.travel_time import EuclideanTravelTime
from tests.routing.random_problems import random_problem


def _network(problem: Problem) -> Network:
    return Network(problem, _visits(problem, set()), 1000.0)


def _placements(route: Route, item: Item) -> list[tuple[int, int, list[int]]]:
    """Every way to put the item into the route: (i, j, nodes), as ``cheapest`` numbers them."""
    nodes = route.nodes
    out = []
    for i in range(len(nodes) + 1):
        if len(item.nodes) == 1:
            out.append((i, i, [*nodes[:i], item.nodes[0], *nodes[i:]]))
            continue
        p, q = item.nodes
        for j in range(i, len(nodes) + 1):
            out.append((i, j, [*nodes[:i], p, *nodes[i:j], q, *nodes[j:]]))
    return out


def _random_route(net: Network, vehicle: int, rng: random.Random) -> tuple[Route, list[int]]:
    """A feasible route built by brute force (random feasible placements), and the items left."""
    route = Route(net, vehicle, [])
    order = list(range(len(net.items)))
    rng.shuffle(order)
    left = []
    for k in order:
        ok = [
            n for _, _, n in _placements(route, net.items[k]) if Route(net, vehicle, n).feasible()
        ]
        if ok and rng.random() < 0.7:
            route.nodes = rng.choice(ok)
            route.refresh()
        else:
            left.append(k)
    return route, left


def _random_case(seed: int, vehicle: int) -> tuple[Network, random.Random, Route, list[int]]:
    """A random problem's network, a seeded generator, a random route and the items left."""
    net = _network(random_problem(seed % 50, shipments=5, jobs=4))
    rng = random.Random(seed)
    return (net, rng, *_random_route(net, vehicle, rng))


def _float_feasible(net: Network, route: Route) -> bool:
    problem = net.problem
    vehicle = problem.vehicles[route.vehicle]
    timed = build_route(problem, vehicle, route.visits())
    return route_violations(problem, timed) == []


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 2))
def test_cheapest_insertion_matches_brute_force(seed: int, vehicle: int) -> None:
    net, _rng, route, left = _random_case(seed, vehicle)
    assert route.feasible()
    assert _float_feasible(net, route)
    for k in left:
        item = net.items[k]
        cost, i, j = route.cheapest(item)
        costs = {
            (a, b): Route(net, vehicle, n).cost - route.cost
            for a, b, n in _placements(route, item)
            if vehicle in item.vehicles and Route(net, vehicle, n).feasible()
        }
        if not costs:
            assert math.isinf(cost)
            continue
        assert cost == pytest.approx(min(costs.values()), abs=1e-9)
        assert costs[i, j] == pytest.approx(cost, abs=1e-9)
        trial = Route(net, vehicle, list(route.nodes))
        trial.insert(item, i, j)
        assert trial.feasible()
        assert _float_feasible(net, trial)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 2))
def test_ejection_matches_brute_force(seed: int, size: int) -> None:
    net, rng, route, left = _random_case(seed, 2)
    served = sorted({net.item_of_node[x] for x in route.nodes})
    absences = [rng.randrange(4) for _ in net.items]
    among = set(rng.sample(served, min(len(served), 4))) if rng.random() < 0.5 else None
    before = route.state()
    for v in left:
        move = best_ejection(net, [route], v, absences, size, rng, among)
        assert route.state() == before
        # Brute force: every group of ``size`` movable items (from ``among``), rebuilt from scratch.
        scores = []
        for group in itertools.combinations(served, size):
            if not all(net.items[u].movable for u in group):
                continue
            if among is not None and not set(group) <= among:
                continue
            trial = Route(net, 2, [x for x in route.nodes if net.item_of_node[x] not in group])
            cost = trial.cheapest(net.items[v])[0] if trial.feasible() else math.inf
            if not math.isinf(cost):
                scores.append((sum(absences[u] for u in group), cost))
        if not scores:
            assert move is None
            continue
        assert move is not None
        r, gone, i, j = move
        assert r is route
        trial = Route(net, 2, [x for x in route.nodes if net.item_of_node[x] not in gone])
        shorter = trial.cost
        trial.insert(net.items[v], i, j)
        assert trial.feasible()
        assert _float_feasible(net, trial)
        lost = sum(absences[u] for u in gone)
        assert (lost, trial.cost - shorter) == pytest.approx(min(scores), abs=1e-9)


def _plan(net: Network, seed: int) -> dict[int, list[int]]:
    """Every item routed: one vehicle per item where possible, else none (skipped)."""
    rng = random.Random(seed)
    routes: dict[int, list[int]] = {k: [] for k in range(len(net.problem.vehicles))}
    for item in net.items:
        for k in rng.sample(sorted(routes), len(routes)):
            trial = Route(net, k, routes[k])
            cost, i, j = trial.cheapest(item)
            if not math.isinf(cost):
                trial.insert(item, i, j)
                routes[k] = trial.nodes
                break
    return routes


def _served(routes: dict[int, list[int]]) -> list[int]:
    return sorted(x for nodes in routes.values() for x in nodes)


@pytest.mark.parametrize("seed", range(6))
def test_elimination_and_annealing_keep_every_visit_and_stay_feasible(seed: int) -> None:
    problem = random_problem(seed, shipments=6, jobs=3, vehicles=4)
    net = _network(problem)
    start = _plan(net, seed)
    cost = sum(Route(net, k, n).cost for k, n in start.items())
    fewer = eliminate_routes(net, start, time.monotonic() + 0.3, seed=seed)
    assert _served(fewer) == _served(start)
    assert len(fewer) <= sum(1 for n in start.values() if n)
    shorter = anneal_distance(net, start, time.monotonic() + 0.3, seed=seed)
    assert _served(shorter) == _served(start)
    assert sum(Route(net, k, n).cost for k, n in shorter.items()) <= cost + 1e-9
    for routes in (fewer, shorter):
        for k, nodes in routes.items():
            route = Route(net, k, nodes)
            assert route.feasible()
            assert _float_feasible(net, route)


def test_elimination_merges_routes_that_fit_in_one() -> None:
    # Roomy vehicles, wide windows: the items of four routes fit on one vehicle.
    problem = random_problem(3, shipments=4, jobs=0, vehicles=4)
    wide = Problem(
        vehicles=tuple(Vehicle(v.id, 0, 0, (100.0, 100.0), (0.0, 1e5)) for v in problem.vehicles),
        travel=problem.travel,
        shipments=tuple(
            Shipment(
                s.id,
                Stop(s.pickup.location),
                Stop(s.delivery.location),
                s.amount,
            )
            for s in problem.shipments
        ),
    )
    net = _network(wide)
    start = {k: list(item.nodes) for k, item in enumerate(net.items)}
    fewer = eliminate_routes(net, start, time.monotonic() + 5.0, seed=1)
    assert len(fewer) == 1
    assert _served(fewer) == _served(start)


def test_problem_without_capacity_dimensions_is_routed() -> None:
    xs = np.arange(5, dtype=np.float64) * 10.0
    travel = EuclideanTravelTime().matrix(np.zeros(5), xs)
    fleet = (Vehicle("a", 0, 0, (), (0.0, 1000.0)), Vehicle("b", 0, 0, (), (0.0, 1000.0)))
    jobs = (Job("j1", Stop(1), ()), Job("j2", Stop(3), ()))
    problem = Problem(fleet, travel, (Shipment("s", Stop(2), Stop(4), ()),), jobs)
    solution = solve(problem, time_limit_s=0.5)
    assert check_solution(problem, solution) == []
    assert solution.unassigned == ()
    assert solution.vehicles_used == 1
