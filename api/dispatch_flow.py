"""Dispatch in the server: the pool, batch runs, offers and replies, kept in step with the store.

`dispatch.Dispatcher` decides (pure, in memory); this module persists each decision as an order
transition (`orders.lifecycle`) and publishes it. A decision the store refuses (the order was
cancelled meanwhile) is withdrawn from the dispatcher, so the two never disagree for long.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from api.outbound import OfferMessage
from dispatch.candidates import CandidateIndex
from dispatch.dispatcher import Dispatcher
from dispatch.engine import Assignment, DispatchParams
from dispatch.errors import UnknownId
from dispatch.model import DispatchOrder
from dispatch.offers import Offer, OfferBook
from orders import lifecycle
from orders.model import SYSTEM, Actor, Order, OrderState, Position
from store.errors import NotFound, StaleVersion
from store.interface import Store
from tracking import LiveIndex
from tracking.hub import Hub


class OfferNotYours(PermissionError):
    """A driver answering an offer made to another courier."""

    def __init__(self, offer_id: str) -> None:
        self.field = "offer_id"
        self.value = offer_id
        super().__init__(f"offer {offer_id!r} is not for this courier")


@dataclass(frozen=True, slots=True)
class RunReport:
    assignment: Assignment
    offers: list[Offer]
    expired: list[Offer]


@dataclass(frozen=True, slots=True)
class TenantRun:
    """One tenant's share of a run (what `POST /v1/dispatch/run` reports): its offers as
    ``(offer id, order id, courier id, expires_at)`` and its orders left waiting, with why."""

    mode: str
    offers: list[tuple[str, str, str, float]]
    unassigned: dict[str, str]


class DispatchService:
    """Owns the dispatcher and the offer book of one server process."""

    def __init__(
        self,
        store: Store,
        index: LiveIndex,
        hub: Hub,
        publish_order: Callable[[str, Order], None],
        *,
        offer_timeout_s: float,
        clock: Callable[[], float],
        index_lock: threading.RLock | None = None,
        params: DispatchParams | None = None,
        candidates: CandidateIndex | None = None,
        offer_prefix: str = "of",
    ) -> None:
        self.store = store
        self.index = index
        self.hub = hub
        self.publish_order = publish_order
        self.clock = clock
        self.offers = OfferBook(timeout_s=offer_timeout_s, clock=clock, prefix=offer_prefix)
        # candidates: where runs look for couriers (a scale-out shard adds lent ones)
        self.dispatcher = Dispatcher(
            candidates if candidates is not None else index,
            self.offers,
            on_accept=self._add_load,
            params=params,
            clock=clock,
        )
        self._made: dict[str, Offer] = {}
        self._tenant_of: dict[str, str] = {}
        self._lock = threading.Lock()
        self._index_lock = index_lock if index_lock is not None else threading.RLock()

    # ------------------------------------------------------------------ pool

    def submit(self, order: Order) -> None:
        self._tenant_of[order.id] = order.tenant
        self.dispatcher.submit(
            [
                DispatchOrder(
                    id=order.id,
                    tenant=order.tenant,
                    pickup_lat=order.pickup_lat,
                    pickup_lng=order.pickup_lng,
                    dropoff_lat=order.dropoff_lat,
                    dropoff_lng=order.dropoff_lng,
                    created_at=order.created_at,
                    size=order.size,
                    priority=order.priority,
                )
            ]
        )

    def withdraw(self, order_id: str) -> None:
        """The order left the pool outside dispatch (cancelled, assigned by hand)."""
        self._tenant_of.pop(order_id, None)
        with contextlib.suppress(UnknownId):  # not in the pool: nothing to withdraw
            self.dispatcher.cancel(order_id)

    def load_pool(self, tenant_ids: list[str], keep: Callable[[Order], bool] | None = None) -> None:
        """Refill the pool from the store at start-up (orders waiting for a courier); ``keep``
        narrows it (a scale-out shard keeps the orders whose pickup it owns)."""
        for tenant_id in tenant_ids:
            for state in (OrderState.CREATED, OrderState.OFFERED):
                for order in self.store.list_orders(tenant_id, state=state, limit=10_000):
                    if keep is not None and not keep(order):
                        continue
                    if state is OrderState.OFFERED:
                        order = (
                            self._save(
                                lifecycle.return_to_pool(
                                    order, at=self.clock(), actor=SYSTEM, reason="expired"
                                )
                            )
                            or order
                        )
                    self.submit(order)

    # ------------------------------------------------------------------ runs

    def run(self) -> RunReport:
        """Expire old offers, match the pool, open offers; each step persisted and published."""
        with self._lock:
            expired = self.offers.expire()
            for offer in expired:
                self._return(offer, "expired")
            with self._index_lock:
                result = self.dispatcher.run_once()
            made = list(self.dispatcher.last_offers)
            for offer in made:
                self._made[offer.id] = offer
                order = self._load(offer.order_id)
                if order is None:
                    continue
                saved = self._save(
                    lifecycle.offer(
                        order,
                        offer.courier_id,
                        at=self.clock(),
                        actor=SYSTEM,
                        position=self._position(offer.courier_id),
                    )
                )
                if saved is None:
                    self.offers.withdraw_order(offer.order_id)
                    self.withdraw(offer.order_id)
                    continue
                self._publish_offer(saved, offer)
            return RunReport(result, made, expired)

    def run_for(self, tenant_id: str) -> TenantRun:
        """`run`, reported for one tenant."""
        return self.share_of(self.run(), tenant_id)

    def share_of(self, report: RunReport, tenant_id: str) -> TenantRun:
        """A tenant's offers in a run and its orders the run left waiting."""
        mine = {o.id for o in self.dispatcher.pool() if o.tenant == tenant_id}
        return TenantRun(
            mode=report.assignment.mode,
            offers=[
                (o.id, o.order_id, o.courier_id, o.expires_at)
                for o in report.offers
                if self.tenant_of_offer(o) == tenant_id
            ],
            unassigned={
                order_id: reason
                for order_id, reason in report.assignment.unassigned.items()
                if order_id in mine
            },
        )

    def answer(
        self, tenant_id: str, courier_id: str | None, offer_id: str, *, accept: bool
    ) -> Order:
        """A courier (or the tenant on its behalf, ``courier_id=None``) answers an offer."""
        with self._lock:
            offer = self._made.get(offer_id)
            if offer is None:
                raise NotFound("offer", offer_id)
            order = self.store.get_order(tenant_id, offer.order_id)  # NotFound across tenants
            if courier_id is not None and offer.courier_id != courier_id:
                raise OfferNotYours(offer_id)
            if accept:
                with self._index_lock:
                    self.dispatcher.accept(offer_id)
                del self._made[offer_id]
                self._tenant_of.pop(offer.order_id, None)
                saved = self._save(
                    lifecycle.accept(
                        order,
                        offer.courier_id,
                        at=self.clock(),
                        position=self._position(offer.courier_id),
                    )
                )
            else:
                self.dispatcher.reject(offer_id)
                del self._made[offer_id]
                saved = self._return(offer, "rejected")
            if saved is None:
                raise StaleVersion("order", offer.order_id, order.version, None)
            return saved

    def assign_by_hand(self, tenant_id: str, order_id: str, courier_id: str, actor: Actor) -> Order:
        """A dispatcher gives an order to a courier directly: offered and accepted at once."""
        with self._lock:
            order = self.store.get_order(tenant_id, order_id)
            now = self.clock()
            position = self._position(courier_id)
            offered = lifecycle.offer(order, courier_id, at=now, actor=actor, position=position)
            accepted = lifecycle.accept(
                offered.order, courier_id, at=now, actor=actor, position=position
            )
            both = lifecycle.Transition(accepted.order, offered.events + accepted.events)
            self.offers.withdraw_order(order_id)
            self.withdraw(order_id)
            saved = self.store.save_transition(both)
            self.add_load(courier_id, order.size)
            self.publish_order(tenant_id, saved)
            return saved

    def tenant_of_offer(self, offer: Offer) -> str | None:
        return self._tenant_of.get(offer.order_id)

    # ------------------------------------------------------------------ helpers

    def _add_load(self, offer: Offer) -> None:
        self.add_load(offer.courier_id, offer.size)

    def add_load(self, courier_id: str, units: int) -> None:
        """The courier carries ``units`` more (an order it took): busy, with that load."""
        with self._index_lock:
            if courier_id in self.index:
                state = self.index.get(courier_id)
                self.index.set_attrs(courier_id, load=state.load + units, status="busy")

    def release_load(self, courier_id: str, units: int) -> None:
        """The courier no longer carries an order (delivered, failed, cancelled after
        assignment): its load drops, and it is idle again when it carries nothing."""
        with self._index_lock:
            if courier_id in self.index:
                state = self.index.get(courier_id)
                load = max(0, state.load - units)
                status = "idle" if load == 0 and state.status == "busy" else state.status
                self.index.set_attrs(courier_id, load=load, status=status)

    def position(self, courier_id: str) -> Position | None:
        """The courier's live position, if it has pinged."""
        return self._position(courier_id)

    def _position(self, courier_id: str) -> Position | None:
        with self._index_lock:
            if courier_id not in self.index:
                return None
            state = self.index.get(courier_id)
        return Position(state.lat, state.lng)

    def _load(self, order_id: str) -> Order | None:
        tenant = self._tenant_of.get(order_id)
        if tenant is None:
            return None
        try:
            return self.store.get_order(tenant, order_id)
        except NotFound:
            return None

    def _save(self, decided: lifecycle.Transition) -> Order | None:
        try:
            saved = self.store.save_transition(decided)
        except (StaleVersion, ValueError):
            return None
        self.publish_order(saved.tenant, saved)
        return saved

    def _return(self, offer: Offer, reason: str) -> Order | None:
        order = self._load(offer.order_id)
        self._made.pop(offer.id, None)
        if order is None or order.state is not OrderState.OFFERED:
            return None
        return self._save(
            lifecycle.return_to_pool(order, at=self.clock(), actor=SYSTEM, reason=reason)
        )

    def _publish_offer(self, order: Order, offer: Offer) -> None:
        msg = OfferMessage(
            offer_id=offer.id,
            order_id=offer.order_id,
            courier_id=offer.courier_id,
            expires_at=offer.expires_at,
            pickup=(order.pickup_lng, order.pickup_lat),
            dropoff=(order.dropoff_lng, order.dropoff_lat),
        )
        self.hub.publish_event(
            order.tenant, [("courier", offer.courier_id), ("order", order.id), ("offers", "*")], msg
        )
