import math

import numpy as np
import pytest

from routing.errors import InvalidProblem
from routing.model import Job, Problem, Shipment, Stop, Vehicle
from routing.travel_time import EuclideanTravelTime

TRAVEL = EuclideanTravelTime().matrix(np.zeros(3), np.arange(3.0))


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidProblem) as info:
        Problem(
            vehicles=(
                Vehicle("v", 0, 9, (1.0,), speed_factor=0.0),
                Vehicle("v", 0, 0, (1.0, 2.0), carrying=("ghost",)),
            ),
            travel=TRAVEL,
            shipments=(Shipment("s", Stop(1, -1.0), Stop(2, 0, (5.0, 1.0)), (1.0,)),),
            jobs=(Job("s", Stop(1), (math.nan,)),),
        )
    fields = {f for f, _, _ in info.value.problems}
    assert {
        "vehicles.id",
        "vehicles[v].end",
        "vehicles[v].speed_factor",
        "vehicles[v].capacity",
        "vehicles.carrying",
        "shipments[s].pickup.service_s",
        "shipments[s].delivery.time_window",
        "jobs.id",
        "jobs[s].amount",
    } <= fields
    assert info.value.field == info.value.problems[0][0]


def test_bad_matrix() -> None:
    bad = type(TRAVEL)(seconds=np.full((3, 3), np.inf), metres=np.zeros((3, 3)))
    with pytest.raises(InvalidProblem) as info:
        Problem(vehicles=(Vehicle("v", 0, 0, (1.0,)),), travel=bad)
    assert info.value.field == "travel"


@pytest.mark.parametrize(
    ("shift", "window", "service_s", "field"),
    [
        ((0.0, 1e300), (0.0, math.inf), 0.0, "vehicles[v].shift"),
        ((0.0, math.inf), (-1e11, 0.0), 0.0, "shipments[s].pickup.time_window"),
        ((0.0, math.inf), (0.0, math.inf), 1e300, "shipments[s].pickup.service_s"),
    ],
)
def test_times_beyond_the_solver_scale_are_refused(
    shift: tuple[float, float], window: tuple[float, float], service_s: float, field: str
) -> None:
    """Finite but huge times would overflow the solver's integer time axis (found by schemathesis)."""
    with pytest.raises(InvalidProblem) as info:
        Problem(
            vehicles=(Vehicle("v", 0, 0, (1.0,), shift=shift),),
            travel=TRAVEL,
            shipments=(Shipment("s", Stop(1, service_s, window), Stop(2), (1.0,)),),
        )
    assert [f for f, _, _ in info.value.problems] == [field]
