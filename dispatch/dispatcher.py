"""The order pool, one dispatch run (assign, then offer) and the offer replies, kept consistent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from dispatch.candidates import CandidateIndex
from dispatch.engine import Assignment, DispatchParams, assign
from dispatch.errors import InvalidInput, Problem, UnknownId
from dispatch.model import DispatchOrder
from dispatch.offers import Offer, OfferBook, OfferRequest
from dispatch.order_columns import OrderPool
from tracking import LiveIndex


def load_onto(index: LiveIndex) -> Callable[[Offer], None]:
    """An ``on_accept`` for `Dispatcher` that adds an accepted order to the courier's load in
    the live index and marks the courier busy."""

    def on_accept(offer: Offer) -> None:
        load = index.get(offer.courier_id).load
        index.set_attrs(offer.courier_id, load=load + offer.size, status="busy")

    return on_accept


class Dispatcher:
    """Unassigned orders waiting in a pool, dispatched in batches into offers.

    A run, an accept and a reject each hold one lock, so a run never sees a courier between
    an accepted offer and the load that offer adds.

    Parameters
    ----------
    index
        The live courier index.
    offers
        The offer book (timeout, clock).
    on_accept
        Called under the lock with each accepted offer; it must add ``offer.size`` to the
        courier's load in the index so the next run sees it (`load_onto` does that for a
        `tracking.LiveIndex`).
    params
        Mode, K, stacking, cost model.
    clock
        UTC epoch seconds, for order age and idle time.
    """

    def __init__(
        self,
        index: CandidateIndex,
        offers: OfferBook,
        on_accept: Callable[[Offer], None],
        params: DispatchParams | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.offers = offers
        self.params = params or DispatchParams()
        self._on_accept = on_accept
        self._clock = clock
        self._lock = threading.RLock()
        self._pool = OrderPool()
        self.last: Assignment | None = None
        self.last_offers: list[Offer] = []

    def submit(self, orders: Iterable[DispatchOrder]) -> None:
        """Add orders to the pool, all or none (an order already there is replaced).

        Raises
        ------
        InvalidInput
            Listing every item that is not a `DispatchOrder`; nothing is added then.
        """
        batch = list(orders)
        bad: list[Problem] = [
            (f"orders[{i}]", o, "not a DispatchOrder")
            for i, o in enumerate(batch)
            if not isinstance(o, DispatchOrder)
        ]
        if bad:
            raise InvalidInput("orders", bad)
        with self._lock:
            self._pool.add(batch)

    def cancel(self, order_id: str) -> None:
        """Take an order out of the pool; its outstanding offer, if any, is withdrawn."""
        with self._lock:
            if not self._pool.remove(order_id):
                raise UnknownId("order_id", order_id)
            self.offers.withdraw_order(order_id)

    def pool(self) -> list[DispatchOrder]:
        with self._lock:
            return self._pool.orders()

    def run_once(self) -> Assignment:
        """Expire offers, assign the orders without an outstanding offer, offer the matches.

        The offers made are in ``last_offers``. If making them fails, none is made.
        """
        with self._lock:
            self.offers.expire()
            # The pool is kept as columns: a run costs no Python pass over its orders.
            result = assign(
                self._pool.columns(skip=self.offers.offered_orders()),
                self.index,
                self.params,
                now=self._clock(),
                reserved=self.offers.held_units(),
                excluded=self.offers.exclusions(),
            )
            self.last_offers = self.offers.make_offers(
                (OfferRequest(m.order_id, m.courier_id, m.size) for m in result.matches),
                result.courier_free,
            )
            self.last = result
            return result

    def accept(self, offer_id: str) -> Offer:
        """The courier took the order: it leaves the pool and joins the courier's load."""
        with self._lock:
            offer = self.offers.accept(offer_id, on_accept=self._on_accept)
            self._pool.remove(offer.order_id)
            return offer

    def reject(self, offer_id: str) -> Offer:
        """The courier declined: the order stays in the pool, never again for this courier."""
        with self._lock:
            return self.offers.reject(offer_id)
