import numpy as np
import pytest

from geo import great_circle_m
from routing.travel_time import GreatCircleTravelTime, UnknownVehicle


def test_pairwise_uses_vehicle_speed() -> None:
    p = GreatCircleTravelTime(speeds_mps={"bike": 5.0, "car": 10.0}, default_vehicle="bike")
    t = p.pairwise([0.0, 0.0], [0.0, 0.0], [0.01, 0.01], [0.0, 0.0], ["bike", "car"])
    d = great_circle_m(0, 0, 0.01, 0)
    assert t.metres == pytest.approx([d, d])
    assert t.seconds == pytest.approx([d / 5.0, d / 10.0])
    assert p.pairwise(0.0, 0.0, 0.01, 0.0).seconds == pytest.approx(d / 5.0)


def test_matrix_is_square_symmetric_with_zero_diagonal() -> None:
    p = GreatCircleTravelTime(circuity=1.3)
    t = p.matrix(np.array([0.0, 0.1, 0.2]), np.array([0.0, 0.1, 0.0]))
    assert t.seconds.shape == (3, 3)
    assert np.allclose(t.metres, t.metres.T)
    assert np.all(np.diag(t.metres) == 0)
    assert t.metres[0, 1] == pytest.approx(1.3 * great_circle_m(0, 0, 0.1, 0.1))


def test_unknown_vehicle_is_a_value_error() -> None:
    with pytest.raises(UnknownVehicle) as info:
        GreatCircleTravelTime().pairwise(0, 0, 1, 1, ["car", "hovercraft"])
    assert info.value.value == "hovercraft"
    assert isinstance(info.value, ValueError)


def test_euclidean_matrix_is_not_rounded() -> None:
    from routing.travel_time import EuclideanTravelTime

    t = EuclideanTravelTime(speed=2.0).matrix([0.0, 4.0], [0.0, 3.0])
    assert t.metres[0, 1] == 5.0 and t.seconds[0, 1] == 2.5
    assert EuclideanTravelTime().pairwise(0, 0, 1, 1).metres == pytest.approx(2**0.5)
