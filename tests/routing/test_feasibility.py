from dataclasses import replace

import numpy as np
import pytest

from routing.feasibility import check_solution
from routing.model import Problem, Route, Shipment, Solution, Stop, Unassigned, Vehicle
from routing.schedule import Visit, build_route
from routing.travel_time import EuclideanTravelTime


@pytest.fixture
def problem() -> Problem:
    xs = np.array([0.0, 10.0, 20.0, 30.0])
    travel = EuclideanTravelTime().matrix(np.zeros(4), xs)
    ships = (
        Shipment("a", Stop(1, 1.0, (0, 100)), Stop(2, 1.0, (0, 100)), (4.0,)),
        Shipment("b", Stop(2, 1.0, (0, 100)), Stop(3, 1.0, (0, 45)), (5.0,)),
    )
    return Problem((Vehicle("v", 0, 0, (10.0,), (0.0, 200.0)),), travel, shipments=ships)


def _solution(
    problem: Problem, visits: list[Visit], unassigned: tuple[Unassigned, ...] = ()
) -> Solution:
    route = build_route(problem, problem.vehicles[0], visits)
    return Solution((route,), unassigned, route.distance, 1.0)


GOOD: list[Visit] = [("pickup", "a"), ("pickup", "b"), ("delivery", "a"), ("delivery", "b")]


def test_good_solution_passes(problem: Problem) -> None:
    assert check_solution(problem, _solution(problem, GOOD)) == []


def test_delivery_before_pickup(problem: Problem) -> None:
    visits: list[Visit] = [("delivery", "a"), ("pickup", "a"), ("pickup", "b"), ("delivery", "b")]
    problems = check_solution(problem, _solution(problem, visits))
    assert any("before (or without) its pickup" in p for p in problems)


def test_capacity_exceeded(problem: Problem) -> None:
    small = replace(problem, vehicles=(replace(problem.vehicles[0], capacity=(8.0,)),))
    problems = check_solution(small, _solution(small, GOOD))
    assert any("outside [0" in p for p in problems)


def test_time_window_missed(problem: Problem) -> None:
    late = replace(problem, vehicles=(replace(problem.vehicles[0], shift=(30.0, 200.0)),))
    problems = check_solution(late, _solution(late, GOOD))
    assert any("outside window" in p for p in problems)


def test_shift_end_exceeded(problem: Problem) -> None:
    short = replace(problem, vehicles=(replace(problem.vehicles[0], shift=(0.0, 50.0)),))
    problems = check_solution(short, _solution(short, GOOD))
    assert any("after its shift" in p for p in problems)


def test_missing_shipment_must_be_reported(problem: Problem) -> None:
    visits: list[Visit] = [("pickup", "a"), ("delivery", "a")]
    assert any(
        "either routed or reported" in p
        for p in check_solution(problem, _solution(problem, visits))
    )
    reported = (Unassigned("b", "shipment", "test"),)
    assert check_solution(problem, _solution(problem, visits, reported)) == []
    both = (Unassigned("a", "shipment", "test"),)
    assert check_solution(problem, _solution(problem, GOOD, both)) != []


def test_pickup_without_delivery(problem: Problem) -> None:
    visits: list[Visit] = [("pickup", "a"), ("pickup", "b"), ("delivery", "b")]
    problems = check_solution(problem, _solution(problem, visits))
    assert any("never delivered" in p for p in problems)


def test_tampered_times_and_distance(problem: Problem) -> None:
    solution = _solution(problem, GOOD)
    route = solution.routes[0]
    early = replace(route.stops[2], arrival=route.stops[1].departure)
    tampered = Route(
        route.vehicle_id, (*route.stops[:2], early, *route.stops[3:]), route.distance - 1, 0
    )
    problems = check_solution(problem, replace(solution, routes=(tampered,)))
    assert any("before it can" in p for p in problems)
    assert any("reports distance" in p for p in problems)


def test_skills_and_max_stops(problem: Problem) -> None:
    needy = replace(problem.shipments[0], skills=frozenset({"cold"}))
    limited = replace(problem.vehicles[0], max_stops=3)
    changed = replace(problem, vehicles=(limited,), shipments=(needy, problem.shipments[1]))
    problems = check_solution(changed, _solution(changed, GOOD))
    assert any("needs skills" in p for p in problems)
    assert any("max_stops" in p for p in problems)
