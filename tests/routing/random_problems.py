"""Seeded generator of small random pickup-and-delivery problems for the routing tests."""

from __future__ import annotations

import numpy as np

from routing.model import Job, Problem, Shipment, Stop, Vehicle
from routing.travel_time import EuclideanTravelTime


def random_problem(seed: int, shipments: int = 5, jobs: int = 3, vehicles: int = 3) -> Problem:
    """Points in a 100 x 100 square, one depot, tight enough that some items may be dropped."""
    rng = np.random.default_rng(seed)
    n = 1 + 2 * shipments + jobs
    xy = rng.uniform(0, 100, size=(n, 2))
    travel = EuclideanTravelTime().matrix(xy[:, 1], xy[:, 0])
    horizon = 600.0

    def stop(loc: int) -> Stop:
        start = float(rng.uniform(0, horizon * 0.6))
        width = float(rng.uniform(40, 300))
        return Stop(loc, float(rng.integers(0, 15)), (start, min(horizon, start + width)))

    ships = []
    for k in range(shipments):
        pick, drop = stop(1 + 2 * k), stop(2 + 2 * k)
        if drop.time_window[1] < pick.time_window[0]:
            drop = Stop(drop.location, drop.service_s, (pick.time_window[0], horizon))
        amount = (float(rng.integers(1, 8)), float(rng.integers(0, 3)))
        skills = frozenset({"cold"}) if rng.random() < 0.2 else frozenset()
        ships.append(Shipment(f"s{k}", pick, drop, amount, skills, int(rng.integers(0, 3))))
    job_list = [
        Job(
            f"j{k}",
            stop(1 + 2 * shipments + k),
            (float(rng.integers(1, 5)), 0.0),
            kind="pickup" if rng.random() < 0.5 else "delivery",
        )
        for k in range(jobs)
    ]
    fleet = tuple(
        Vehicle(
            f"v{k}",
            start=0,
            end=0 if k % 2 == 0 else None,
            capacity=(12.0, 4.0),
            shift=(0.0, horizon),
            speed_factor=float(rng.choice([1.0, 1.5])),
            max_stops=int(rng.integers(4, 10)) if k == 0 else None,
            skills=frozenset({"cold"}) if k == 1 else frozenset(),
        )
        for k in range(vehicles)
    )
    return Problem(vehicles=fleet, travel=travel, shipments=tuple(ships), jobs=tuple(job_list))
