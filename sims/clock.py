"""Simulated time: a clock the simulation advances, injected into the engine instead of the
wall clock, so a run is a function of its seed."""

from __future__ import annotations

import time


class SimClock:
    """UTC epoch seconds that move only when told (`advance`)."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, dt: float) -> float:
        self.now += dt
        return self.now

    @property
    def elapsed(self) -> float:
        return self.now - self.start


class Pacer:
    """Keeps simulated time at ``speedup`` × wall time (0: no waiting at all)."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self.wall_start = time.perf_counter()

    def delay(self, sim_elapsed: float) -> float:
        """Wall seconds to sleep so that ``sim_elapsed`` is not reached early
        (0 when behind or unpaced)."""
        if self.speedup <= 0:
            return 0.0
        ahead = self.wall_start + sim_elapsed / self.speedup - time.perf_counter()
        return max(0.0, ahead)
