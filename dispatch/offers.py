"""The offer cycle: offers made from an assignment, accepted, rejected or timed out, under a lock."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from dispatch.errors import InvalidParams, OfferConflict, Problem, UnknownId

DEFAULT_OFFER_TIMEOUT_S = 30.0

OfferState = Literal["outstanding", "accepted", "rejected", "expired", "withdrawn"]


@dataclass(frozen=True, slots=True)
class Offer:
    """An order offered to a courier until ``expires_at`` (seconds on the book's clock)."""

    id: str
    order_id: str
    courier_id: str
    size: int
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class OfferRequest:
    """What `OfferBook.make_offers` needs per offer: the order, the courier and the size."""

    order_id: str
    courier_id: str
    size: int = 1


class OfferBook:
    """Outstanding offers and the exclusions left by rejected or expired ones.

    Invariants, kept under one lock so they also hold when calls arrive from many threads:
    an order has at most one outstanding offer; a courier's outstanding offers never exceed
    the free capacity the caller reported for it (in size units); a courier that rejected an
    order or let its offer time out is never offered that order again.

    Parameters
    ----------
    timeout_s
        How long an offer stays open (default 30 s).
    clock
        Seconds, monotonic; injectable so tests drive time.
    history
        How many closed offers `state` remembers (oldest forgotten first).
    prefix
        Offer ids are this prefix and a counter (books of several processes use different
        prefixes, so their ids never collide).
    """

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_OFFER_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        history: int = 100_000,
        prefix: str = "of",
    ) -> None:
        if not math.isfinite(timeout_s) or timeout_s <= 0:
            raise InvalidParams([("timeout_s", timeout_s, "must be positive and finite")])
        self.timeout_s = timeout_s
        self.prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._offers: dict[str, Offer] = {}  # outstanding only
        self._closed: OrderedDict[str, OfferState] = OrderedDict()  # bounded history
        self.history = history
        self._by_order: dict[str, str] = {}  # order id -> its outstanding offer id
        self._held: defaultdict[str, int] = defaultdict(int)  # courier -> outstanding units
        self._excluded: defaultdict[str, set[str]] = defaultdict(set)

    def make_offers(
        self, requests: Iterable[OfferRequest], free_capacity: Mapping[str, int]
    ) -> list[Offer]:
        """Open one offer per request, all or none.

        Parameters
        ----------
        requests
            Orders and couriers, e.g. from the matches of a `dispatch.engine.Assignment`.
        free_capacity
            Each courier's free capacity in size units, not counting outstanding offers.

        Raises
        ------
        OfferConflict
            Listing every request that would break an invariant; no offer is opened then.
        """
        batch = list(requests)
        with self._lock:
            self._expire_locked()
            problems: list[Problem] = []
            units: defaultdict[str, int] = defaultdict(int)
            orders: set[str] = set()
            for i, req in enumerate(batch):
                if req.order_id in self._by_order or req.order_id in orders:
                    problems.append((f"[{i}].order_id", req.order_id, "order_already_offered"))
                if req.courier_id in self._excluded.get(req.order_id, ()):
                    problems.append((f"[{i}].courier_id", req.courier_id, "courier_excluded"))
                if req.courier_id not in free_capacity:
                    problems.append((f"[{i}].courier_id", req.courier_id, "free_capacity_unknown"))
                else:
                    units[req.courier_id] += req.size
                    held = self._held[req.courier_id] + units[req.courier_id]
                    if held > free_capacity[req.courier_id]:
                        problems.append(
                            (f"[{i}].courier_id", req.courier_id, "courier_at_capacity")
                        )
                orders.add(req.order_id)
            if problems:
                raise OfferConflict(problems)
            now = self._clock()
            made = []
            for req in batch:
                offer = Offer(
                    id=f"{self.prefix}{next(self._ids)}",
                    order_id=req.order_id,
                    courier_id=req.courier_id,
                    size=req.size,
                    created_at=now,
                    expires_at=now + self.timeout_s,
                )
                self._offers[offer.id] = offer
                self._by_order[offer.order_id] = offer.id
                self._held[offer.courier_id] += offer.size
                made.append(offer)
            return made

    def accept(self, offer_id: str, on_accept: Callable[[Offer], None] | None = None) -> Offer:
        """Close an outstanding offer as accepted.

        ``on_accept`` runs inside the lock, before the offer's units stop counting as held,
        so the caller can move them into the courier's load without a window in which the
        courier looks emptier than it is.

        Raises
        ------
        UnknownId
            For an offer id never issued.
        OfferConflict
            ``not_outstanding`` when already closed (e.g. a concurrent accept won), ``expired``
            when its time is up (the offer is then closed as expired).
        """
        with self._lock:
            offer = self._outstanding(offer_id)
            if self._clock() >= offer.expires_at:
                self._close(offer, "expired")
                raise OfferConflict([("offer_id", offer_id, "expired")])
            if on_accept is not None:
                on_accept(offer)
            self._close(offer, "accepted")
            self._excluded.pop(offer.order_id, None)
            return offer

    def reject(self, offer_id: str) -> Offer:
        """Close an outstanding offer as rejected: the order returns to the pool without
        this courier."""
        with self._lock:
            offer = self._outstanding(offer_id)
            self._close(offer, "rejected")
            return offer

    def expire(self) -> list[Offer]:
        """Close every offer whose time is up; their orders return to the pool."""
        with self._lock:
            return self._expire_locked()

    def state(self, offer_id: str) -> OfferState:
        with self._lock:
            if offer_id in self._offers:
                return "outstanding"
            if offer_id not in self._closed:
                raise UnknownId("offer_id", offer_id)
            return self._closed[offer_id]

    def held_units(self) -> dict[str, int]:
        """Size units each courier holds in outstanding offers."""
        with self._lock:
            return {c: u for c, u in self._held.items() if u}

    def exclusions(self) -> dict[str, frozenset[str]]:
        """Couriers each order may no longer be offered to."""
        with self._lock:
            return {o: frozenset(cs) for o, cs in self._excluded.items()}

    def offered_orders(self) -> set[str]:
        """Orders with an outstanding offer."""
        with self._lock:
            return set(self._by_order)

    def withdraw_order(self, order_id: str) -> Offer | None:
        """The order is gone (cancelled): close its outstanding offer, if any, as withdrawn,
        and drop its exclusions."""
        with self._lock:
            self._excluded.pop(order_id, None)
            if order_id not in self._by_order:
                return None
            offer = self._offers[self._by_order[order_id]]
            self._close(offer, "withdrawn")
            return offer

    def _outstanding(self, offer_id: str) -> Offer:
        if offer_id in self._closed:
            raise OfferConflict([("offer_id", offer_id, "not_outstanding")])
        if offer_id not in self._offers:
            raise UnknownId("offer_id", offer_id)
        return self._offers[offer_id]

    def _close(self, offer: Offer, state: OfferState) -> None:
        del self._offers[offer.id]
        self._closed[offer.id] = state
        if len(self._closed) > self.history:
            self._closed.popitem(last=False)
        del self._by_order[offer.order_id]
        self._held[offer.courier_id] -= offer.size
        if state in ("rejected", "expired"):
            self._excluded[offer.order_id].add(offer.courier_id)

    def _expire_locked(self) -> list[Offer]:
        now = self._clock()
        due = [
            self._offers[oid]
            for oid in self._by_order.values()
            if self._offers[oid].expires_at <= now
        ]
        for offer in due:
            self._close(offer, "expired")
        return due
