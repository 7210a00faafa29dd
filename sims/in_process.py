"""In-process runs: deterministic on a simulated clock, as fast as possible or paced."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sims.clock import Pacer, SimClock
from sims.config import SimConfig
from sims.engine import LocalEngine
from sims.report import build_report, percentiles
from sims.simulation import OnSample, Simulation


def simulate(config: SimConfig, on_sample: OnSample | None = None) -> Simulation:
    """Run one simulation to its end on a simulated clock and return it (report, plots).

    The engine gets the simulated clock, so nothing depends on the wall clock: the same
    config and seed give the same run, whatever ``speedup`` (which only paces it).
    """
    clock = SimClock(config.start_at)
    engine = LocalEngine.embedded(
        clock=clock, offer_timeout_s=config.offer_timeout_s, window_s=config.dispatch_window_s
    )
    sim = Simulation(config, engine, clock())
    pacer = Pacer(config.speedup)
    started, cpu = time.perf_counter(), time.process_time()
    while not sim.finished:
        sim.step(clock.advance(config.tick_s), on_sample)
        pause = pacer.delay(clock.elapsed)
        if pause:
            time.sleep(pause)
    sim.wall_s = time.perf_counter() - started
    sim.cpu_s = time.process_time() - cpu
    return sim


def report_of(sim: Simulation) -> dict[str, Any]:
    """The JSON report of a finished in-process run."""
    wall_s = sim.wall_s
    rec = sim.rec
    engine = sim.engine
    rec.ledger_entries = len(engine.store.journal_entries(engine.tenant_id))
    return build_report(
        sim.config,
        rec,
        ended_at=sim.now,
        wall={
            "elapsed_s": round(wall_s, 3),
            "cpu_s": round(sim.cpu_s, 3),
            "speedup_achieved": round(sim.elapsed / wall_s, 2) if wall_s else None,
            "speedup_per_cpu_s": round(sim.elapsed / sim.cpu_s, 2) if sim.cpu_s else None,
            "pings_per_s": round(rec.pings_sent / wall_s, 1) if wall_s else None,
            "dispatch_run_ms": percentiles(rec.dispatch_wall_ms, 2),
        },
    )


def run_in_process(config: SimConfig, on_sample: OnSample | None = None) -> dict[str, Any]:
    """Simulate and report (`simulate` then `report_of`)."""
    return report_of(simulate(config, on_sample))


def compare_modes(config: SimConfig, on_sample: OnSample | None = None) -> dict[str, Any]:
    """The same seed under ``optimal`` and ``nearest`` dispatch: ``{"optimal": report,
    "nearest": report}``."""
    return {
        mode: run_in_process(replace(config, mode=mode), on_sample)
        for mode in ("optimal", "nearest")
    }
