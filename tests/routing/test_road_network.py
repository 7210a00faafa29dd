from collections.abc import Mapping
from typing import Any

import pytest

from routing.errors import MatrixResponseError
from routing.road_network import OsrmTableTravelTime


class FakeOsrm:
    """Answers table requests like OSRM: durations = 10 x |i - j| seconds, distances x 100 m."""

    def __init__(self, code: str = "Ok", hole: bool = False) -> None:
        self.urls: list[str] = []
        self.code = code
        self.hole = hole

    def __call__(self, url: str) -> Mapping[str, Any]:
        self.urls.append(url)
        coords = url.split("/")[-1].split("?")[0].split(";")
        query = dict(p.split("=") for p in url.split("?")[1].split("&"))
        src = (
            [int(i) for i in query["sources"].split(";")]
            if "sources" in query
            else range(len(coords))
        )
        dst = (
            [int(i) for i in query["destinations"].split(";")]
            if "destinations" in query
            else range(len(coords))
        )
        durations: list[list[float | None]] = [[10.0 * abs(i - j) for j in dst] for i in src]
        if self.hole:
            durations[0][-1] = None
        return {
            "code": self.code,
            "durations": durations,
            "distances": [[100.0 * abs(i - j) for j in dst] for i in src],
        }


def test_matrix_builds_lng_lat_url_and_parses() -> None:
    fake = FakeOsrm()
    provider = OsrmTableTravelTime("http://osrm:5000/", fake, profiles={"bicycle": "cycling"})
    t = provider.matrix([52.5, 52.6, 52.7], [13.4, 13.5, 13.6], vehicle="bicycle")
    assert fake.urls[0].startswith("http://osrm:5000/table/v1/cycling/13.400000,52.500000;")
    assert t.seconds[0, 2] == 20.0 and t.metres[2, 1] == 100.0
    pair = provider.pairwise([52.5, 52.6], [13.4, 13.5], [52.7, 52.8], [13.6, 13.7])
    assert list(pair.seconds) == [20.0, 20.0]


def test_bad_responses_are_typed_errors() -> None:
    with pytest.raises(MatrixResponseError) as info:
        OsrmTableTravelTime("http://x", FakeOsrm(code="NoRoute")).matrix([1.0, 2.0], [1.0, 2.0])
    assert info.value.field == "code"
    with pytest.raises(MatrixResponseError) as info:
        OsrmTableTravelTime("http://x", FakeOsrm(hole=True)).matrix([1.0, 2.0], [1.0, 2.0])
    assert info.value.field == "durations[0][1]"
