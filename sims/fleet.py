"""The simulated fleet: couriers as numpy columns, moved along straight segments each tick."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from routing.travel_time import DEFAULT_SPEEDS_MPS
from sims.city import M_PER_DEG, City

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

VEHICLE_MIX: dict[str, float] = {"motorbike": 0.6, "bike": 0.25, "car": 0.15}
"""Share of each vehicle type in the fleet (boda-boda heavy, as in Nairobi)."""
IDLE_PACE = 0.4
"""Idle couriers drift between waypoints at this fraction of their speed."""
IDLE_HOP_M = 1500.0
"""How far an idle courier's next waypoint lies, at most, per axis."""
GPS_CORRELATION_S = 60.0
"""How long a GPS error takes to decorrelate (multipath and atmosphere change slowly)."""
SPOT_PULL = 0.3
"""Chance that an idle courier's next waypoint is near a hot spot rather than nearby."""


@dataclass(frozen=True)
class Spots:
    """Where demand concentrates: centres, their weights (summing to 1) and spread."""

    lat: FloatArray
    lng: FloatArray
    weight: FloatArray
    spread_m: float


def vehicle_mix(n: int, rng: np.random.Generator) -> npt.NDArray[np.str_]:
    """``n`` vehicle types drawn from `VEHICLE_MIX`."""
    names = list(VEHICLE_MIX)
    return np.array(names)[rng.choice(len(names), n, p=list(VEHICLE_MIX.values()))]


class Phase(IntEnum):
    """What a courier is doing."""

    IDLE = 0
    TO_PICKUP = 1
    AT_PICKUP = 2
    TO_DROPOFF = 3
    AT_DROPOFF = 4
    OFFLINE = 5


MOVING = np.array([Phase.IDLE, Phase.TO_PICKUP, Phase.TO_DROPOFF])


@dataclass
class Fleet:
    """Per courier: position, destination, phase, current order, shift, next ping time.

    ``speed_mps`` is the courier's true speed: the engine's speed for its vehicle type times a
    personal factor, so the engine's ETAs are close but never exact (the ETA error is real).
    """

    ids: list[str]
    vehicle: npt.NDArray[np.str_]
    speed_mps: FloatArray
    lat: FloatArray
    lng: FloatArray
    dest_lat: FloatArray
    dest_lng: FloatArray
    heading: FloatArray
    phase: npt.NDArray[np.int8]
    order: IntArray
    until: FloatArray
    shift_start: FloatArray
    shift_end: FloatArray
    next_ping: FloatArray
    gps_error: FloatArray
    """Per courier, the current GPS error in metres north and east (shape ``(2, n)``)."""
    fix_at: FloatArray

    @classmethod
    def create(
        cls,
        n: int,
        city: City,
        rng: np.random.Generator,
        *,
        start_at: float,
        duration_s: float,
        ping_interval_s: float,
        online_fraction: float,
        spots: Spots | None = None,
        vehicles: list[str] | None = None,
    ) -> Fleet:
        """``n`` couriers spread over the zone; ``online_fraction`` of them on shift at the
        start, the others starting during the first fifth of the run; shifts of 4 to 9 h.
        Vehicle types are drawn from `VEHICLE_MIX` unless given (`vehicle_mix`)."""
        vehicle = vehicle_mix(n, rng) if vehicles is None else np.array(vehicles)
        base = np.array([DEFAULT_SPEEDS_MPS[v] for v in vehicle.tolist()])
        lat, lng = city.uniform(n, rng)
        late = rng.random(n) >= online_fraction
        shift_start = np.where(
            late,
            start_at + rng.uniform(0.0, 0.2 * duration_s, n),
            start_at - rng.uniform(0.0, 4 * 3600.0, n),
        )
        shift_end = shift_start + rng.uniform(4 * 3600.0, 9 * 3600.0, n)
        phase = np.where(late, Phase.OFFLINE, Phase.IDLE).astype(np.int8)
        fleet = cls(
            ids=[f"sim-{i:06d}" for i in range(n)],
            vehicle=vehicle,
            speed_mps=base * rng.uniform(0.85, 1.15, n),
            lat=lat,
            lng=lng,
            dest_lat=lat.copy(),
            dest_lng=lng.copy(),
            heading=np.zeros(n),
            phase=phase,
            order=np.full(n, -1, dtype=np.int64),
            until=np.zeros(n),
            shift_start=shift_start,
            shift_end=shift_end,
            next_ping=start_at + rng.uniform(0.0, ping_interval_s, n),
            gps_error=np.zeros((2, n)),
            fix_at=np.full(n, -np.inf),
        )
        fleet.new_waypoints(np.flatnonzero(phase == Phase.IDLE), city, rng, spots)
        return fleet

    def __len__(self) -> int:
        return len(self.ids)

    def new_waypoints(
        self,
        rows: IntArray,
        city: City,
        rng: np.random.Generator,
        spots: Spots | None = None,
    ) -> None:
        """Idle couriers at ``rows`` head for a random point nearby inside the zone, or, with
        probability `SPOT_PULL`, for one of the ``spots`` (couriers wait near restaurants)."""
        if not rows.size:
            return
        hop = rng.uniform(-IDLE_HOP_M, IDLE_HOP_M, (2, rows.size))
        la, ln = city.offset(self.lat[rows], self.lng[rows], hop[0], hop[1])
        if spots is not None:
            pulled = rng.random(rows.size) < SPOT_PULL
            pick = rng.choice(spots.weight.size, rows.size, p=spots.weight)
            near = rng.normal(0.0, spots.spread_m, (2, rows.size))
            sla, sln = city.offset(spots.lat[pick], spots.lng[pick], near[0], near[1])
            la, ln = np.where(pulled, sla, la), np.where(pulled, sln, ln)
        self.dest_lat[rows], self.dest_lng[rows] = city.keep_inside(
            la, ln, self.lat[rows], self.lng[rows]
        )

    def move(self, dt: float, city: City) -> IntArray:
        """Advance every moving courier by ``dt`` seconds towards its destination.

        Returns the rows that reached their destination during this step (snapped onto it).
        """
        rows = np.flatnonzero(np.isin(self.phase, MOVING))
        if not rows.size:
            return rows
        north = (self.dest_lat[rows] - self.lat[rows]) * M_PER_DEG
        east = (self.dest_lng[rows] - self.lng[rows]) * city.m_per_deg_lng
        dist = np.hypot(north, east)
        pace = np.where(self.phase[rows] == Phase.IDLE, IDLE_PACE, 1.0)
        step = self.speed_mps[rows] * pace * dt
        arrived = dist <= step
        frac = np.where(arrived, 1.0, step / np.maximum(dist, 1e-9))
        self.lat[rows] += north * frac / M_PER_DEG
        self.lng[rows] += east * frac / city.m_per_deg_lng
        moved = dist > 0
        self.heading[rows[moved]] = np.degrees(np.arctan2(east[moved], north[moved])) % 360.0
        done = rows[arrived]
        self.lat[done], self.lng[done] = self.dest_lat[done], self.dest_lng[done]
        return done

    def head_for(self, row: int, lat: float, lng: float, phase: Phase) -> None:
        self.dest_lat[row], self.dest_lng[row] = lat, lng
        self.phase[row] = phase

    def due_pings(self, now: float, interval_s: float) -> IntArray:
        """Rows of on-shift couriers whose next fix is due; their next one is scheduled."""
        rows = np.flatnonzero((self.next_ping <= now) & (self.phase != Phase.OFFLINE))
        self.next_ping[rows] += interval_s * np.ceil(
            (now - self.next_ping[rows]) / interval_s + 1e-9
        )
        return rows

    def gps_fix(
        self, rows: IntArray, now: float, city: City, sigma_m: float, rng: np.random.Generator
    ) -> tuple[FloatArray, FloatArray]:
        """What the couriers at ``rows`` report: the true position plus a GPS error of
        standard deviation ``sigma_m`` per axis that drifts over `GPS_CORRELATION_S` (an AR(1)
        process), as a receiver's error does: independent errors on fixes a fraction of a
        second apart would look like jumps at implausible speeds."""
        rho = np.exp(-(now - self.fix_at[rows]) / GPS_CORRELATION_S)
        fresh = rng.normal(0.0, sigma_m, (2, rows.size))
        self.gps_error[:, rows] = rho * self.gps_error[:, rows] + np.sqrt(1.0 - rho**2) * fresh
        self.fix_at[rows] = now
        return city.offset(self.lat[rows], self.lng[rows], *self.gps_error[:, rows])

    def current_speed(self, rows: IntArray) -> FloatArray:
        pace = np.select(
            [self.phase[rows] == Phase.IDLE, np.isin(self.phase[rows], MOVING)],
            [IDLE_PACE, 1.0],
            0.0,
        )
        return np.asarray(self.speed_mps[rows] * pace)
