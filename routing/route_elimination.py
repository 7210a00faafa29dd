"""Fleet minimisation: empty a route, then ruin and recreate until its visits fit elsewhere.

The acceptance follows the fleet-minimisation phase of SISR (Christiaens and Vanden Berghe,
2020): every item left out after a round gains an "absence"; a round is kept when it leaves
out fewer items, or items with a smaller absence sum, so the items that keep failing are
inserted first and their neighbourhoods get reshaped around them.
"""

from __future__ import annotations

import itertools
import math
import random
import time

import numpy as np

from routing.insertion import NO_INSERTION, Network, Route, RouteState

MIN_RUIN = 3
MAX_RUIN = 12
"""Items removed around the seed per round (uniform in between)."""
EJECT_NEIGHBOURS = 15
"""An ejection looks at the routes serving this many of the item's nearest neighbours."""
PAIR_NEIGHBOURS = 20
"""A two-item ejection takes out two of this many nearest neighbours of the inserted item."""


def _lower_bound(net: Network) -> int:
    # Only deliveries (or only pickups) of jobs add up on one vehicle; shipments may reuse room.
    kinds = {item.kind for item in net.items}
    if len(kinds) != 1 or "shipment" in kinds:
        return 1
    caps = np.array(net.capacity, dtype=np.float64)
    total = np.array([item.amount for item in net.items], dtype=np.float64).sum(axis=0)
    biggest = caps.max(axis=0)
    need = [math.ceil(t / c - 1e-9) if c > 0 else 1 for t, c in zip(total, biggest, strict=True)]
    return max(1, *need)


def neighbours(net: Network) -> list[list[int]]:
    """Items by distance from each item (closest first, itself excluded)."""
    first = np.array([item.nodes[0] for item in net.items], dtype=np.int64)
    last = np.array([item.nodes[-1] for item in net.items], dtype=np.int64)
    d = np.asarray(net.distance, dtype=np.float64)
    # Shipments are close when either end is close to either end of the other.
    gap = np.minimum.reduce(
        [
            d[np.ix_(first, first)],
            d[np.ix_(last, last)],
            d[np.ix_(first, last)],
            d[np.ix_(last, first)],
        ]
    )
    np.fill_diagonal(gap, np.inf)
    return [list(row[:-1]) for row in np.argsort(gap, axis=1, kind="stable").tolist()]


def eliminate_routes(
    net: Network,
    routes: dict[int, list[int]],
    deadline: float,
    seed: int = 0,
    patience: float = math.inf,
) -> dict[int, list[int]]:
    """Fewer routes serving the same items, searched until ``deadline`` (``time.monotonic``).

    Parameters
    ----------
    net
        The integer data of the solve.
    routes
        Nodes per vehicle of a feasible plan serving every item of ``net``.
    deadline
        When to stop and return the best plan found.
    seed
        Seed of the random choices.
    patience
        Give up earlier when this many seconds pass without a route emptied.

    Returns
    -------
    dict
        Nodes per vehicle (non-empty routes only) of the plan with the fewest routes found;
        ``routes`` itself when no route could be emptied.
    """
    rng = random.Random(seed)
    active = {k: Route(net, k, nodes) for k, nodes in routes.items() if nodes}
    best = {k: list(r.nodes) for k, r in active.items()}
    if not all(r.feasible() for r in active.values()):
        return best
    bound = _lower_bound(net)
    near = neighbours(net)
    absences = [0] * len(net.items)
    route_of: dict[int, int] = {}
    for k, r in active.items():
        for x in r.nodes:
            route_of[net.item_of_node[x]] = k
    out: list[int] = []
    success = time.monotonic()
    while (now := time.monotonic()) < deadline and now - success < patience:
        if not out:
            success = now
            best = {k: list(r.nodes) for k, r in active.items() if r.nodes}
            removable = [
                k
                for k, r in active.items()
                if all(net.items[net.item_of_node[x]].movable for x in r.nodes)
            ]
            if len(best) <= bound or not removable:
                break
            # The smaller routes are the likelier to empty; some randomness avoids a fixation.
            removable.sort(key=lambda k: len(active[k].nodes))
            k = removable[int(len(removable) * rng.random() ** 3)]
            gone = active.pop(k)
            out = sorted({net.item_of_node[x] for x in gone.nodes})
            for i in out:
                del route_of[i]
            continue
        kept = _round(net, active, route_of, out, absences, near, rng)
        # A round that changed nothing: force the most often left-out item in by ejecting
        # the least often left-out item whose removal makes room for it (Nagata and Braysy).
        if kept is out:
            kept = _eject(net, active, route_of, out, absences, near, rng)
        out = kept
    return best


def _round(
    net: Network,
    active: dict[int, Route],
    route_of: dict[int, int],
    out: list[int],
    absences: list[int],
    near: list[list[int]],
    rng: random.Random,
) -> list[int]:
    """One ruin-and-recreate round; returns the items left out after it (kept or undone)."""
    saved = snapshot(active, route_of)
    removed = ruin(net, active, route_of, rng.choice(out), near, rng)
    pool = removed + out if removed is not None else []
    rng.shuffle(pool)
    if rng.random() < 0.5:
        pool.sort(key=lambda i: -absences[i])
    left = recreate(net, active, route_of, pool)
    for i in left:
        absences[i] += 1
    if removed is not None and (
        # Equal sums are kept too: drifting across plateaus emptied more routes.
        len(left) < len(out) or sum(absences[i] for i in left) <= sum(absences[i] for i in out)
    ):
        return left
    restore(active, route_of, saved)
    return out


Snapshot = tuple[dict[int, RouteState], dict[int, int]]


def snapshot(active: dict[int, Route], route_of: dict[int, int]) -> Snapshot:
    """The routes' states and the route of each item, to undo a round."""
    return {k: r.state() for k, r in active.items()}, dict(route_of)


def restore(active: dict[int, Route], route_of: dict[int, int], saved: Snapshot) -> None:
    """Undo every change since ``saved`` was taken."""
    for k, state in saved[0].items():
        if active[k].nodes != state[0]:
            active[k].set_state(state)
    route_of.clear()
    route_of.update(saved[1])


def ruin(
    net: Network,
    active: dict[int, Route],
    route_of: dict[int, int],
    seed: int,
    near: list[list[int]],
    rng: random.Random,
) -> list[int] | None:
    """Remove a few served items near ``seed``; None when a shortened route broke a window.

    (Removing a visit only shortens travel in a metric matrix; a road-network matrix need
    not be one, and then the caller must undo the round.)
    """
    size = rng.randint(MIN_RUIN, MAX_RUIN)
    removed: list[int] = []
    for i in near[seed]:
        if len(removed) >= size:
            break
        if i in route_of and net.items[i].movable and rng.random() < 0.8:
            removed.append(i)
    gone = set(removed)
    touched = {route_of.pop(i) for i in removed}
    for k in touched:
        r = active[k]
        r.nodes = [x for x in r.nodes if net.item_of_node[x] not in gone]
        r.refresh()
    return removed if all(active[k].feasible() for k in touched) else None


def recreate(
    net: Network, active: dict[int, Route], route_of: dict[int, int], pool: list[int]
) -> list[int]:
    """Insert each item of ``pool`` in turn at its cheapest place; the items that fit nowhere."""
    left: list[int] = []
    for i in pool:
        item = net.items[i]
        choice = NO_INSERTION
        where = -1
        for k, r in active.items():
            c = r.cheapest(item)
            if c[0] < choice[0]:
                choice, where = c, k
        if where < 0:
            left.append(i)
            continue
        active[where].insert(item, choice[1], choice[2])
        route_of[i] = where
    return left


def _eject(
    net: Network,
    active: dict[int, Route],
    route_of: dict[int, int],
    out: list[int],
    absences: list[int],
    near: list[list[int]],
    rng: random.Random,
) -> list[int]:
    """Insert the item left out most often in place of one or two served items.

    Returns the new left-out list (``out`` itself when no ejection makes room).
    """
    items = net.items
    v = max(out, key=lambda i: (absences[i], rng.random()))
    # Only the routes through its neighbourhood: elsewhere it rarely fits and checks cost most.
    nearby = [
        k
        for k in sorted({route_of[i] for i in near[v][:EJECT_NEIGHBOURS] if i in route_of})
        if k in items[v].vehicles
    ]
    move = best_ejection(net, [active[k] for k in nearby], v, absences, 1, rng)
    if move is None:
        # Two at once, among the items closest to it (those most likely in its way); one
        # ejection alone left R204 and RC202 stuck with one or two items out for thousands
        # of rounds.
        close = set(near[v][:PAIR_NEIGHBOURS])
        move = best_ejection(net, [active[k] for k in nearby], v, absences, 2, rng, close)
    if move is None:
        return out
    r, gone, i, j = move
    r.nodes = [x for x in r.nodes if net.item_of_node[x] not in gone]
    r.insert(items[v], i, j)
    for u in gone:
        del route_of[u]
    route_of[v] = r.vehicle
    return [*gone, *(i for i in out if i != v)]


Ejection = tuple[Route, tuple[int, ...], int, int]
"""The route, the items to take out of it, and where ``v`` then goes (``Route.cheapest``)."""


def best_ejection(
    net: Network,
    routes: list[Route],
    v: int,
    absences: list[int],
    size: int,
    rng: random.Random,
    among: set[int] | None = None,
) -> Ejection | None:
    """The ``size`` items of one route whose removal lets item ``v`` in there, if any.

    Chosen by the least absence sum of the ejected items, then the least insertion cost of
    ``v`` (ties at random); with ``among``, only items of that set are ejected. The routes are
    left as they were.
    """
    items = net.items
    groups: list[tuple[int, float, int, tuple[int, ...]]] = []
    for index, r in enumerate(routes):
        served = sorted(
            {
                u
                for u in (net.item_of_node[x] for x in r.nodes)
                if items[u].movable and (among is None or u in among)
            }
        )
        for group in itertools.combinations(served, size):
            groups.append((sum(absences[u] for u in group), rng.random(), index, group))
    # Least absence sum first: once one fits, groups of a larger sum need no check.
    groups.sort()
    states = [r.state() for r in routes]
    best: tuple[int, float, float] | None = None
    move: Ejection | None = None
    for lost, tie, index, group in groups:
        if best is not None and lost > best[0]:
            break
        r = routes[index]
        r.nodes = [x for x in states[index][0] if net.item_of_node[x] not in group]
        r.refresh()
        if r.feasible():
            c = r.cheapest(items[v])
            score = (lost, c[0], tie)
            if c[0] < math.inf and (best is None or score < best):
                best, move = score, (r, group, c[1], c[2])
        r.set_state(states[index])
    return move
