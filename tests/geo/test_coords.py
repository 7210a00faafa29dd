import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo import InvalidCoordinate, valid_mask, validate_arrays, validate_lat_lng


def test_valid_pair_is_returned_as_floats() -> None:
    assert validate_lat_lng(1, -2) == (1.0, -2.0)
    assert validate_lat_lng(90, 180) == (90.0, 180.0)
    assert validate_lat_lng(-90.0, -180.0) == (-90.0, -180.0)


@pytest.mark.parametrize(
    ("lat", "lng", "field"),
    [
        (math.nan, 0.0, "lat"),
        (0.0, math.inf, "lng"),
        (90.0001, 0.0, "lat"),
        (0.0, -180.5, "lng"),
        ("1", 0.0, "lat"),
        (None, 0.0, "lat"),
        (True, 0.0, "lat"),
    ],
)
def test_invalid_pair_names_field_and_value(lat: object, lng: object, field: str) -> None:
    with pytest.raises(InvalidCoordinate) as info:
        validate_lat_lng(lat, lng)
    assert info.value.field == field
    assert field in str(info.value)
    assert isinstance(info.value, ValueError)


def test_both_problems_reported_at_once() -> None:
    with pytest.raises(InvalidCoordinate) as info:
        validate_lat_lng(100.0, math.nan)
    assert [p[0] for p in info.value.problems] == ["lat", "lng"]


def test_array_validation_reports_indices() -> None:
    with pytest.raises(InvalidCoordinate) as info:
        validate_arrays([0.0, 91.0, 1.0], [0.0, 0.0, math.nan])
    fields = [p[0] for p in info.value.problems]
    assert fields == ["lat[1]", "lng[2]"]


def test_array_shape_mismatch() -> None:
    with pytest.raises(InvalidCoordinate):
        validate_arrays([0.0, 1.0], [0.0])


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_mask_agrees_with_scalar(lat: float, lng: float) -> None:
    try:
        validate_lat_lng(lat, lng)
        ok = True
    except InvalidCoordinate:
        ok = False
    assert bool(valid_mask(np.array([lat]), np.array([lng]))[0]) is ok
