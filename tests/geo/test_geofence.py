import math
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from geo import InvalidCoordinate, InvalidGeometry
from geo.geofence import Geofence

SQUARE = [[36.80, -1.30], [36.82, -1.30], [36.82, -1.28], [36.80, -1.28], [36.80, -1.30]]


def star(lat: float, lng: float, radii_deg: list[float], phase: float) -> list[tuple[float, float]]:
    """A star-shaped (hence simple) ring around a centre, as (lng, lat) positions."""
    n = len(radii_deg)
    pts = [
        (
            lng + r * math.cos(phase + 2 * math.pi * i / n),
            lat + r * math.sin(phase + 2 * math.pi * i / n),
        )
        for i, r in enumerate(radii_deg)
    ]
    return [*pts, pts[0]]


@st.composite
def fences(draw: st.DrawFn) -> Polygon | MultiPolygon:
    lat = draw(st.floats(-80.0, 80.0))
    lng = draw(st.floats(-179.0, 179.0))
    radii = draw(st.lists(st.floats(0.004, 0.02), min_size=3, max_size=9))
    phase = draw(st.floats(0.0, math.pi))
    shell = star(lat, lng, radii, phase)
    holes = []
    if draw(st.booleans()):
        holes.append(star(lat, lng, [min(radii) * 0.5] * 5, 0.3))
    first = Polygon(shell, holes)
    if draw(st.booleans()):
        second = Polygon(star(lat + 0.05, lng, [0.01] * 6, 0.1))
        return MultiPolygon([first, second])
    return first


@settings(max_examples=25, deadline=None)
@given(fences(), st.integers(8, 10), st.integers(0, 2**31))
def test_membership_equals_shapely_covers(
    geom: Polygon | MultiPolygon, res: int, seed: int
) -> None:
    fence = Geofence(geom, res)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geom.bounds
    lngs = rng.uniform(minx - 0.005, maxx + 0.005, 300)
    lats = rng.uniform(miny - 0.005, maxy + 0.005, 300)
    # Points on edges (shells and holes) and on vertices.
    outline = geom.boundary
    on_edge = shapely.line_interpolate_point(outline, rng.uniform(0, 1, 100), normalized=True)
    vertices = shapely.get_coordinates(geom)
    xy = np.vstack([np.column_stack([lngs, lats]), shapely.get_coordinates(on_edge), vertices])
    expected = shapely.covers(geom, shapely.points(xy))
    assert fence.covers_array(xy[:, 1], xy[:, 0]).tolist() == expected.tolist()
    for (x, y), want in list(zip(xy.tolist(), expected.tolist(), strict=True))[::20]:
        assert fence.covers(y, x) is want


def test_interior_cells_need_no_exact_test_and_holes_are_outside() -> None:
    hole = [
        [36.805, -1.295],
        [36.815, -1.295],
        [36.815, -1.285],
        [36.805, -1.285],
        [36.805, -1.295],
    ]
    fence = Geofence.from_geojson({"type": "Polygon", "coordinates": [SQUARE, hole]})
    assert fence.interior_cells.size > 0 and fence.boundary_cells.size > 0
    assert not set(fence.interior_cells.tolist()) & set(fence.boundary_cells.tolist())
    assert fence.covers(-1.299, 36.801)
    assert not fence.covers(-1.29, 36.81)  # in the hole
    assert fence.covers(-1.295, 36.81)  # on the hole's edge
    assert not fence.covers(-1.31, 36.81)


def test_feature_and_multipolygon_and_round_trip() -> None:
    other = [[36.9, -1.3], [36.91, -1.3], [36.91, -1.29], [36.9, -1.3]]
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]},
    }
    fence = Geofence.from_geojson(feature)
    assert fence.covers(-1.295, 36.905)
    assert Geofence.from_geojson(fence.to_geojson()).geometry.equals(fence.geometry)


BAD: list[tuple[Any, str, str]] = [
    ({"type": "Point", "coordinates": [0, 0]}, "type", "Polygon"),
    ({"type": "Polygon", "coordinates": []}, "coordinates", "non-empty"),
    ({"type": "Polygon", "coordinates": [SQUARE[:-1]]}, "coordinates[0]", "not closed"),
    ({"type": "Polygon", "coordinates": [SQUARE[:2] + SQUARE[:1]]}, "coordinates[0]", "at least 4"),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
        "coordinates",
        "Self-intersection",
    ),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]},
        "coordinates",
        "Self-intersection",
    ),
    (
        {
            "type": "Polygon",
            "coordinates": [[[-1.3, 36.8], [-1.3, 136.82], [-1.28, 136.82], [-1.3, 36.8]]],
        },
        "coordinates[0][1]",
        "looks like [lat, lng]",
    ),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [0, 1], [0, 0]]]},
        "coordinates[0][1]",
        "lng outside",
    ),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], ["1", 0], [0, 1], [0, 0]]]},
        "coordinates[0][1]",
        "finite",
    ),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], [math.nan, 0], [0, 1], [0, 0]]]},
        "coordinates[0][1]",
        "finite",
    ),
    (
        {"type": "Polygon", "coordinates": [[[-179, 0], [179, 0], [179, 1], [-179, 1], [-179, 0]]]},
        "coordinates",
        "antimeridian",
    ),
    (
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [[1, 2]]]},
        "coordinates[1][0][0]",
        "a position",
    ),
]


@pytest.mark.parametrize(("obj", "field", "reason"), BAD)
def test_bad_shapes_name_field_and_reason(obj: Any, field: str, reason: str) -> None:
    with pytest.raises(InvalidGeometry) as info:
        Geofence.from_geojson(obj)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert reason in info.value.reason


def test_bad_shapely_input_and_bad_query_points() -> None:
    with pytest.raises(InvalidGeometry):
        Geofence(Polygon())  # type: ignore[arg-type]
    with pytest.raises(InvalidGeometry):
        Geofence("POLYGON")  # type: ignore[arg-type]
    fence = Geofence.from_geojson({"type": "Polygon", "coordinates": [SQUARE]})
    with pytest.raises(InvalidCoordinate) as info:
        fence.covers(math.inf, 0.0)
    assert info.value.field == "lat"
    with pytest.raises(InvalidCoordinate):
        fence.covers_array([0.0], [190.0])


def test_fence_touching_the_antimeridian_matches_shapely() -> None:
    ring = [[179.98, -16.8], [180.0, -16.8], [180.0, -16.78], [179.98, -16.78], [179.98, -16.8]]
    fence = Geofence.from_geojson({"type": "Polygon", "coordinates": [ring]})
    rng = np.random.default_rng(2)
    lngs = np.concatenate(
        [rng.uniform(179.97, 180.0, 300), rng.uniform(-180.0, -179.99, 100), [180.0, -180.0]]
    )
    lats = rng.uniform(-16.81, -16.77, lngs.size)
    expected = shapely.covers(fence.geometry, shapely.points(lngs, lats))
    assert fence.covers_array(lats, lngs).tolist() == expected.tolist()
    assert expected.any()
