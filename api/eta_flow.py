"""ETAs refreshed from pings: after each ingest, a courier carrying orders gets new pickup and
drop-off ETAs (`orders.eta.refresh_etas`), published as ``eta`` messages on the orders' streams.

Hot path: the ingest hook looks each moved courier up in a dict (no orders: done) and, at most
once per ``interval_s`` per courier, computes its orders' ETAs from the live position (one
vectorized travel-time call over its remaining stops). No database round trip: the
``order.eta_updated`` transitions wait in memory (the latest per order) and `flush` writes them
from a background task; one that lost a race with another change of its order is dropped (the
next refresh recomputes it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence

from api.outbound import EtaMessage
from geo.cells import cell_of
from orders.eta import ETA_STATES, PairwiseTravel, PlannedStop, StopKind, refresh_etas
from orders.lifecycle import Transition
from orders.model import Order, OrderState, Position
from routing.travel_time import GreatCircleTravelTime
from store.errors import NotFound, StaleVersion
from store.interface import Store
from tracking import LiveIndex
from tracking.hub import Hub

log = logging.getLogger(__name__)


def planned_stops(orders: Sequence[Order]) -> list[PlannedStop]:
    """The courier's remaining stops in a plain driving order: drop-offs of what it carries
    first, then each assigned order's pickup and drop-off (oldest assignment first)."""
    carried = [o for o in orders if o.state is OrderState.PICKED_UP]
    waiting = [o for o in orders if o.state is OrderState.ASSIGNED]
    stops = [PlannedStop(o.id, StopKind.DROPOFF, o.dropoff_lat, o.dropoff_lng) for o in carried]
    for o in sorted(waiting, key=lambda o: (o.updated_at, o.id)):
        stops.append(PlannedStop(o.id, StopKind.PICKUP, o.pickup_lat, o.pickup_lng))
        stops.append(PlannedStop(o.id, StopKind.DROPOFF, o.dropoff_lat, o.dropoff_lng))
    return stops


class EtaRefresher:
    """Tracks the orders each courier carries and refreshes their ETAs as it moves.

    Parameters
    ----------
    store
        Where `flush` writes the ``order.eta_updated`` transitions.
    index, index_lock
        The live index (position and vehicle of a courier) and the lock that guards it.
    hub, console_resolution
        Where ``eta`` messages go: the order's topic, its courier's (the driver) and the coarse
        cells of its pickup and drop-off (consoles).
    interval_s
        Least time between two refreshes of one courier's orders.
    threshold_s
        An ETA that moved by less is not news (`orders.eta.refresh_etas`).
    """

    def __init__(
        self,
        store: Store,
        index: LiveIndex,
        index_lock: threading.RLock,
        hub: Hub,
        *,
        clock: Callable[[], float],
        console_resolution: int,
        interval_s: float = 15.0,
        threshold_s: float = 30.0,
        travel: PairwiseTravel | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.index_lock = index_lock
        self.hub = hub
        self.clock = clock
        self.console_resolution = console_resolution
        self.interval_s = interval_s
        self.threshold_s = threshold_s
        self.travel = travel or GreatCircleTravelTime()
        self._orders: dict[str, dict[str, Order]] = {}
        self._courier_of: dict[str, str] = {}
        self._last: dict[str, float] = {}
        self._pending: dict[str, Transition] = {}
        self._mutex = threading.Lock()

    def track(self, order: Order) -> None:
        """Follow an order's latest version (called whenever an order is published).

        A change of the courier's route (an order assigned, picked up, gone) lifts the
        throttle, so its next ping refreshes the ETAs at once."""
        with self._mutex:
            courier_id = self._courier_of.get(order.id)
            known = self._orders.get(courier_id, {}).get(order.id) if courier_id else None
            if known is None or known.state is not order.state:
                for cid in {courier_id, order.courier_id} - {None}:
                    self._last.pop(str(cid), None)
            self._track(order)

    def _track(self, order: Order) -> None:
        old = self._courier_of.pop(order.id, None)
        if old is not None:
            self._orders.get(old, {}).pop(order.id, None)
        if order.state in ETA_STATES and order.courier_id:
            self._orders.setdefault(order.courier_id, {})[order.id] = order
            self._courier_of[order.id] = order.courier_id
        if old is not None and not self._orders.get(old):
            self._orders.pop(old, None)  # carries nothing now: back to the one-lookup path
            self._last.pop(old, None)

    def load(self, tenant_ids: Iterable[str]) -> None:
        """Follow the orders couriers carry at start-up."""
        for tenant_id in tenant_ids:
            for state in ETA_STATES:
                for order in self.store.list_orders(tenant_id, state=state, limit=100_000):
                    self.track(order)

    async def run(self, every_s: float) -> None:
        """Flush every ``every_s`` seconds until cancelled (writes happen in a thread)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.to_thread(self.flush)
            except Exception:  # the store may be down for a while: keep refreshing
                log.exception("writing refreshed ETAs failed")

    def couriers_moved(self, courier_ids: Iterable[str]) -> None:
        """The ingest hook: refresh the ETAs of moved couriers that carry orders, throttled."""
        now = self.clock()
        for courier_id in courier_ids:
            if courier_id not in self._orders:  # most couriers: one dict lookup
                continue
            if now - self._last.get(courier_id, -math.inf) < self.interval_s:
                continue
            self._last[courier_id] = now
            self._refresh(courier_id, now)

    def _refresh(self, courier_id: str, now: float) -> None:
        with self.index_lock:
            if courier_id not in self.index:
                return
            state = self.index.get(courier_id)
        with self._mutex:
            orders = list(self._orders.get(courier_id, {}).values())
        if not orders:
            return
        transitions = refresh_etas(
            orders,
            Position(state.lat, state.lng),
            now,
            planned_stops(orders),
            self.travel,
            threshold_s=self.threshold_s,
            vehicle=state.vehicle,
        )
        with self._mutex:
            for t in transitions:
                earlier = self._pending.get(t.order.id)
                events = (earlier.events if earlier else ()) + t.events
                self._pending[t.order.id] = Transition(t.order, events)
                self._track(t.order)
        for t in transitions:
            self._publish(t.order, now)

    def _publish(self, order: Order, at: float) -> None:
        msg = EtaMessage(
            order_id=order.id,
            courier_id=order.courier_id or "",
            state=str(order.state),
            pickup_eta=order.pickup_eta if order.state is OrderState.ASSIGNED else None,
            dropoff_eta=order.dropoff_eta,
            ts=at,
        )
        topics: list[tuple[str, Hashable]] = [("order", order.id)]
        if order.courier_id:
            topics.append(("courier", order.courier_id))
        topics += [
            ("cell", c)
            for c in {
                cell_of(order.pickup_lat, order.pickup_lng, self.console_resolution),
                cell_of(order.dropoff_lat, order.dropoff_lng, self.console_resolution),
            }
        ]
        self.hub.publish_event(order.tenant, topics, msg)

    def flush(self) -> int:
        """Write the waiting ETA transitions; returns how many were written."""
        with self._mutex:
            pending, self._pending = list(self._pending.values()), {}
        written = 0
        for t in pending:
            try:
                self.store.save_transition(t)
            except (StaleVersion, NotFound):
                continue  # the order changed meanwhile: the next refresh starts from it
            written += 1
        return written
