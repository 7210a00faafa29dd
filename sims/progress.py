"""Live progress of a run on the terminal (rich): time, pings/s, orders by state, latency."""

from __future__ import annotations

import time
from types import TracebackType

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from sims.recorder import Recorder, Sample

REFRESH_S = 0.25


def _fmt(value: float | None, unit: str = "s") -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.1f} {unit}"


class LiveProgress:
    """A context manager whose `update` redraws one table, at most every `REFRESH_S`."""

    def __init__(self, title: str, console: Console | None = None) -> None:
        self.title = title
        self.console = console or Console(stderr=True)
        self._live = Live(self._table(None, None, None), console=self.console, transient=False)
        self._drawn = 0.0

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

    def update(self, sample: Sample, rec: Recorder, wall_pings_per_s: float | None = None) -> None:
        now = time.monotonic()
        if now - self._drawn < REFRESH_S:
            return
        self._drawn = now
        self._live.update(self._table(sample, rec, wall_pings_per_s))

    def _table(
        self, s: Sample | None, rec: Recorder | None, wall_pings_per_s: float | None
    ) -> Table:
        table = Table(title=self.title, show_header=False, min_width=60)
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        if s is None or rec is None:
            table.add_row("starting", "…")
            return table
        o = rec.orders
        latency = o.column("assigned") - o.column("created")
        latency = latency[~np.isnan(latency)]
        p50, p99 = np.percentile(latency, [50, 99]) if latency.size else (None, None)
        minutes, seconds = divmod(int(s.t), 60)
        table.add_row("simulated time", f"{minutes // 60:d}:{minutes % 60:02d}:{seconds:02d}")
        table.add_row("pings/s (simulated)", f"{s.pings_per_s:,.0f}")
        if wall_pings_per_s is not None:
            table.add_row("pings/s (wall)", f"{wall_pings_per_s:,.0f}")
        table.add_row("orders waiting", f"{s.waiting:,}")
        table.add_row("orders assigned / picked up", f"{s.assigned:,} / {s.picked_up:,}")
        table.add_row("orders delivered", f"{s.delivered:,}")
        table.add_row(
            "couriers idle / busy / off",
            f"{s.couriers_idle:,} / {s.couriers_busy:,} / {s.couriers_offline:,}",
        )
        table.add_row("assignment latency p50 / p99", f"{_fmt(p50)} / {_fmt(p99)}")
        return table
