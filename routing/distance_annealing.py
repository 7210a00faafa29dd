"""Distance improvement with a fixed set of routes: ruin and recreate under simulated annealing."""

from __future__ import annotations

import math
import random
import time

from routing.insertion import Network, Route
from routing.route_elimination import neighbours, recreate, restore, ruin, snapshot

START_TEMPERATURE = 0.01
END_TEMPERATURE = 0.0002
"""Annealing temperatures as shares of the starting plan's distance (decaying geometrically)."""


def anneal_distance(
    net: Network, routes: dict[int, list[int]], deadline: float, seed: int = 0
) -> dict[int, list[int]]:
    """A shorter plan on the same vehicles serving the same items, searched until ``deadline``.

    Each round removes a few items around a random one and re-inserts them, in random order,
    each at its cheapest feasible place; a round that leaves an item out is undone, a longer
    plan is kept with the annealing probability (SISR, Christiaens and Vanden Berghe, 2020).

    Parameters
    ----------
    net
        The integer data of the solve.
    routes
        Nodes per vehicle of a feasible plan serving every item of ``net``.
    deadline
        When to stop (``time.monotonic``).
    seed
        Seed of the random choices.

    Returns
    -------
    dict
        Nodes per vehicle of the shortest plan found (``routes`` when nothing was better).
    """
    rng = random.Random(seed)
    active = {k: Route(net, k, nodes) for k, nodes in routes.items()}
    best = {k: list(r.nodes) for k, r in active.items()}
    if not all(r.feasible() for r in active.values()):
        return best
    route_of = {net.item_of_node[x]: k for k, r in active.items() for x in r.nodes}
    served = sorted(route_of)
    if not served:
        return best
    near = neighbours(net)
    current = best_cost = sum(r.cost for r in active.values())
    began = time.monotonic()
    span = max(1e-9, deadline - began)
    hot, cold = START_TEMPERATURE * current, END_TEMPERATURE * current
    while (now := time.monotonic()) < deadline:
        temperature = hot * (cold / hot) ** ((now - began) / span) if hot > 0 else 0.0
        saved = snapshot(active, route_of)
        removed = ruin(net, active, route_of, rng.choice(served), near, rng)
        if removed is None or not removed:
            restore(active, route_of, saved)
            continue
        rng.shuffle(removed)
        if recreate(net, active, route_of, removed):
            restore(active, route_of, saved)
            continue
        cost = sum(r.cost for r in active.values())
        threshold = -temperature * math.log(1.0 - rng.random()) if temperature > 0 else 0.0
        if cost < current + threshold:
            current = cost
            if cost < best_cost - 1e-9:
                best_cost = cost
                best = {k: list(r.nodes) for k, r in active.items()}
        else:
            restore(active, route_of, saved)
    return best
