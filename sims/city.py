"""The simulated city: a bounding box around a centre, and the service zone inside it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geo import Geofence
from geo.errors import InvalidGeometry
from sims.errors import InvalidServiceZone

FloatArray = npt.NDArray[np.float64]
M_PER_DEG = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator): the local plane the
simulator moves couriers on; at city scale the error is far below GPS noise."""
ZONE_RESOLUTION = 7
"""H3 cover of the zone: coarse, since the simulator tests thousands of points at a time."""


@dataclass(frozen=True)
class City:
    """A rectangle of ``height_m`` × ``width_m`` around a centre; the service zone is the
    rectangle itself unless a GeoJSON polygon is given (`from_geojson`)."""

    name: str
    centre_lat: float
    centre_lng: float
    height_m: float
    width_m: float
    zone: Geofence | None = field(compare=False, repr=False, default=None)
    """The service zone when it is not the whole rectangle."""

    @classmethod
    def nairobi(cls) -> City:
        """A Nairobi-sized box: 28 km north-south by 44 km east-west around the CBD."""
        return cls("nairobi", -1.2864, 36.8172, 28_000.0, 44_000.0)

    @classmethod
    def from_geojson(cls, path: str | Path) -> City:
        """The city covering a service-zone polygon (Polygon, MultiPolygon, Feature or the
        first feature of a FeatureCollection), GeoJSON ``[lng, lat]``."""
        try:
            obj: Any = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InvalidServiceZone(str(path), f"cannot read JSON ({exc})") from None
        if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
            feats = obj.get("features") or []
            obj = feats[0] if feats else None
        if isinstance(obj, dict) and obj.get("type") == "Feature":
            obj = obj.get("geometry")
        if not isinstance(obj, dict):
            raise InvalidServiceZone(str(path), "no Polygon or MultiPolygon geometry")
        try:
            zone = Geofence.from_geojson(obj, ZONE_RESOLUTION)
        except InvalidGeometry as exc:
            raise InvalidServiceZone(str(path), str(exc)) from None
        w, s, e, n = zone.geometry.bounds
        lat = (s + n) / 2
        return cls(
            Path(path).stem,
            lat,
            (w + e) / 2,
            (n - s) * M_PER_DEG,
            (e - w) * M_PER_DEG * np.cos(np.radians(lat)),
            zone,
        )

    @property
    def m_per_deg_lng(self) -> float:
        return float(M_PER_DEG * np.cos(np.radians(self.centre_lat)))

    def bbox(self) -> tuple[float, float, float, float]:
        """``(min_lng, min_lat, max_lng, max_lat)``, GeoJSON order."""
        dlat = self.height_m / 2 / M_PER_DEG
        dlng = self.width_m / 2 / self.m_per_deg_lng
        return (
            self.centre_lng - dlng,
            self.centre_lat - dlat,
            self.centre_lng + dlng,
            self.centre_lat + dlat,
        )

    def bbox_polygon(self) -> dict[str, Any]:
        w, s, e, n = self.bbox()
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        return {"type": "Polygon", "coordinates": [ring]}

    def zone_geojson(self) -> dict[str, Any]:
        return self.bbox_polygon() if self.zone is None else self.zone.to_geojson()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "centre": [self.centre_lng, self.centre_lat],
            "height_m": round(self.height_m, 1),
            "width_m": round(self.width_m, 1),
        }

    def contains(self, lats: FloatArray, lngs: FloatArray) -> npt.NDArray[np.bool_]:
        """Per point: inside the service zone (the rectangle: a plain comparison)."""
        w, s, e, n = self.bbox()
        inside = (lats >= s) & (lats <= n) & (lngs >= w) & (lngs <= e)
        if self.zone is not None and inside.any():
            inside[inside] = self.zone.covers_array(lats[inside], lngs[inside])
        return inside

    def offset(
        self, lats: FloatArray, lngs: FloatArray, north_m: FloatArray, east_m: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Points moved by metres north and east (local plane)."""
        return lats + north_m / M_PER_DEG, lngs + east_m / self.m_per_deg_lng

    def uniform(self, n: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """``n`` points uniform in the service zone (rejection sampling over the bbox)."""
        w, s, e, n_ = self.bbox()
        lats, lngs = np.empty(0), np.empty(0)
        while lats.size < n:
            la = rng.uniform(s, n_, 2 * (n - lats.size) + 8)
            ln = rng.uniform(w, e, la.size)
            keep = self.contains(la, ln)
            lats, lngs = np.r_[lats, la[keep]], np.r_[lngs, ln[keep]]
        return lats[:n], lngs[:n]

    def keep_inside(
        self,
        lats: FloatArray,
        lngs: FloatArray,
        fallback_lats: FloatArray,
        fallback_lngs: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Points outside the zone replaced by their fallbacks (which must lie inside)."""
        out = ~self.contains(lats, lngs)
        return np.where(out, fallback_lats, lats), np.where(out, fallback_lngs, lngs)
