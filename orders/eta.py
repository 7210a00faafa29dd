"""Pickup and drop-off ETAs refreshed from a courier's position and its planned stops.

The travel-time source is structural (`PairwiseTravel`): `routing.travel_time`'s providers fit
it, and `orders` keeps depending on `geo` only. Alternatively the route's own stop ETAs are used
as they are (``travel=None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

import numpy as np
import numpy.typing as npt

from geo.coords import validate_arrays
from orders.errors import InvalidFields
from orders.lifecycle import Transition
from orders.model import SYSTEM, Actor, Order, OrderEvent, OrderState, Position

FloatArray = npt.NDArray[np.float64]

DEFAULT_THRESHOLD_S = 60.0
"""An ETA moving by this much or less is not news: no event, no write."""

ETA_STATES = frozenset({OrderState.ASSIGNED, OrderState.PICKED_UP})


class _Seconds(Protocol):
    @property
    def seconds(self) -> FloatArray: ...


class PairwiseTravel(Protocol):
    """Element-wise travel durations from ``src[i]`` to ``dst[i]`` (a `TravelTimeProvider`)."""

    def pairwise(
        self,
        src_lats: npt.ArrayLike,
        src_lngs: npt.ArrayLike,
        dst_lats: npt.ArrayLike,
        dst_lngs: npt.ArrayLike,
        vehicles: str | npt.ArrayLike | None = None,
    ) -> _Seconds: ...


class StopKind(StrEnum):
    """What the courier does at a stop."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """One stop of a courier's route, in driving order.

    Attributes
    ----------
    eta
        The route's ETA for the stop (UTC epoch s), used when no travel provider is given.
    earliest
        Start of the stop's time window: a courier arriving earlier waits.
    service_s
        Time spent at the stop (parking, hand-over) before driving on.
    """

    order_id: str
    kind: StopKind
    lat: float
    lng: float
    eta: float | None = None
    earliest: float | None = None
    service_s: float = 0.0


class InvalidRoute(InvalidFields):
    """Planned stops that cannot give ETAs (bad coordinates, missing route ETAs)."""

    what = "route"


def stop_etas(
    position: Position,
    at: float,
    stops: Sequence[PlannedStop],
    travel: PairwiseTravel | None = None,
    *,
    vehicle: str | None = None,
) -> FloatArray:
    """Arrival time at each stop, driving from ``position`` at time ``at`` in the given order.

    With a provider, the legs (position -> stop 0 -> stop 1 ...) are computed in one
    vectorized call; arrivals wait for ``earliest`` and departures add ``service_s``. Without
    one, the stops' own ``eta`` values are returned.

    Raises
    ------
    InvalidRoute
        A stop without ``eta`` when ``travel`` is None.
    InvalidCoordinate
        A stop or the position out of range.
    """
    if not stops:
        return np.empty(0, dtype=np.float64)
    if travel is None:
        missing = [
            (f"stops[{i}].eta", None, "needed without a travel provider")
            for i, s in enumerate(stops)
            if s.eta is None
        ]
        if missing:
            raise InvalidRoute(missing)
        return np.array([s.eta for s in stops], dtype=np.float64)
    lats, lngs = validate_arrays(
        [position.lat] + [s.lat for s in stops], [position.lng] + [s.lng for s in stops]
    )
    legs = np.asarray(travel.pairwise(lats[:-1], lngs[:-1], lats[1:], lngs[1:], vehicle).seconds)
    out = np.empty(len(stops), dtype=np.float64)
    clock = at
    for i, stop in enumerate(stops):  # sequential: waiting at one stop delays all later ones
        clock += float(legs[i])
        if stop.earliest is not None:
            clock = max(clock, stop.earliest)
        out[i] = clock
        clock += stop.service_s
    return out


def refresh_etas(
    orders: Iterable[Order],
    position: Position,
    at: float,
    stops: Sequence[PlannedStop],
    travel: PairwiseTravel | None = None,
    *,
    threshold_s: float = DEFAULT_THRESHOLD_S,
    actor: Actor = SYSTEM,
    vehicle: str | None = None,
) -> list[Transition]:
    """New ETAs for the courier's orders; a transition only where an ETA moved enough.

    Parameters
    ----------
    orders
        The courier's orders (those on ``stops``); orders not in ``assigned`` or ``picked_up``
        are left alone, and so is the pickup ETA of an order already picked up.
    position, at
        The courier's latest position and its time.
    stops
        The remaining stops in driving order.
    threshold_s
        An ETA is refreshed when it was unknown or moves by more than this.

    Returns
    -------
    list of Transition
        One per changed order: the order with new ETAs and an ``order.eta_updated`` event
        (state unchanged; published on the order's stream and to webhooks).
    """
    etas = stop_etas(position, at, stops, travel, vehicle=vehicle)
    new_eta: dict[tuple[str, StopKind], float] = {}
    for stop, eta in zip(stops, etas, strict=True):
        new_eta.setdefault((stop.order_id, stop.kind), float(eta))
    out: list[Transition] = []
    for order in orders:
        if order.state not in ETA_STATES:
            continue
        pickup = order.pickup_eta
        if order.state is OrderState.ASSIGNED:
            pickup = new_eta.get((order.id, StopKind.PICKUP), pickup)
        dropoff = new_eta.get((order.id, StopKind.DROPOFF), order.dropoff_eta)
        if not (
            _moved(order.pickup_eta, pickup, threshold_s)
            or _moved(order.dropoff_eta, dropoff, threshold_s)
        ):
            continue
        new = replace(
            order, pickup_eta=pickup, dropoff_eta=dropoff, updated_at=at, version=order.version + 1
        )
        event = OrderEvent(
            order_id=order.id,
            tenant=order.tenant,
            seq=new.version,
            kind="order.eta_updated",
            from_state=order.state,
            to_state=order.state,
            actor=actor,
            at=at,
            courier_id=order.courier_id,
            courier_position=position,
            data=MappingProxyType(
                {
                    "pickup_eta": pickup,
                    "dropoff_eta": dropoff,
                    "previous_pickup_eta": order.pickup_eta,
                    "previous_dropoff_eta": order.dropoff_eta,
                }
            ),
        )
        out.append(Transition(new, (event,)))
    return out


def _moved(old: float | None, new: float | None, threshold_s: float) -> bool:
    if new is None:
        return False
    return old is None or abs(new - old) > threshold_s
