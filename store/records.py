"""Records the stores take and return besides `orders.model` (frozen; times UTC epoch s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

GeofenceKind = Literal["service_zone", "restricted", "hub"]


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
