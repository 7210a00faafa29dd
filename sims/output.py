"""Where a run's results go: the JSON report file and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sims.plots import write_plots
from sims.simulation import Simulation


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    out = Path(path)
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    return out


def plot_simulation(sim: Simulation, report: dict[str, Any], directory: str | Path) -> list[Path]:
    """The plots of an in-process run (it keeps every order's times and positions)."""
    o = sim.rec.orders
    return write_plots(
        report,
        directory,
        pickup_waits=np.asarray(o.column("at_pickup") - o.column("created")),
        pickups=(o.pickup_lat[: o.n], o.pickup_lng[: o.n]),
        supply_cells=sim.rec.supply_cells,
    )
