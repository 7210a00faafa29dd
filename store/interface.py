"""The one store interface the API and engine use; memory.py and postgis.py implement it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from orders.lifecycle import Transition
from orders.model import Order, OrderEvent, OrderState
from orders.webhooks import Attempt, Claimed, DeliveryState, Endpoint, OutboxMessage
from payments.intents import PaymentEvent, PaymentIntent, PaymentResult
from payments.ledger import JournalEntry
from store.records import ApiKey, Courier, GeofenceKind, GeofenceRecord, Tenant

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

    def list_tenants(self) -> list[Tenant]:
        """Every tenant, by id (the server loads fences and the order pool at start-up)."""
        ...

    def create_api_key(
        self, tenant_id: str, name: str = "", *, secret: str | None = None
    ) -> tuple[ApiKey, str]:
        """Return the key's record and its secret (shown once; only its sha256 is kept).

        ``secret`` lets the caller choose the key (e.g. `api.tokens.new_api_key`).
        """
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

    # -- orders (records are `orders.model.Order` / `OrderEvent`, made by `orders.lifecycle`) --
    def create_order(
        self,
        created: Transition,
        *,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        outbox: Sequence[OutboxMessage] = (),
    ) -> tuple[Order, bool]:
        """Persist a new order (`orders.lifecycle.create_order`), its events and outbox rows.

        The tenant is ``created.order.tenant``. Pickup and drop-off must lie in an active
        service zone of the tenant. Returns ``(order, created)``: with an ``idempotency_key``
        (and the request's ``fingerprint``) used before, the first order and False.

        Raises
        ------
        OutsideServiceZone
            Naming ``pickup`` and/or ``dropoff``; nothing is written.
        IdempotencyConflict
            The key was used with another fingerprint.
        """
        ...

    def get_order(self, tenant_id: str, order_id: str) -> Order: ...

    def list_orders(
        self, tenant_id: str, *, state: OrderState | None = None, limit: int = 100
    ) -> list[Order]:
        """Newest first."""
        ...

    def save_transition(
        self,
        transition: Transition,
        *,
        outbox: Sequence[OutboxMessage] = (),
        payments: Sequence[PaymentResult] = (),
        entries: Sequence[JournalEntry] = (),
    ) -> Order:
        """Write a lifecycle step (new order, its events, outbox rows) in one transaction,
        with what payments derive from it (`payments.settlement`: intents changed as in
        `save_payment`, their journal entries, and further ``entries`` such as billing).

        Optimistic: the stored order must still be at ``order.version - len(events)``; any
        refusal (a stale intent, a duplicate entry) writes nothing.

        Raises
        ------
        StaleVersion
            Another writer moved the order on; reload and decide again.
        """
        ...

    def list_order_events(self, tenant_id: str, order_id: str) -> list[OrderEvent]:
        """In ``seq`` order."""
        ...

    def pin_failures(self, tenant_id: str, order_id: str) -> int:
        """Wrong delivery PINs counted for the order (`orders.pin_attempts`). Raises `NotFound`."""
        ...

    def count_pin_failure(self, tenant_id: str, order_id: str) -> int:
        """Count one wrong PIN, atomically (API workers share the count); returns the new count.

        Raises `NotFound`."""
        ...

    def pending_outbox(self, tenant_id: str) -> list[OutboxMessage]:
        """Undelivered webhook messages of a tenant, in the order they were written.

        Every write of events (`create_order`, `save_transition`, `save_payment`) also writes,
        in its transaction, one message per event for each of the tenant's webhook endpoints
        subscribed to the event's type (`orders.webhooks.outbox_for_events`).
        """
        ...

    # -- webhook endpoints and deliveries (records are `orders.webhooks`) ----------------
    def create_webhook_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Register an endpoint (validated by `orders.webhooks.new_endpoint`).

        Raises `AlreadyExists` (the id), `NotFound` (the tenant)."""
        ...

    def get_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint: ...

    def list_webhook_endpoints(self, tenant_id: str) -> list[Endpoint]:
        """By id."""
        ...

    def delete_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> None:
        """Remove the endpoint and its undelivered messages (its delivery log stays)."""
        ...

    def enable_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        """Re-enable (`orders.webhooks.reenabled`); its waiting messages are due at once."""
        ...

    def claim_webhook_messages(self, now: float, *, limit: int, lease_s: float) -> list[Claimed]:
        """Take up to ``limit`` due messages of every tenant, for ``lease_s`` seconds.

        Due: the head (lowest sequence) of an (endpoint, ordering key) queue, its endpoint
        enabled and not backing off, its own retry time passed. A claimed message is not due
        again until its lease ends, so two workers do not send it twice; a worker that dies
        leaves it to be retried when the lease ends.
        """
        ...

    def release_webhook_messages(self, message_ids: Sequence[str]) -> None:
        """Give claimed messages back unsent (their endpoint started backing off)."""
        ...

    def record_webhook_attempt(
        self, state: DeliveryState, endpoint: Endpoint, attempt: Attempt
    ) -> None:
        """Store one attempt's outcome (`orders.webhooks.record_attempt`) in one transaction:
        the message's state, the endpoint's health, the delivery-log row."""
        ...

    def webhook_attempts(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None = None,
        ordering_keys: Sequence[str] | None = None,
        ok: bool | None = None,
        limit: int = 100,
    ) -> list[Attempt]:
        """The delivery log, newest first; ``ordering_keys``: attempts of any of these keys."""
        ...

    def prune_webhook_history(
        self, older_than_s: float, *, now: float | None = None
    ) -> tuple[int, int]:
        """Retention: delete outbox messages delivered more than ``older_than_s`` before
        ``now`` (default: the wall clock) and delivery-log attempts made before then.

        Undelivered messages are kept whatever their age. Returns ``(messages, attempts)``
        deleted."""
        ...

    # -- ledger (records are `payments.ledger.JournalEntry`) -----------------------------
    def post_journal_entries(self, entries: Sequence[JournalEntry]) -> int:
        """Post entries all or nothing; return how many were new.

        Entry ids are deterministic, so re-posting an identical entry is skipped (a callback
        that arrives twice posts once).

        Raises
        ------
        payments.errors.DuplicateEntry
            An id already posted with other content.
        payments.errors.AlreadyReversed
            A reversal of an entry that is unknown or already reversed.
        """
        ...

    def journal_entries(self, tenant_id: str, *, order_id: str | None = None) -> list[JournalEntry]:
        """The tenant's entries (of one order when given), in posting order."""
        ...

    # -- payments (records are `payments.intents`) ----------------------------------------
    def save_payment(
        self, result: PaymentResult, *, outbox: Sequence[OutboxMessage] = ()
    ) -> PaymentIntent:
        """Write a payment step in one transaction: the intent (inserted at version 1, else
        optimistic on ``version - 1``), its events, its journal entries and outbox rows.

        A result with ``changed`` False writes nothing. Raises `StaleVersion`, `NotFound`
        (the order, or the intent), and the ledger's errors (nothing is written then).
        """
        ...

    def get_payment(self, tenant_id: str, intent_id: str) -> PaymentIntent: ...

    def payments_of_order(self, tenant_id: str, order_id: str) -> list[PaymentIntent]: ...

    def payment_by_provider_ref(self, provider: str, provider_ref: str) -> PaymentIntent | None:
        """The intent a provider callback points to (callbacks carry no tenant)."""
        ...

    def list_payment_events(self, tenant_id: str, intent_id: str) -> list[PaymentEvent]: ...

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
