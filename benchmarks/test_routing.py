"""Short routing comparison for ``make bench``: hexdispatch and VROOM on a few instances.

The full two-suite run is ``make bench-routing`` (``python -m benchmarks.routing``).
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.routing import benchmarks_dir
from benchmarks.routing_peer import solve_with_vroom
from routing.feasibility import check_solution
from routing.instances import read_instance
from routing.solver import solve

INSTANCES = [("solomon", "C101"), ("solomon", "R201"), ("li_lim_100", "lr101")]
SECONDS = 3.0


@pytest.mark.parametrize(("suite", "name"), INSTANCES)
def test_hexdispatch(benchmark: Any, suite: str, name: str) -> None:
    problem = read_instance(benchmarks_dir() / suite / f"{name}.txt").problem
    solution = benchmark.pedantic(solve, args=(problem, SECONDS), rounds=1, iterations=1)
    assert check_solution(problem, solution) == []
    benchmark.extra_info.update(vehicles=solution.vehicles_used, distance=solution.distance)


@pytest.mark.parametrize(("suite", "name"), INSTANCES)
def test_vroom(benchmark: Any, suite: str, name: str) -> None:
    problem = read_instance(benchmarks_dir() / suite / f"{name}.txt").problem
    result = benchmark.pedantic(solve_with_vroom, args=(problem,), rounds=1, iterations=1)
    benchmark.extra_info.update(vehicles=result.vehicles, distance=result.distance)
