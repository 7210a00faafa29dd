"""Shipments and jobs no vehicle can serve even alone, with the reason, found before the search."""

from __future__ import annotations

from dataclasses import replace

from routing.feasibility import route_violations
from routing.model import Problem
from routing.schedule import Visit, build_route


def unservable(problem: Problem) -> dict[str, str]:
    """Map each shipment or job that no single vehicle can serve on its own to the reason.

    Carried shipments are never listed here: their vehicle must try to deliver them.
    """
    carried = {sid for v in problem.vehicles for sid in v.carrying}
    items: list[tuple[str, frozenset[str], tuple[float, ...], list[Visit]]] = [
        (s.id, s.skills, s.amount, [("pickup", s.id), ("delivery", s.id)])
        for s in problem.shipments
        if s.id not in carried
    ]
    items += [(j.id, j.skills, j.amount, [("job", j.id)]) for j in problem.jobs]
    reasons: dict[str, str] = {}
    for item_id, skills, amount, visits in items:
        skilled = [v for v in problem.vehicles if skills <= v.skills]
        if not skilled:
            reasons[item_id] = f"skills: no vehicle has all of {sorted(skills)}"
            continue
        fits = [v for v in skilled if all(a <= c for a, c in zip(amount, v.capacity, strict=True))]
        if not fits:
            reasons[item_id] = f"capacity: amount {amount} exceeds every capable vehicle's capacity"
            continue
        roomy = [v for v in fits if v.max_stops is None or v.max_stops >= len(visits)]
        if not roomy:
            reasons[item_id] = f"max_stops: no capable vehicle allows {len(visits)} stops"
            continue
        # Alone means without goods already on board, which the lone route would not deliver.
        empty = [replace(v, carrying=()) for v in roomy]
        if all(
            route_violations(problem, build_route(problem, v, visits), vehicle=v) for v in empty
        ):
            reasons[item_id] = (
                "time: no vehicle can serve it within its time windows and shift, even alone"
            )
    return reasons
