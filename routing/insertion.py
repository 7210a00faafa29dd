"""Cheapest feasible insertion of shipments and jobs into routes, on the solver's integer time axis.

The own heuristics of the solver (route elimination) run thousands of insertions per second here,
where one OR-Tools descent per move would take tens of milliseconds. Times, windows and loads use
the same integer scaling as the OR-Tools model, so every route built here is one OR-Tools accepts
as a start, and (transit rounded up) one that is feasible in float time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from routing.model import Problem
from routing.ortools_model import amount_scale
from routing.schedule import Visit, visit_stop
from routing.time_axis import time_axis

ItemKind = Literal["shipment", "pickup", "delivery"]
NO_INSERTION = (math.inf, -1, -1)


@dataclass(frozen=True)
class Item:
    """What is inserted or removed as a whole: a shipment's two visits, or one job.

    ``kind`` is ``"shipment"`` or the kind of a job; ``vehicles`` the problem vehicle indices
    allowed to serve it; ``movable`` is False for a carried delivery (bound to its vehicle).
    """

    id: str
    nodes: tuple[int, ...]
    kind: ItemKind
    amount: tuple[int, ...]
    vehicles: frozenset[int]
    movable: bool


class Network:
    """Integer data of one solve: a node per visit, then a start and an end node per vehicle.

    Parameters
    ----------
    problem
        The problem; every vehicle gets its start and end nodes.
    visits
        The visits to route (a shipment's pickup and delivery, or only the delivery when
        carried); node ``i`` is ``visits[i]``.
    time_scale
        Integer time units per second, as in the OR-Tools model.
    """

    def __init__(self, problem: Problem, visits: Sequence[Visit], time_scale: float) -> None:
        self.problem = problem
        self.visits = list(visits)
        m = len(visits)
        vs = problem.vehicles
        stops = [visit_stop(problem, x) for x in visits]
        loc = [s.location for s, _ in stops]
        for v in vs:
            loc += [v.start, v.start if v.end is None else v.end]
        n = len(loc)
        open_end = np.zeros(n, dtype=bool)
        open_end[[m + 2 * k + 1 for k, v in enumerate(vs) if v.end is None]] = True
        secs = np.asarray(problem.travel.seconds, dtype=np.float64)[np.ix_(loc, loc)]
        dist = np.asarray(problem.travel.metres, dtype=np.float64)[np.ix_(loc, loc)]
        secs[:, open_end] = 0.0
        dist[:, open_end] = 0.0
        service = np.zeros(n)
        service[:m] = [s.service_s for s, _ in stops]
        axis = time_axis(problem, visits, time_scale)
        self.distance: list[list[float]] = dist.tolist()
        self.transit: dict[float, list[list[int]]] = {
            v.speed_factor: axis.transit(service, secs, v.speed_factor).tolist() for v in vs
        }
        windows = [s.time_window for s, _ in stops]
        for v in vs:
            windows += [v.shift, v.shift]
        self.earliest = [axis.at(w[0]) for w in windows]
        self.latest = [axis.at(w[1]) for w in windows]
        scale = amount_scale(problem)
        self.delta: list[tuple[int, ...]] = [tuple(round(a * scale) for a in c) for _, c in stops]
        self.delta_by_dim = [list(column) for column in zip(*self.delta, strict=True)] or [
            [0] * m for _ in range(problem.dimensions)
        ]
        self.capacity: list[tuple[int, ...]] = [
            tuple(math.floor(c * scale) if math.isfinite(c) else 2**60 for c in v.capacity)
            for v in vs
        ]
        carrier = {sid: k for k, v in enumerate(vs) for sid in v.carrying}
        # Goods on board from the start: delivery jobs and carried shipments.
        self.preloaded = [
            (kind == "job" and problem.jobs_by_id[i].kind == "delivery")
            or (kind == "delivery" and i in carrier)
            for kind, i in visits
        ]
        self.items: list[Item] = []
        self.item_of_node = [0] * m
        node_of = {x: i for i, x in enumerate(visits)}
        for node, (kind, item_id) in enumerate(visits):
            if kind == "pickup":
                continue
            if kind == "job":
                job = problem.jobs_by_id[item_id]
                nodes: tuple[int, ...] = (node,)
                item_kind: ItemKind = job.kind
                skills = job.skills
                amount = tuple(abs(d) for d in self.delta[node])
            else:
                shipment = problem.shipments_by_id[item_id]
                pickup = node_of.get(("pickup", item_id))
                nodes = (node,) if pickup is None else (pickup, node)
                item_kind = "delivery" if pickup is None else "shipment"
                skills = shipment.skills
                amount = tuple(abs(d) for d in self.delta[node])
            allowed = frozenset(k for k, v in enumerate(vs) if skills <= v.skills)
            if item_id in carrier:
                allowed = frozenset({carrier[item_id]})
            for x in nodes:
                self.item_of_node[x] = len(self.items)
            self.items.append(
                Item(item_id, nodes, item_kind, amount, allowed, item_id not in carrier)
            )
        self._m = m

    def start_node(self, vehicle: int) -> int:
        return self._m + 2 * vehicle

    def end_node(self, vehicle: int) -> int:
        return self._m + 2 * vehicle + 1


RouteState = tuple[list[int], list[int], list[int], list[int], list[list[int]], float]
"""A route's nodes and schedule data (``Route.state``)."""


class Route:
    """One vehicle's visit nodes with the schedule data that makes insertion checks O(1).

    ``early[k]`` is the earliest service start at position ``k`` of ``[start, *nodes, end]``,
    ``late[k]`` the latest that keeps the rest of the route on time, ``room[k]`` the spare
    capacity on board after position ``k``.
    """

    def __init__(self, net: Network, vehicle: int, nodes: Sequence[int]) -> None:
        self.net = net
        self.vehicle = vehicle
        v = net.problem.vehicles[vehicle]
        self.max_stops = v.max_stops
        self.transit = net.transit[v.speed_factor]
        self.nodes = list(nodes)
        self.seq: list[int] = []
        self.early: list[int] = []
        self.late: list[int] = []
        self.room: list[list[int]] = []
        self.cost = 0.0
        self.refresh()

    def refresh(self) -> None:
        """Recompute the schedule data after ``nodes`` changed."""
        net = self.net
        t, a, b, d = self.transit, net.earliest, net.latest, net.distance
        seq = [net.start_node(self.vehicle), *self.nodes, net.end_node(self.vehicle)]
        early = [a[seq[0]]]
        cost = 0.0
        s = early[0]
        for prev, node in itertools.pairwise(seq):
            s += t[prev][node]
            if s < a[node]:
                s = a[node]
            early.append(s)
            cost += d[prev][node]
        late = [b[seq[-1]]] * len(seq)
        s = late[-1]
        for k in range(len(seq) - 2, -1, -1):
            s -= t[seq[k]][seq[k + 1]]
            if s > b[seq[k]]:
                s = b[seq[k]]
            late[k] = s
        room = []
        for cap, delta in zip(net.capacity[self.vehicle], net.delta_by_dim, strict=True):
            spare = cap + sum(delta[x] for x in self.nodes if net.preloaded[x])
            column = [spare]
            for x in self.nodes:
                spare -= delta[x]
                column.append(spare)
            room.append(column)
        self.seq, self.early, self.late, self.room, self.cost = seq, early, late, room, cost

    def state(self) -> RouteState:
        """Everything ``refresh`` computes, to put back with ``set_state`` instead of recomputing."""
        return list(self.nodes), self.seq, self.early, self.late, self.room, self.cost

    def set_state(self, state: RouteState) -> None:
        """Return to a ``state()`` taken earlier (``refresh`` replaces its lists, never edits them)."""
        nodes, self.seq, self.early, self.late, self.room, self.cost = state
        self.nodes = list(nodes)

    def feasible(self) -> bool:
        """On time at every position, within capacity everywhere, every item allowed here."""
        net = self.net
        if any(self.vehicle not in net.items[net.item_of_node[x]].vehicles for x in self.nodes):
            return False
        b = self.net.latest
        if any(e > b[x] for e, x in zip(self.early, self.seq, strict=True)):
            return False
        if self.max_stops is not None and len(self.nodes) > self.max_stops:
            return False
        return all(min(column) >= 0 for column in self.room)

    def cheapest(self, item: Item) -> tuple[float, int, int]:
        """Least added distance of a feasible insertion: ``(cost, i, j)``, or ``NO_INSERTION``.

        A shipment's pickup goes after position ``i`` and its delivery after position ``j >= i``
        of ``[start, *nodes, end]``; a job goes after position ``i`` (``j == i``).
        """
        if self.vehicle not in item.vehicles:
            return NO_INSERTION
        if self.max_stops is not None and len(self.nodes) + len(item.nodes) > self.max_stops:
            return NO_INSERTION
        q = item.amount
        if not self.room:
            # No capacity dimension: every position has room.
            fits = [True] * (len(self.nodes) + 1)
        else:
            fits = [r >= q[0] for r in self.room[0]]
        for column, x in zip(self.room[1:], q[1:], strict=True):
            fits = [f and r >= x for f, r in zip(fits, column, strict=True)]
        if item.kind == "shipment":
            return self._pair(item.nodes[0], item.nodes[1], fits)
        if item.kind == "delivery":
            # The goods ride from the start to the stop: room needed at every position before.
            ok = []
            for f in fits:
                if not f:
                    break
                ok.append(True)
            return self._single(item.nodes[0], len(ok))
        first = len(fits)
        while first > 0 and fits[first - 1]:
            first -= 1
        return self._single(item.nodes[0], len(fits), first)

    def _single(self, u: int, stop: int, first: int = 0) -> tuple[float, int, int]:
        net, t, d = self.net, self.transit, self.net.distance
        a, au, bu = net.earliest, net.earliest[u], net.latest[u]
        seq, early, late = self.seq, self.early, self.late
        tu_row, du_row = t[u], d[u]
        best = NO_INSERTION
        for i in range(first, stop):
            x, y = seq[i], seq[i + 1]
            s = early[i] + t[x][u]
            if s < au:
                s = au
            if s > bu:
                continue
            s2 = s + tu_row[y]
            if s2 < a[y]:
                s2 = a[y]
            if s2 > late[i + 1]:
                continue
            c = d[x][u] + du_row[y] - d[x][y]
            if c < best[0]:
                best = (c, i, i)
        return best

    def _pair(self, p: int, q: int, fits: list[bool]) -> tuple[float, int, int]:
        net, t, d = self.net, self.transit, self.net.distance
        a, b = net.earliest, net.latest
        ap, bp, aq, bq = a[p], b[p], a[q], b[q]
        seq, early, late = self.seq, self.early, self.late
        tp, tq, dp, dq = t[p], t[q], d[p], d[q]
        n = len(seq) - 2
        best = NO_INSERTION
        for i in range(n + 1):
            if not fits[i]:
                continue
            x, y = seq[i], seq[i + 1]
            sp = early[i] + t[x][p]
            if sp < ap:
                sp = ap
            if sp > bp:
                continue
            base = d[x][p] - d[x][y]
            # Delivery right after the pickup.
            sq = sp + tp[q]
            if sq < aq:
                sq = aq
            if sq <= bq:
                s2 = sq + tq[y]
                if s2 < a[y]:
                    s2 = a[y]
                if s2 <= late[i + 1]:
                    c = base + dp[q] + dq[y]
                    if c < best[0]:
                        best = (c, i, i)
            # Delivery later: walk the pushed-back schedule forward from y.
            s = sp + tp[y]
            if s < a[y]:
                s = a[y]
            if s > late[i + 1]:
                continue
            base += dp[y]
            j = i + 1
            while j <= n and fits[j] and s <= bq:
                x, y = seq[j], seq[j + 1]
                sq = s + t[x][q]
                if sq < aq:
                    sq = aq
                if sq <= bq:
                    s2 = sq + tq[y]
                    if s2 < a[y]:
                        s2 = a[y]
                    if s2 <= late[j + 1]:
                        c = base + d[x][q] + dq[y] - d[x][y]
                        if c < best[0]:
                            best = (c, i, j)
                s += t[x][y]
                if s < a[y]:
                    s = a[y]
                if s > late[j + 1]:
                    break
                j += 1
        return best

    def insert(self, item: Item, i: int, j: int) -> None:
        """Insert at the positions ``cheapest`` returned and refresh."""
        if len(item.nodes) == 2:
            self.nodes[j:j] = [item.nodes[1]]
            self.nodes[i:i] = [item.nodes[0]]
        else:
            self.nodes[i:i] = [item.nodes[0]]
        self.refresh()

    def visits(self) -> list[Visit]:
        """The route as the problem's visits."""
        return [self.net.visits[x] for x in self.nodes]
