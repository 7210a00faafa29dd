"""The one store interface the API and engine use; memory.py and postgis.py implement it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from store.records import (
    ApiKey,
    Courier,
    GeofenceKind,
    GeofenceRecord,
    NewOrder,
    OrderEventRecord,
    OrderRecord,
    OrderStateName,
    Tenant,
    Transition,
)

FloatColumn = npt.ArrayLike
"""A sequence or numpy array of float64 (NaN for "unknown" in optional columns)."""


@runtime_checkable
class Store(Protocol):
    """Persistence for tenants, keys, couriers, geofences, orders and tracks.

    Every method scoped by ``tenant_id`` sees only that tenant's rows: another tenant's id is
    `NotFound`. Every write is one transaction; a refused write changes nothing.
    """

    # -- tenants and API keys -------------------------------------------------------------
    def create_tenant(self, name: str, *, tenant_id: str | None = None) -> Tenant: ...

    def get_tenant(self, tenant_id: str) -> Tenant: ...

    def create_api_key(self, tenant_id: str, name: str = "") -> tuple[ApiKey, str]:
        """Return the key's record and its secret (shown once; only its hash is kept)."""
        ...

    def tenant_for_api_key(self, secret: str) -> Tenant | None:
        """The tenant of a valid, unrevoked key (looked up by hash), else None."""
        ...

    def revoke_api_key(self, tenant_id: str, key_id: str) -> None: ...

    # -- couriers -------------------------------------------------------------------------
    def create_courier(
        self,
        tenant_id: str,
        *,
        courier_id: str | None = None,
        name: str = "",
        vehicle: str = "bike",
        capacity: int = 1,
    ) -> Courier: ...

    def get_courier(self, tenant_id: str, courier_id: str) -> Courier: ...

    def list_couriers(self, tenant_id: str) -> list[Courier]: ...

    # -- geofences (GeoJSON in and out) ---------------------------------------------------
    def create_geofence(
        self,
        tenant_id: str,
        kind: GeofenceKind,
        geometry: dict[str, Any],
        *,
        name: str = "",
        active: bool = True,
        fence_id: str | None = None,
    ) -> GeofenceRecord: ...

    def get_geofence(self, tenant_id: str, fence_id: str) -> GeofenceRecord: ...

    def list_geofences(
        self, tenant_id: str, *, kind: GeofenceKind | None = None, active: bool | None = None
    ) -> list[GeofenceRecord]: ...

    def update_geofence(
        self,
        tenant_id: str,
        fence_id: str,
        *,
        name: str | None = None,
        geometry: dict[str, Any] | None = None,
        active: bool | None = None,
    ) -> GeofenceRecord: ...

    def delete_geofence(self, tenant_id: str, fence_id: str) -> None: ...

    def in_service_zone(
        self, tenant_id: str, lats: FloatColumn, lngs: FloatColumn
    ) -> npt.NDArray[np.bool_]:
        """Per point: covered (boundary included) by an active service zone of the tenant."""
        ...

    # -- orders ---------------------------------------------------------------------------
    def create_order(
        self,
        tenant_id: str,
        order: NewOrder,
        *,
        idempotency_key: str | None = None,
        order_id: str | None = None,
        at: float | None = None,
        actor_kind: str = "tenant",
        actor_id: str | None = None,
    ) -> tuple[OrderRecord, bool]:
        """Create an order and its ``order.created`` event, or return the key's first result.

        Returns ``(order, created)``; ``created`` is False when ``idempotency_key`` was used
        before with the same request. Raises `OutsideServiceZone` (naming pickup and/or dropoff),
        `IdempotencyConflict`, `InvalidRecord`.
        """
        ...

    def get_order(self, tenant_id: str, order_id: str) -> OrderRecord: ...

    def list_orders(
        self, tenant_id: str, *, state: OrderStateName | None = None, limit: int = 100
    ) -> list[OrderRecord]:
        """Newest first."""
        ...

    def transition_order(
        self, tenant_id: str, order_id: str, expected_version: int, transition: Transition
    ) -> tuple[OrderRecord, OrderEventRecord]:
        """Apply a state change decided by `orders`, its event and outbox rows atomically.

        Raises `StaleVersion` when the order moved on since ``expected_version``.
        """
        ...

    def list_order_events(self, tenant_id: str, order_id: str) -> list[OrderEventRecord]: ...

    # -- tracks ---------------------------------------------------------------------------
    def append_positions(
        self,
        courier_ids: Sequence[str],
        ts: FloatColumn,
        lats: FloatColumn,
        lngs: FloatColumn,
        speed: FloatColumn | None = None,
        heading: FloatColumn | None = None,
        accuracy: FloatColumn | None = None,
    ) -> None:
        """Queue accepted pings for persistence (buffered; never one write per ping).

        Raises `TrackBufferFull` (nothing queued) when the buffer is at its bound.
        """
        ...

    def flush_positions(self) -> int:
        """Persist every queued ping now; return how many were written."""
        ...

    def courier_track(
        self, tenant_id: str, courier_id: str, start: float, end: float
    ) -> dict[str, Any] | None:
        """The courier's positions in ``[start, end]`` as a GeoJSON LineString, time-ordered;
        None when fewer than two positions were recorded."""
        ...

    def couriers_in_fence(
        self, tenant_id: str, fence_id: str, start: float, end: float
    ) -> list[str]:
        """Ids (sorted) of the couriers with a recorded position inside the fence in
        ``[start, end]``."""
        ...

    def close(self) -> None:
        """Flush what is queued and release connections."""
        ...
