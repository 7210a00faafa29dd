import math

import h3.api.basic_int as h3i
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import InvalidCoordinate, InvalidParameter
from geo.cells import (
    cell_geometry,
    cell_of,
    cells_of,
    check_resolution,
    disk_cover_radius_m,
    parent_cells,
    ring_for_radius,
)
from tests.geo.strategies import destination, lats, lngs


def test_cell_of_matches_h3() -> None:
    assert cell_of(-1.29, 36.82, 9) == h3i.latlng_to_cell(-1.29, 36.82, 9)
    arr = cells_of([-1.29, 10.0], [36.82, -179.99], 7)
    assert arr.tolist() == [
        h3i.latlng_to_cell(-1.29, 36.82, 7),
        h3i.latlng_to_cell(10.0, -179.99, 7),
    ]


@pytest.mark.parametrize("bad", [-1, 16, 9.0, True, "9", None])
def test_bad_resolution_names_field(bad: object) -> None:
    with pytest.raises(InvalidParameter) as info:
        check_resolution(bad)
    assert info.value.field == "resolution"
    assert info.value.value is bad


def test_cell_of_rejects_bad_coordinates() -> None:
    with pytest.raises(InvalidCoordinate) as info:
        cell_of(91.0, 0.0, 9)
    assert info.value.field == "lat"
    with pytest.raises(InvalidCoordinate) as info:
        cells_of([0.0, 0.0], [0.0, math.nan], 9)
    assert info.value.field == "lng[1]"


@settings(max_examples=60)
@given(lats, lngs, st.integers(9, 15), st.integers(0, 9))
def test_parent_cells_match_h3(lat: float, lng: float, res: int, parent: int) -> None:
    cell = h3i.latlng_to_cell(lat, lng, res)
    assert parent_cells(np.array([cell]), parent).tolist() == [h3i.cell_to_parent(cell, parent)]


def test_parent_finer_than_cell_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        parent_cells(np.array([cell_of(0.0, 0.0, 5)]), 6)


@settings(max_examples=60)
@given(lats, lngs, st.integers(5, 12), st.floats(0.0, 1.0), st.floats(0.0, 2 * math.pi))
def test_points_inside_inradius_stay_in_cell(
    lat: float, lng: float, res: int, frac: float, bearing: float
) -> None:
    cell = h3i.latlng_to_cell(lat, lng, res)
    g = cell_geometry(cell)
    dist = frac * g.inradius * 6_371_008.8
    la, ln = destination(g.lat, g.lng, np.array([bearing]), np.array([dist]))
    assert h3i.latlng_to_cell(float(la[0]), float(ln[0]), res) == cell


@settings(max_examples=40, deadline=None)
@given(lats, lngs, st.integers(7, 10), st.floats(0.0, 3.0))
def test_ring_for_radius_covers_every_point_within_radius(
    lat: float, lng: float, res: int, edges: float
) -> None:
    # Brute force: points at and inside the radius, in 64 directions, all land in the disk.
    edge = h3i.average_hexagon_edge_length(res, "m")
    radius = edges * edge
    k = ring_for_radius(lat, lng, radius, res)
    disk = set(h3i.grid_disk(h3i.latlng_to_cell(lat, lng, res), k))
    bearings = np.repeat(np.linspace(0, 2 * math.pi, 64, endpoint=False), 4)
    dists = np.tile([radius, radius * 0.999, radius * 0.7, radius * 0.3], 64)
    la, ln = destination(lat, lng, bearings, dists)
    for a, b in zip(la.tolist(), ln.tolist(), strict=True):
        assert h3i.latlng_to_cell(a, b, res) in disk


def test_cover_radius_grows_with_rings() -> None:
    cell = cell_of(-1.29, 36.82, 9)
    radii = [disk_cover_radius_m(cell, k) for k in range(5)]
    assert radii == sorted(radii)
    assert radii[0] > 0.0


def test_ring_for_radius_rejects_bad_radius() -> None:
    with pytest.raises(InvalidParameter) as info:
        ring_for_radius(0.0, 0.0, -1.0, 9)
    assert info.value.field == "radius_m"
