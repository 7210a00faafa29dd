"""Plain records the stores take and return (frozen dataclasses; times are UTC epoch seconds)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

GeofenceKind = Literal["service_zone", "restricted", "hub"]
OrderStateName = Literal[
    "created", "offered", "assigned", "picked_up", "delivered", "cancelled", "failed"
]


@dataclass(frozen=True, slots=True)
class Tenant:
    """A customer of the platform; every other record belongs to exactly one tenant."""

    id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's metadata; the secret is shown once at creation and stored only hashed."""

    id: str
    tenant_id: str
    name: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class Courier:
    """A courier of a tenant; courier ids are unique across tenants (pings carry no tenant)."""

    id: str
    tenant_id: str
    name: str = ""
    vehicle: str = "bike"
    capacity: int = 1
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class GeofenceRecord:
    """A stored geofence; ``geometry`` is a GeoJSON Polygon or MultiPolygon (``[lng, lat]``)."""

    id: str
    tenant_id: str
    kind: GeofenceKind
    name: str
    geometry: dict[str, Any]
    active: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class NewOrder:
    """What a caller asks for when creating an order (windows are ``(start, end)`` epoch s)."""

    pickup_lat: float
    pickup_lng: float
    dropoff_lat: float
    dropoff_lng: float
    size: int = 1
    priority: int = 0
    amount_minor: int = 0
    currency: str = "XXX"
    pickup_window: tuple[float, float] | None = None
    dropoff_window: tuple[float, float] | None = None
    pin_hash: str | None = field(default=None, repr=False)

    def fingerprint(self) -> str:
        """sha256 of the canonical request: the same key with another body is a conflict."""
        body = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A stored order; ``version`` grows by one per event (optimistic updates)."""

    id: str
    tenant_id: str
    pickup_lat: float
    pickup_lng: float
    dropoff_lat: float
    dropoff_lng: float
    state: OrderStateName
    courier_id: str | None
    size: int
    priority: int
    amount_minor: int
    currency: str
    pickup_window: tuple[float, float] | None
    dropoff_window: tuple[float, float] | None
    pickup_eta: float | None
    dropoff_eta: float | None
    idempotency_key: str | None
    created_at: float
    updated_at: float
    version: int


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A webhook delivery written in the same transaction as the state change it reports."""

    event_type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of an order, as decided by `orders`; the store only persists it.

    ``courier_id`` is the order's courier after the change (None clears it) and the event's
    courier; ``courier_lat``/``courier_lng`` its position then, when known.
    """

    to_state: OrderStateName
    at: float
    actor_kind: str
    actor_id: str
    kind: str | None = None
    courier_id: str | None = None
    courier_lat: float | None = None
    courier_lng: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    outbox: tuple[OutboxMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderEventRecord:
    """A stored order event; ``seq`` equals the order's version after it (1 = created)."""

    order_id: str
    tenant_id: str
    seq: int
    kind: str
    from_state: OrderStateName | None
    to_state: OrderStateName
    actor_kind: str
    actor_id: str
    at: float
    courier_id: str | None = None
    courier_lat: float | None = None
    courier_lng: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
