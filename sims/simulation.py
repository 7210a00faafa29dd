"""One simulation: fleet, demand and courier behaviour stepped tick by tick against an engine."""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from geo.cells import cells_of
from sims.config import SimConfig
from sims.demand import Demand
from sims.engine import ANSWER_ERRORS, LocalEngine
from sims.fleet import Fleet, Phase
from sims.recorder import Recorder, Sample

HEATMAP_RESOLUTION = 7
"""H3 resolution of the demand / supply heatmap (cells of about 5 km²)."""
GLITCH_JUMP_M = 400.0
GLITCH_ACCURACY_M = 150.0
"""A GPS glitch: the fix jumps and reports a poor accuracy (the index refuses it)."""

OnSample = Callable[[Sample, Recorder], None]


@dataclass(frozen=True)
class _Job:
    """An order in the simulation's hands: where it goes, which row of the log it is."""

    row: int
    pickup: tuple[float, float]
    dropoff: tuple[float, float]


class Simulation:
    """Couriers move, ping, answer offers, pick up and deliver; orders arrive; the engine
    dispatches every window. `step` advances to a given time, so the same loop runs on a
    simulated clock (`run`) or on the wall clock (`sims.live_demo`).

    Random draws come from three streams split off the seed (fleet, demand, behaviour), so a
    change in how often one is used does not shift the others.
    """

    def __init__(self, config: SimConfig, engine: LocalEngine, now: float) -> None:
        self.config = config
        self.engine = engine
        fleet_seed, demand_seed, behaviour_seed = np.random.SeedSequence(config.seed).spawn(3)
        self.rng = np.random.default_rng(behaviour_seed)
        self.demand = Demand(
            config.city,
            np.random.default_rng(demand_seed),
            rate_per_s=config.orders_per_s,
            hotspots=config.hotspots,
            spread_m=config.hotspot_spread_m,
            dropoff_median_m=config.dropoff_median_m,
        )
        self.fleet = Fleet.create(
            config.couriers,
            config.city,
            np.random.default_rng(fleet_seed),
            start_at=now,
            duration_s=config.duration_s,
            ping_interval_s=config.ping_interval_s,
            online_fraction=config.online_fraction,
            spots=self.demand.spots,
        )
        self.rec = Recorder(start_at=now)
        self.now = now
        self.row_of = {cid: i for i, cid in enumerate(self.fleet.ids)}
        self.jobs: dict[str, _Job] = {}
        self.unassigned: dict[str, float] = {}
        """Orders without a courier, by creation time (insertion order is creation order)."""
        self.job_of_row: dict[int, str] = {}
        self.events: list[tuple[float, int, str, str, bool]] = []
        self._seq = 0
        self.offer_eta: dict[str, tuple[float, float]] = {}
        self.next_dispatch = now + config.dispatch_window_s
        self.next_sample = now + config.sample_every_s
        self._pings_at_sample = 0
        self.wall_s = 0.0
        self.cpu_s = 0.0
        engine.set_mode(config.mode)
        engine.add_zone(config.city)
        engine.register(self.fleet, now)

    # ------------------------------------------------------------------ the loop

    @property
    def elapsed(self) -> float:
        return self.now - self.rec.start_at

    @property
    def finished(self) -> bool:
        if self.elapsed >= self.config.duration_s - 1e-9:
            return True
        limit = self.config.max_orders
        if limit is None:
            return False
        counts = self.rec.order_counts(self.now)
        return counts["created"] >= limit and counts["delivered"] + counts["cancelled"] >= limit

    def step(self, now: float, on_sample: OnSample | None = None) -> None:
        """Advance the world from the previous step to ``now``."""
        dt = now - self.now
        self.now = now
        fleet = self.fleet
        self._shifts()
        arrived = fleet.move(dt, self.config.city)
        self._arrivals(arrived)
        self._services()
        self._answers()
        self._orders(now - dt, now)
        if now >= self.next_dispatch:
            self.next_dispatch = now + self.config.dispatch_window_s
            self._give_up()
            self._dispatch()
        self._pings()
        self.rec.busy_s += float((fleet.order >= 0).sum()) * dt
        self.rec.online_s += float((fleet.phase != Phase.OFFLINE).sum()) * dt
        if now >= self.next_sample:
            self.next_sample += self.config.sample_every_s
            sample = self._sample()
            if on_sample is not None:
                on_sample(sample, self.rec)

    # ------------------------------------------------------------------ couriers

    def _shifts(self) -> None:
        f, now = self.fleet, self.now
        starting = np.flatnonzero(
            (f.phase == Phase.OFFLINE) & (f.shift_start <= now) & (now < f.shift_end)
        )
        ending = np.flatnonzero((f.phase == Phase.IDLE) & (now >= f.shift_end))
        for row in starting.tolist():
            f.phase[row] = Phase.IDLE
            f.next_ping[row] = now
            self.engine.set_status(f.ids[row], "idle")
        f.new_waypoints(starting, self.config.city, self.rng, self.demand.spots)
        for row in ending.tolist():
            f.phase[row] = Phase.OFFLINE
            self.engine.set_status(f.ids[row], "offline")

    def _arrivals(self, rows: np.ndarray) -> None:
        f, cfg = self.fleet, self.config
        phase = f.phase[rows]
        f.new_waypoints(rows[phase == Phase.IDLE], cfg.city, self.rng, self.demand.spots)
        for row in rows[phase == Phase.TO_PICKUP].tolist():
            f.phase[row] = Phase.AT_PICKUP
            f.until[row] = self.now + self.rng.uniform(*cfg.pickup_service_s)
            self.rec.orders.mark("at_pickup", self.jobs[self.job_of_row[row]].row, self.now)
        for row in rows[phase == Phase.TO_DROPOFF].tolist():
            f.phase[row] = Phase.AT_DROPOFF
            f.until[row] = self.now + self.rng.uniform(*cfg.dropoff_service_s)

    def _services(self) -> None:
        f, now, rec = self.fleet, self.now, self.rec
        done = np.flatnonzero(
            np.isin(f.phase, (Phase.AT_PICKUP, Phase.AT_DROPOFF)) & (f.until <= now)
        )
        for row in done.tolist():
            order_id = self.job_of_row[row]
            job = self.jobs[order_id]
            cid = f.ids[row]
            if f.phase[row] == Phase.AT_PICKUP:
                self.engine.pick_up(order_id, cid, now)
                rec.orders.mark("picked_up", job.row, now)
                f.head_for(row, *job.dropoff, Phase.TO_DROPOFF)
                continue
            delivered = self.engine.deliver(order_id, cid, now)
            rec.orders.mark("delivered", job.row, now)
            rec.payments_settled += int(delivered.settled)
            del self.jobs[order_id], self.job_of_row[row]
            f.order[row] = -1
            f.phase[row] = Phase.IDLE
            f.new_waypoints(np.array([row]), self.config.city, self.rng, self.demand.spots)

    def _answers(self) -> None:
        f, rec = self.fleet, self.rec
        while self.events and self.events[0][0] <= self.now:
            _, _, offer_id, cid, accept = heapq.heappop(self.events)
            row = self.row_of[cid]
            offered_at, eta = self.offer_eta.pop(offer_id)
            accept = accept and f.phase[row] == Phase.IDLE  # went off shift meanwhile
            try:
                order = self.engine.answer(offer_id, cid, accept=accept)
            except ANSWER_ERRORS as exc:
                rec.answer_errors[type(exc).__name__] += 1
                continue
            if not accept:
                rec.offers_rejected += 1
                continue
            job = self.jobs[order.id]
            del self.unassigned[order.id]
            rec.orders.mark("offered", job.row, offered_at)
            rec.orders.mark("assigned", job.row, self.now)
            rec.orders.eta_s[job.row] = eta
            f.order[row] = job.row
            self.job_of_row[row] = order.id
            f.head_for(row, *job.pickup, Phase.TO_PICKUP)

    # ------------------------------------------------------------------ orders and dispatch

    def _orders(self, t0: float, t1: float) -> None:
        cfg, rec = self.config, self.rec
        left = None if cfg.max_orders is None else cfg.max_orders - rec.orders.n
        batch = self.demand.arrivals(t0, t1, left)
        amounts = self.rng.integers(30_000, 250_000, len(batch)) // 100 * 100
        cash = self.rng.random(len(batch)) < cfg.cash_share
        for i in range(len(batch)):
            pickup = (float(batch.pickup_lat[i]), float(batch.pickup_lng[i]))
            dropoff = (float(batch.dropoff_lat[i]), float(batch.dropoff_lng[i]))
            row = rec.orders.add(float(batch.at[i]), *pickup, bool(cash[i]))
            order_id = f"ord-{row:07d}"
            self.engine.create_order(
                order_id, float(batch.at[i]), pickup, dropoff, int(amounts[i]), bool(cash[i])
            )
            rec.payments_created += int(cash[i])
            self.jobs[order_id] = _Job(row, pickup, dropoff)
            self.unassigned[order_id] = float(batch.at[i])

    def _give_up(self) -> None:
        """Cancel the orders that waited longer than the customers' patience."""
        cutoff = self.now - self.config.patience_s
        expired = []
        for order_id, created in self.unassigned.items():
            if created > cutoff:
                break
            expired.append(order_id)
        for order_id in expired:
            del self.unassigned[order_id]
            self.engine.cancel(order_id, self.now)
            self.rec.orders.mark("cancelled", self.jobs.pop(order_id).row, self.now)

    def _dispatch(self) -> None:
        cfg, rec = self.config, self.rec
        started = time.perf_counter()
        report = self.engine.run_dispatch()
        rec.dispatch_wall_ms.append((time.perf_counter() - started) * 1e3)
        rec.offers_made += len(report.offers)
        rec.offers_expired += len(report.expired)
        eta = {(m.order_id, m.courier_id): m.eta_s for m in report.assignment.matches}
        accept = self.rng.random(len(report.offers)) < cfg.accept_probability
        delay = self.rng.uniform(*cfg.accept_delay_s, len(report.offers))
        for offer, yes, wait in zip(report.offers, accept.tolist(), delay.tolist(), strict=True):
            self.offer_eta[offer.id] = (
                self.now,
                eta.get((offer.order_id, offer.courier_id), np.nan),
            )
            self._seq += 1
            heapq.heappush(
                self.events, (self.now + wait, self._seq, offer.id, offer.courier_id, yes)
            )

    # ------------------------------------------------------------------ pings and samples

    def _pings(self) -> None:
        f, cfg, rng = self.fleet, self.config, self.rng
        rows = f.due_pings(self.now, cfg.ping_interval_s)
        if not rows.size:
            return
        n = rows.size
        lats, lngs = f.gps_fix(rows, self.now, cfg.city, cfg.gps_noise_m, rng)
        accuracy = rng.uniform(3.0, 15.0, n)
        glitch = rng.random(n) < cfg.glitch_probability
        accuracy[glitch] = GLITCH_ACCURACY_M
        lats[glitch], lngs[glitch] = cfg.city.offset(
            lats[glitch], lngs[glitch], GLITCH_JUMP_M, GLITCH_JUMP_M
        )
        result = self.engine.ingest(
            rows, lats, lngs, self.now, f.current_speed(rows), f.heading[rows], accuracy
        )
        accepted = result.n_accepted
        reasons = [] if accepted == n else [str(r) for r in result.reasons if r is not None]
        self.rec.pings(accepted, reasons)

    def _sample(self) -> Sample:
        f, rec = self.fleet, self.rec
        counts = rec.order_counts(self.now)
        idle = f.phase == Phase.IDLE
        offline = f.phase == Phase.OFFLINE
        if idle.any():
            cells, n = np.unique(
                cells_of(f.lat[idle], f.lng[idle], HEATMAP_RESOLUTION), return_counts=True
            )
            rec.supply_cells.update(Counter(dict(zip(cells.tolist(), n.tolist(), strict=True))))
        pings = rec.pings_sent - self._pings_at_sample
        self._pings_at_sample = rec.pings_sent
        sample = Sample(
            t=round(self.elapsed, 3),
            waiting=counts["waiting"],
            assigned=counts["assigned"],
            picked_up=counts["picked_up"],
            delivered=counts["delivered"],
            couriers_idle=int(idle.sum()),
            couriers_busy=int((~idle & ~offline).sum()),
            couriers_offline=int(offline.sum()),
            pings_per_s=round(pings / self.config.sample_every_s, 1),
        )
        rec.samples.append(sample)
        return sample
