"""Road-network travel times from an OSRM-style table service; the HTTP call is injected."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.coords import validate_arrays
from routing.errors import MatrixResponseError
from routing.travel_time import Travel

Transport = Callable[[str], Mapping[str, Any]]
"""GET a URL and return its decoded JSON body; lives in ``api``/``store``, never in ``routing``."""


@dataclass(frozen=True)
class OsrmTableTravelTime:
    """A `TravelTimeProvider` backed by the OSRM ``/table/v1`` endpoint (or one speaking it).

    Parameters
    ----------
    base_url
        Server root, e.g. ``http://osrm:5000``.
    transport
        Performs the GET and decodes JSON; injected so that this package stays free of I/O.
    profile
        OSRM profile name (``driving``, ``cycling``, ``foot``) used when no vehicle is given.
    profiles
        Vehicle type to OSRM profile, e.g. ``{"motorbike": "driving", "bicycle": "cycling"}``.
    """

    base_url: str
    transport: Transport
    profile: str = "driving"
    profiles: Mapping[str, str] | None = None

    def table_url(
        self,
        lats: npt.ArrayLike,
        lngs: npt.ArrayLike,
        sources: list[int] | None = None,
        destinations: list[int] | None = None,
        vehicle: str | None = None,
    ) -> str:
        """The table request: coordinates as ``lng,lat`` pairs, durations and distances asked."""
        la, ln = validate_arrays(lats, lngs)
        profile = (self.profiles or {}).get(vehicle or "", self.profile)
        coords = ";".join(f"{x:.6f},{y:.6f}" for y, x in zip(la, ln, strict=True))
        url = (
            f"{self.base_url.rstrip('/')}/table/v1/{profile}/{coords}?annotations=duration,distance"
        )
        if sources is not None:
            url += "&sources=" + ";".join(map(str, sources))
        if destinations is not None:
            url += "&destinations=" + ";".join(map(str, destinations))
        return url

    def _table(self, url: str, shape: tuple[int, int]) -> Travel:
        body = self.transport(url)
        if body.get("code") != "Ok":
            raise MatrixResponseError("code", body.get("code"), "table service did not answer Ok")
        arrays = []
        for key in ("durations", "distances"):
            raw = body.get(key)
            if raw is None:
                raise MatrixResponseError(key, None, "missing from the response")
            arr = np.array(
                [[np.nan if v is None else float(v) for v in row] for row in raw], dtype=np.float64
            )
            if arr.shape != shape:
                raise MatrixResponseError(key, arr.shape, f"expected shape {shape}")
            if not np.isfinite(arr).all():
                i, j = np.argwhere(~np.isfinite(arr))[0]
                raise MatrixResponseError(f"{key}[{i}][{j}]", None, "unreachable pair")
            arrays.append(arr)
        return Travel(seconds=arrays[0], metres=arrays[1])

    def matrix(
        self, lats: npt.ArrayLike, lngs: npt.ArrayLike, vehicle: str | None = None
    ) -> Travel:
        n = np.asarray(lats).size
        return self._table(self.table_url(lats, lngs, vehicle=vehicle), (n, n))

    def pairwise(
        self,
        src_lats: npt.ArrayLike,
        src_lngs: npt.ArrayLike,
        dst_lats: npt.ArrayLike,
        dst_lngs: npt.ArrayLike,
        vehicles: str | npt.ArrayLike | None = None,
    ) -> Travel:
        """Element-wise travel (one profile: ``vehicles`` must be one name or ``None``)."""
        src_la, dst_la = np.atleast_1d(src_lats, dst_lats)
        src_ln, dst_ln = np.atleast_1d(src_lngs, dst_lngs)
        n = np.broadcast(src_la, dst_la).size
        la = np.concatenate([np.broadcast_to(src_la, (n,)), np.broadcast_to(dst_la, (n,))])
        ln = np.concatenate([np.broadcast_to(src_ln, (n,)), np.broadcast_to(dst_ln, (n,))])
        vehicle = (
            vehicles
            if isinstance(vehicles, str) or vehicles is None
            else str(np.asarray(vehicles).flat[0])
        )
        url = self.table_url(la, ln, list(range(n)), list(range(n, 2 * n)), vehicle)
        table = self._table(url, (n, n))
        return Travel(
            seconds=np.diagonal(table.seconds).copy(), metres=np.diagonal(table.metres).copy()
        )
