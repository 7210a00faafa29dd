"""PNG plots of a run (matplotlib, no display): orders by state over time, the pickup-wait
histogram, and an H3 heatmap of demand against supply."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import h3
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection

from geo.cells import cells_of
from sims.simulation import HEATMAP_RESOLUTION

STATES = ("waiting", "assigned", "picked_up", "delivered")
PLOT_FILES = ("orders_over_time.png", "pickup_wait_histogram.png", "demand_supply_heatmap.png")


def write_plots(
    report: dict[str, Any],
    directory: str | Path,
    *,
    pickup_waits: np.ndarray,
    pickups: tuple[np.ndarray, np.ndarray],
    supply_cells: Counter[int],
) -> list[Path]:
    """Write the three PNG files into ``directory`` (created if missing); their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in PLOT_FILES]
    _orders_over_time(report, paths[0])
    _wait_histogram(report, pickup_waits, paths[1])
    _heatmap(pickups, supply_cells, paths[2])
    return paths


def _orders_over_time(report: dict[str, Any], path: Path) -> None:
    timeline = report.get("timeline") or []
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t = np.array([s["t"] for s in timeline], dtype=float) / 60.0
    for state in STATES:
        ax.plot(t, [s[state] for s in timeline], label=state.replace("_", " "))
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("orders")
    ax.set_title(f"Orders by state ({report.get('mode', '')} dispatch)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _wait_histogram(report: dict[str, Any], waits: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    waits = waits[np.isfinite(waits)] / 60.0
    ax.hist(waits, bins=40, color="tab:blue", alpha=0.8)
    mean = report.get("mean_pickup_wait_s")
    if mean is not None:
        ax.axvline(mean / 60.0, color="tab:red", label=f"mean {mean / 60.0:.1f} min")
        ax.legend()
    ax.set_xlabel("pickup wait (minutes from order to courier at the restaurant)")
    ax.set_ylabel("orders")
    ax.set_title("Pickup wait")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cell_polygons(cells: list[int]) -> list[np.ndarray]:
    """Each cell's boundary as ``[[lng, lat], ...]`` (plot x, y)."""
    return [np.asarray(h3.cell_to_boundary(h3.int_to_str(c)))[:, ::-1] for c in cells]


def _heatmap(pickups: tuple[np.ndarray, np.ndarray], supply: Counter[int], path: Path) -> None:
    lats, lngs = pickups
    demand: Counter[int] = Counter()
    if lats.size:
        cells, n = np.unique(cells_of(lats, lngs, HEATMAP_RESOLUTION), return_counts=True)
        demand.update(dict(zip(cells.tolist(), n.tolist(), strict=True)))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharex=True, sharey=True)
    for ax, counts, title in (
        (axes[0], demand, "Demand: orders per cell"),
        (axes[1], supply, "Supply: idle couriers per cell (summed over samples)"),
    ):
        cells = sorted(counts)
        if cells:
            coll = PolyCollection(
                _cell_polygons(cells), array=np.array([counts[c] for c in cells]), cmap="viridis"
            )
            ax.add_collection(coll)
            fig.colorbar(coll, ax=ax, shrink=0.8)
            ax.autoscale_view()
        ax.set_title(title)
        ax.set_xlabel("longitude")
        ax.set_aspect("equal", adjustable="box")
    axes[0].set_ylabel("latitude")
    fig.suptitle(f"H3 resolution {HEATMAP_RESOLUTION}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
