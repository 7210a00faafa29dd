"""The solver's integer time axis: scaled times, transit rounded up and windows rounded inwards."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.model import Problem
from routing.schedule import Visit, visit_stop

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TimeAxis:
    """Integer time ``round((t - origin) * scale)``; ``horizon`` stands for an open end.

    It depends on the problem and its visits only (not on a vehicle subset), so every model
    and the insertion heuristics of one solve agree on which schedules fit.
    """

    origin: float
    horizon: int
    scale: float

    def at(self, t: float) -> int:
        """A window bound on the axis, rounded down; infinite bounds become the horizon."""
        if not math.isfinite(t):
            return self.horizon
        return min(self.horizon, max(0, math.floor((t - self.origin) * self.scale + 1e-6)))

    def transit(
        self, service: npt.NDArray[np.float64], secs: npt.NDArray[np.float64], speed: float
    ) -> IntArray:
        """Service at the origin node plus travel, scaled and rounded up.

        Rounding up keeps every integer-feasible route feasible in true float time.
        """
        return np.ceil((service[:, None] + secs / speed) * self.scale - 1e-6).astype(np.int64)


def time_axis(problem: Problem, visits: Sequence[Visit], scale: float) -> TimeAxis:
    """The axis of ``visits`` served by any of the problem's vehicles."""
    stops = [visit_stop(problem, x)[0] for x in visits]
    starts = [s.time_window[0] for s in stops] + [v.shift[0] for v in problem.vehicles]
    origin = min(starts)
    ends = [s.time_window[1] for s in stops] + [v.shift[1] for v in problem.vehicles]
    finite_ends = [e for e in ends if math.isfinite(e)]
    secs = float(np.asarray(problem.travel.seconds).max(initial=0.0))
    slowest = min(v.speed_factor for v in problem.vehicles)
    bound = max(starts) + sum(s.service_s for s in stops) + secs * (len(stops) + 1) / slowest
    horizon = math.ceil((max([bound, *finite_ends]) - origin) * scale) + 1
    return TimeAxis(origin, horizon, scale)
