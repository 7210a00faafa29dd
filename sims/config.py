"""What a simulation run does: fleet, demand, behaviour and dispatch settings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from dispatch.modes import MODES, Mode
from sims.city import City
from sims.errors import InvalidSimConfig, Problem

SIM_EPOCH = 1_800_000_000.0
"""Simulated runs start at this UTC epoch second, so a seed fixes every timestamp."""

Range = tuple[float, float]


@dataclass(frozen=True)
class SimConfig:
    """Settings of one run (times in seconds, distances in metres).

    Parameters
    ----------
    couriers
        Fleet size.
    orders_per_s
        Mean of the Poisson order arrivals.
    duration_s
        Simulated length of the run; it always stops there (or at ``max_orders``).
    seed
        Seeds every random draw: the same seed gives the same run.
    speedup
        In process: simulated seconds per wall second (0: as fast as possible).
    ping_interval_s
        Seconds between a courier's GPS fixes.
    pings_per_message
        Against a server: fixes a driver buffers into one websocket message.
    mode
        Dispatch mode (``optimal`` batch matching or greedy ``nearest``).
    cash_share
        Share of orders paid cash on delivery (settled by the courier at the door; the
        others are prepaid and not simulated).
    accept_probability, accept_delay_s
        A courier accepts an offer with this probability, answering after a uniform delay.
    pickup_service_s, dropoff_service_s
        Uniform time spent at the restaurant and at the door.
    promise_s
        Delivery promise from order creation; on time when delivered within it.
    patience_s
        A customer cancels an order still without a courier after this long (so a city with
        too few couriers keeps a bounded pool, as a real one does).
    """

    couriers: int = 1000
    orders_per_s: float = 1.0
    duration_s: float = 1800.0
    seed: int = 0
    speedup: float = 0.0
    ping_interval_s: float = 5.0
    pings_per_message: int = 1
    mode: Mode = "optimal"
    city: City = field(default_factory=City.nairobi)
    max_orders: int | None = None
    tick_s: float = 1.0
    dispatch_window_s: float = 2.0
    offer_timeout_s: float = 30.0
    accept_probability: float = 0.9
    accept_delay_s: Range = (2.0, 12.0)
    pickup_service_s: Range = (60.0, 240.0)
    dropoff_service_s: Range = (30.0, 120.0)
    promise_s: float = 2700.0
    patience_s: float = 900.0
    gps_noise_m: float = 8.0
    glitch_probability: float = 0.002
    hotspots: int = 12
    hotspot_spread_m: float = 600.0
    dropoff_median_m: float = 3000.0
    online_fraction: float = 0.9
    cash_share: float = 1.0
    sample_every_s: float = 10.0
    start_at: float = SIM_EPOCH

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        for name in ("couriers", "pings_per_message", "hotspots"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append((name, value, "must be a positive integer"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            problems.append(("seed", self.seed, "must be a non-negative integer"))
        positive = (
            "duration_s", "ping_interval_s", "tick_s", "dispatch_window_s", "offer_timeout_s",
            "promise_s", "patience_s", "hotspot_spread_m", "dropoff_median_m", "sample_every_s",
        )  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not _finite(value) or value <= 0:
                problems.append((name, value, "must be positive and finite"))
        for name in ("orders_per_s", "speedup", "gps_noise_m"):
            value = getattr(self, name)
            if not _finite(value) or value < 0:
                problems.append((name, value, "must be non-negative and finite"))
        for name in ("accept_probability", "glitch_probability", "online_fraction", "cash_share"):
            value = getattr(self, name)
            if not _finite(value) or not 0 <= value <= 1:
                problems.append((name, value, "must be a probability in [0, 1]"))
        for name in ("accept_delay_s", "pickup_service_s", "dropoff_service_s"):
            lo, hi = getattr(self, name)
            if not (_finite(lo) and _finite(hi) and 0 <= lo <= hi):
                problems.append((name, (lo, hi), "must be (low, high) with 0 <= low <= high"))
        if self.mode not in MODES:
            problems.append(("mode", self.mode, f"must be one of {', '.join(MODES)}"))
        if self.max_orders is not None and self.max_orders < 1:
            problems.append(("max_orders", self.max_orders, "must be positive or None"))
        if problems:
            raise InvalidSimConfig(problems)

    def summary(self) -> dict[str, object]:
        """The settings a report repeats (the city by its size, not its polygon)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.describe() if isinstance(value, City) else value
        return out


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
