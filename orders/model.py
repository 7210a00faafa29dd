"""Order and order-event records: plain frozen dataclasses the store persists as they are."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from geo.coords import validate_lat_lng
from geo.errors import InvalidCoordinate

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
"""ISO 4217 alphabetic code shape; amounts are integers in the currency's minor unit."""

Problem = tuple[str, Any, str]


class OrderState(StrEnum):
    """Where an order is in its lifecycle (see `orders.lifecycle.TRANSITIONS`)."""

    CREATED = "created"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    FAILED = "failed"


TERMINAL_STATES = frozenset({OrderState.DELIVERED, OrderState.CANCELLED, OrderState.FAILED})


class ActorKind(StrEnum):
    """Who caused a change: the tenant's back office, a courier, a dispatcher or the engine."""

    TENANT = "tenant"
    COURIER = "courier"
    DISPATCHER = "dispatcher"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """The kind and id of whoever caused a change (``SYSTEM`` actors use a component name)."""

    kind: ActorKind
    id: str


SYSTEM = Actor(ActorKind.SYSTEM, "engine")


class ProofKind(StrEnum):
    """How a delivery was proven."""

    PHOTO = "photo"
    SIGNATURE = "signature"
    PIN = "pin"


@dataclass(frozen=True, slots=True)
class ProofOfDelivery:
    """Evidence given on delivery: a photo or signature reference, or the customer's PIN.

    The PIN itself is never stored: `orders.lifecycle.deliver` keeps only ``kind`` and
    ``reference`` on the order and the event.
    """

    kind: ProofKind
    reference: str | None = None
    pin: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A service window in UTC epoch seconds, ``start <= end``."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Position:
    """A courier position (lat, lng degrees) at a UTC epoch time."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class Order:
    """One order. ``version`` increases by one per event so a store can update optimistically.

    Attributes
    ----------
    amount_minor, currency
        What the customer pays, in integer minor units (cents) of an ISO 4217 currency.
    pin_hash
        `orders.pins.hash_pin` output when delivery must be proven with a PIN, else None.
    courier_id
        The courier the order is offered or assigned to (None in ``created``).
    pickup_eta, dropoff_eta
        UTC epoch seconds, refreshed by `orders.eta`.
    """

    id: str
    tenant: str
    pickup_lat: float
    pickup_lng: float
    dropoff_lat: float
    dropoff_lng: float
    amount_minor: int
    currency: str
    created_at: float
    size: int = 1
    priority: int = 0
    state: OrderState = OrderState.CREATED
    courier_id: str | None = None
    pin_hash: str | None = field(default=None, repr=False)
    pickup_window: TimeWindow | None = None
    dropoff_window: TimeWindow | None = None
    pickup_eta: float | None = None
    dropoff_eta: float | None = None
    proof_kind: ProofKind | None = None
    proof_reference: str | None = None
    reason: str | None = None
    updated_at: float = 0.0
    version: int = 1


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A domain event stored with the order; ``seq`` equals the order's ``version`` after it.

    ``kind`` is ``order.<to_state>`` for a transition (``order.created``, ``order.delivered``,
    ...) or ``order.eta_updated``; ``from_state`` is None only for ``order.created``.
    """

    order_id: str
    tenant: str
    seq: int
    kind: str
    from_state: OrderState | None
    to_state: OrderState
    actor: Actor
    at: float
    courier_id: str | None = None
    courier_position: Position | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def ordering_key(self) -> str:
        """Events of one order are delivered in ``seq`` order under this key."""
        return f"order:{self.order_id}"

    def payload(self) -> dict[str, Any]:
        """The JSON-ready body of this event (webhooks and the order's stream)."""
        pos = self.courier_position
        return {
            "type": self.kind,
            "order_id": self.order_id,
            "tenant": self.tenant,
            "seq": self.seq,
            "from_state": None if self.from_state is None else str(self.from_state),
            "to_state": str(self.to_state),
            "actor": {"kind": str(self.actor.kind), "id": self.actor.id},
            "at": self.at,
            "courier_id": self.courier_id,
            "courier_position": None if pos is None else {"lat": pos.lat, "lng": pos.lng},
            "data": dict(self.data),
        }


def money_problems(amount_field: str, amount: Any, currency: Any) -> list[Problem]:
    """Problems with an amount in minor units and its currency (empty list when valid)."""
    problems: list[Problem] = []
    if isinstance(amount, bool) or not isinstance(amount, int):
        problems.append((amount_field, amount, "must be an integer number of minor units"))
    elif amount < 0:
        problems.append((amount_field, amount, "must be >= 0"))
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        problems.append(("currency", currency, "must be a 3-letter ISO 4217 code"))
    return problems


def coordinate_problems(prefix: str, lat: Any, lng: Any) -> list[Problem]:
    """Problems with one lat/lng pair, field names prefixed (``pickup_lat``)."""
    try:
        validate_lat_lng(lat, lng)
    except InvalidCoordinate as exc:
        return [(f"{prefix}_{f}", v, reason) for f, v, reason in exc.problems]
    return []


def window_problems(name: str, window: TimeWindow | None) -> list[Problem]:
    """Problems with an optional time window (finite, start <= end)."""
    if window is None:
        return []
    if not (math.isfinite(window.start) and math.isfinite(window.end)):
        return [(name, window, "bounds must be finite")]
    if window.start > window.end:
        return [(name, window, "start must be <= end")]
    return []
