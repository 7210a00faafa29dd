import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo import EARTH_RADIUS_M, great_circle_m, great_circle_m_array, great_circle_matrix

lat = st.floats(-90, 90)
lng = st.floats(-180, 180)


def test_known_distances() -> None:
    # One degree of longitude on the equator is 2πR/360.
    assert great_circle_m(0, 0, 0, 1) == pytest.approx(2 * math.pi * EARTH_RADIUS_M / 360)
    assert great_circle_m(0, 179.5, 0, -179.5) == pytest.approx(2 * math.pi * EARTH_RADIUS_M / 360)
    assert great_circle_m(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    # A quarter meridian, and a point on the equator to the pole.
    assert great_circle_m(0, 0, 0, 90) == pytest.approx(math.pi * EARTH_RADIUS_M / 2)
    assert great_circle_m(0, 45, 90, -120) == pytest.approx(math.pi * EARTH_RADIUS_M / 2)


@given(lat, lng, lat, lng)
def test_array_form_equals_scalar_form(a: float, b: float, c: float, d: float) -> None:
    s = great_circle_m(a, b, c, d)
    v = great_circle_m_array(np.array([a]), np.array([b]), np.array([c]), np.array([d]))[0]
    assert v == pytest.approx(s, abs=1e-6)
    assert great_circle_m(c, d, a, b) == pytest.approx(s, abs=1e-6)
    assert 0.0 <= s <= math.pi * EARTH_RADIUS_M + 1e-6


def test_matrix_shape_and_values() -> None:
    la = np.array([0.0, 10.0])
    lo = np.array([0.0, 20.0])
    lb = np.array([1.0, 2.0, 3.0])
    lob = np.array([0.0, 0.0, 0.0])
    m = great_circle_matrix(la, lo, lb, lob)
    assert m.shape == (2, 3)
    assert m[1, 2] == pytest.approx(great_circle_m(10.0, 20.0, 3.0, 0.0))
