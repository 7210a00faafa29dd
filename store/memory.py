"""The embedded in-memory store: the default, nothing to install; same answers as PostGIS."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import h3
import numpy as np
import numpy.typing as npt

from geo.coords import validate_arrays
from geo.geofence import FenceGeometry, Geofence
from orders.lifecycle import Transition
from orders.model import Order, OrderEvent, OrderState
from orders.webhooks import (
    Attempt,
    Claimed,
    DeliveryState,
    Endpoint,
    MessageStatus,
    OutboxMessage,
    PublishableEvent,
    due_messages,
    outbox_for_events,
    query_log,
    reenabled,
)
from payments.intents import PaymentEvent, PaymentIntent, PaymentResult
from payments.ledger import JournalEntry, Ledger
from store.api_keys import hash_secret, new_secret
from store.errors import (
    AlreadyExists,
    IdempotencyConflict,
    NotFound,
    OutsideServiceZone,
    StaleVersion,
)
from store.geojson import geojson_from_polygon, polygon_from_geojson
from store.interface import FloatColumn
from store.records import ApiKey, Courier, GeofenceKind, GeofenceRecord, Tenant
from store.validation import (
    check_courier_fields,
    check_id,
    check_kind,
    check_new_order,
    check_positions,
    check_transition,
    new_id,
    position_columns,
)

MAX_COVER_CELLS = 2_000
"""Cells an in-memory fence's H3 cover may use: the cover only speeds up accepts, so a big fence
gets a coarser resolution instead of a cover that takes seconds to build."""


def _indexed(geom: FenceGeometry) -> Geofence:
    lat = geom.centroid.y
    km2 = geom.area * 111.32**2 * max(math.cos(math.radians(lat)), 0.01)
    res = 9
    while res > 0 and km2 / h3.average_hexagon_area(res, "km^2") > MAX_COVER_CELLS:
        res -= 1
    return Geofence(geom, res)


class _Track:
    """One courier's positions as appended chunks of (ts, lat, lng) columns, newest kept."""

    __slots__ = ("cap", "chunks", "merged", "size")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.chunks: list[npt.NDArray[np.float64]] = []
        self.merged = 0  # chunks[:merged] are merged runs; later ones as appended
        self.size = 0

    def append(self, rows: npt.NDArray[np.float64]) -> None:
        """Add rows; beyond ``cap`` the oldest positions (by ts) are forgotten."""
        self.chunks.append(rows)
        self.size += rows.shape[0]
        # On the ping path: trimming sorts the whole track, so it waits for a quarter of the cap
        # in excess (`window` trims exactly), and the chunks appended since the last merge are
        # merged by 64 (not one array object per ping, and no copy of the whole track).
        if self.size > self.cap + self.cap // 4:
            self._trim()
        elif len(self.chunks) - self.merged >= 64:
            self.chunks[self.merged :] = [np.concatenate(self.chunks[self.merged :])]
            self.merged += 1

    def _trim(self) -> None:
        rows = np.concatenate(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        if self.size > self.cap:
            rows = rows[np.argsort(rows[:, 0], kind="stable")][-self.cap :]
        self.chunks = [rows]
        self.merged = 1
        self.size = rows.shape[0]

    def window(self, start: float, end: float) -> npt.NDArray[np.float64]:
        """Rows ``[ts, lat, lng]`` with ``start <= ts <= end``, time-ordered."""
        if not self.chunks:
            return np.empty((0, 3))
        self._trim()
        rows = self.chunks[0]
        rows = rows[(rows[:, 0] >= start) & (rows[:, 0] <= end)]
        return rows[np.argsort(rows[:, 0], kind="stable")]


class MemoryStore:
    """`store.interface.Store` kept in process memory, guarded by one lock (thread-safe).

    Service-zone checks use the same planar covers predicate as PostGIS ``ST_Covers``.

    Parameters
    ----------
    max_track_points
        Positions kept per courier (the newest); memory stays bounded in a long demo.
    """

    def __init__(self, *, max_track_points: int = 100_000) -> None:
        self.max_track_points = max_track_points
        self._lock = threading.RLock()
        self._tenants: dict[str, Tenant] = {}
        self._keys: dict[bytes, ApiKey] = {}
        self._couriers: dict[str, Courier] = {}
        self._fences: dict[str, tuple[GeofenceRecord, Geofence]] = {}
        self._orders: dict[str, Order] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._events: dict[str, list[OrderEvent]] = {}
        self._pin_failures: dict[str, int] = {}
        self._outbox: dict[str, OutboxMessage] = {}
        self._undelivered: dict[str, OutboxMessage] = {}
        self._deliveries: dict[str, DeliveryState] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._attempts: list[Attempt] = []
        self._ledger = Ledger()
        self._intents: dict[str, PaymentIntent] = {}
        self._intents_of_order: dict[str, list[str]] = {}
        """Intent ids per order id: `payments_of_order` must not scan every intent (settling a
        delivery looks its order's intents up, so a scan made each delivery O(all payments))."""
        self._intent_refs: dict[tuple[str, str], str] = {}
        self._payment_events: dict[str, list[PaymentEvent]] = {}
        self._tracks: dict[str, _Track] = {}
        self.dropped_unknown_couriers = 0

    # -- tenants and API keys -------------------------------------------------------------
    def create_tenant(self, name: str, *, tenant_id: str | None = None) -> Tenant:
        tenant_id = tenant_id or new_id("ten")
        check_id("tenant_id", tenant_id)
        with self._lock:
            if tenant_id in self._tenants:
                raise AlreadyExists("tenant", "id", tenant_id)
            tenant = Tenant(tenant_id, name, time.time())
            self._tenants[tenant_id] = tenant
            return tenant

    def get_tenant(self, tenant_id: str) -> Tenant:
        with self._lock:
            if tenant_id not in self._tenants:
                raise NotFound("tenant", tenant_id)
            return self._tenants[tenant_id]

    def list_tenants(self) -> list[Tenant]:
        with self._lock:
            return sorted(self._tenants.values(), key=lambda t: t.id)

    def create_api_key(
        self, tenant_id: str, name: str = "", *, secret: str | None = None
    ) -> tuple[ApiKey, str]:
        secret = secret or new_secret()
        with self._lock:
            self.get_tenant(tenant_id)
            key = ApiKey(new_id("key"), tenant_id, name, time.time())
            self._keys[hash_secret(secret)] = key
            return key, secret

    def tenant_for_api_key(self, secret: str) -> Tenant | None:
        with self._lock:
            key = self._keys.get(hash_secret(secret))
            if key is None or key.revoked_at is not None:
                return None
            return self._tenants[key.tenant_id]

    def revoke_api_key(self, tenant_id: str, key_id: str) -> None:
        with self._lock:
            for digest, key in self._keys.items():
                if key.id == key_id and key.tenant_id == tenant_id:
                    if key.revoked_at is None:
                        self._keys[digest] = replace(key, revoked_at=time.time())
                    return
            raise NotFound("api_key", key_id)

    # -- couriers -------------------------------------------------------------------------
    def create_courier(
        self,
        tenant_id: str,
        *,
        courier_id: str | None = None,
        name: str = "",
        vehicle: str = "bike",
        capacity: int = 1,
    ) -> Courier:
        courier_id = courier_id or new_id("cou")
        check_id("courier_id", courier_id)
        check_courier_fields(name, vehicle, capacity)
        with self._lock:
            self.get_tenant(tenant_id)
            if courier_id in self._couriers:
                raise AlreadyExists("courier", "id", courier_id)
            courier = Courier(courier_id, tenant_id, name, vehicle, capacity, time.time())
            self._couriers[courier_id] = courier
            return courier

    def get_courier(self, tenant_id: str, courier_id: str) -> Courier:
        with self._lock:
            courier = self._couriers.get(courier_id)
            if courier is None or courier.tenant_id != tenant_id:
                raise NotFound("courier", courier_id)
            return courier

    def list_couriers(self, tenant_id: str) -> list[Courier]:
        with self._lock:
            return sorted(
                (c for c in self._couriers.values() if c.tenant_id == tenant_id), key=lambda c: c.id
            )

    # -- geofences ------------------------------------------------------------------------
    def create_geofence(
        self,
        tenant_id: str,
        kind: GeofenceKind,
        geometry: dict[str, Any],
        *,
        name: str = "",
        active: bool = True,
        fence_id: str | None = None,
    ) -> GeofenceRecord:
        fence_id = fence_id or new_id("gf")
        check_id("fence_id", fence_id)
        check_kind(kind)
        geom = polygon_from_geojson(geometry)
        with self._lock:
            self.get_tenant(tenant_id)
            if fence_id in self._fences:
                raise AlreadyExists("geofence", "id", fence_id)
            now = time.time()
            record = GeofenceRecord(
                fence_id, tenant_id, kind, name, geojson_from_polygon(geom), bool(active), now, now
            )
            self._fences[fence_id] = (record, _indexed(geom))
            return record

    def _fence(self, tenant_id: str, fence_id: str) -> tuple[GeofenceRecord, Geofence]:
        found = self._fences.get(fence_id)
        if found is None or found[0].tenant_id != tenant_id:
            raise NotFound("geofence", fence_id)
        return found

    def get_geofence(self, tenant_id: str, fence_id: str) -> GeofenceRecord:
        with self._lock:
            return self._fence(tenant_id, fence_id)[0]

    def list_geofences(
        self, tenant_id: str, *, kind: GeofenceKind | None = None, active: bool | None = None
    ) -> list[GeofenceRecord]:
        with self._lock:
            return sorted(
                (
                    r
                    for r, _ in self._fences.values()
                    if r.tenant_id == tenant_id
                    and (kind is None or r.kind == kind)
                    and (active is None or r.active == active)
                ),
                key=lambda r: r.id,
            )

    def update_geofence(
        self,
        tenant_id: str,
        fence_id: str,
        *,
        name: str | None = None,
        geometry: dict[str, Any] | None = None,
        active: bool | None = None,
    ) -> GeofenceRecord:
        geom = None if geometry is None else polygon_from_geojson(geometry)
        fence = None if geom is None else _indexed(geom)
        with self._lock:
            record, old = self._fence(tenant_id, fence_id)
            record = replace(
                record,
                name=record.name if name is None else name,
                geometry=record.geometry if geom is None else geojson_from_polygon(geom),
                active=record.active if active is None else bool(active),
                updated_at=time.time(),
            )
            self._fences[fence_id] = (record, old if fence is None else fence)
            return record

    def delete_geofence(self, tenant_id: str, fence_id: str) -> None:
        with self._lock:
            self._fence(tenant_id, fence_id)
            del self._fences[fence_id]

    def _zones(self, tenant_id: str) -> list[Geofence]:
        return [
            g
            for r, g in self._fences.values()
            if r.tenant_id == tenant_id and r.kind == "service_zone" and r.active
        ]

    def in_service_zone(
        self, tenant_id: str, lats: FloatColumn, lngs: FloatColumn
    ) -> npt.NDArray[np.bool_]:
        with self._lock:
            zones = self._zones(tenant_id)
        few = _few_valid_points(lats, lngs)
        if few is not None:
            # An order checks two points: one by one is ten times cheaper than numpy calls.
            return np.array([any(z.covers(a, b) for z in zones) for a, b in few], dtype=bool)
        la, ln = validate_arrays(lats, lngs)
        covered = np.zeros(la.shape, dtype=bool)
        for zone in zones:
            covered |= zone.covers_array(la, ln)
        return covered

    # -- orders -------------------------------------------------------------------------
    def create_order(
        self,
        created: Transition,
        *,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        outbox: Sequence[OutboxMessage] = (),
    ) -> tuple[Order, bool]:
        order = created.order
        check_new_order(order, idempotency_key, fingerprint)
        tenant_id = order.tenant
        with self._lock:
            if idempotency_key is not None:
                first = self._idempotency.get((tenant_id, idempotency_key))
                if first is not None:
                    if first[1] != fingerprint:
                        raise IdempotencyConflict(tenant_id, idempotency_key)
                    return self._orders[first[0]], False
            covered = self.in_service_zone(
                tenant_id,
                [order.pickup_lat, order.dropoff_lat],
                [order.pickup_lng, order.dropoff_lng],
            )
            outside = tuple(
                p for p, ok in zip(("pickup", "dropoff"), covered, strict=True) if not ok
            )
            if outside:
                raise OutsideServiceZone(tenant_id, outside)
            self.get_tenant(tenant_id)
            if order.id in self._orders:
                raise AlreadyExists("order", "id", order.id)
            self._orders[order.id] = order
            self._events[order.id] = list(created.events)
            self._enqueue(tenant_id, created.events, outbox)
            if idempotency_key is not None:
                self._idempotency[(tenant_id, idempotency_key)] = (order.id, fingerprint)
            return order, True

    def _enqueue(
        self,
        tenant_id: str,
        events: Sequence[PublishableEvent],
        outbox: Sequence[OutboxMessage],
    ) -> None:
        """The events' messages for the tenant's endpoints, plus ``outbox``; under the lock."""
        endpoints = [e for e in self._endpoints.values() if e.tenant == tenant_id]
        for message in [*outbox, *outbox_for_events(events, endpoints)]:
            # ids are deterministic: a re-enqueue is a no-op
            if message.id not in self._outbox:
                self._outbox[message.id] = message
                self._undelivered[message.id] = message

    def get_order(self, tenant_id: str, order_id: str) -> Order:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or order.tenant != tenant_id:
                raise NotFound("order", order_id)
            return order

    def list_orders(
        self, tenant_id: str, *, state: OrderState | None = None, limit: int = 100
    ) -> list[Order]:
        with self._lock:
            found = [
                o
                for o in self._orders.values()
                if o.tenant == tenant_id and (state is None or o.state == state)
            ]
        found.sort(key=lambda o: (o.created_at, o.id), reverse=True)
        return found[:limit]

    def save_transition(
        self,
        transition: Transition,
        *,
        outbox: Sequence[OutboxMessage] = (),
        payments: Sequence[PaymentResult] = (),
        entries: Sequence[JournalEntry] = (),
    ) -> Order:
        expected = check_transition(transition)
        new = transition.order
        with self._lock:
            current = self.get_order(new.tenant, new.id)
            if current.version != expected:
                raise StaleVersion("order", new.id, expected, current.version)
            if new.courier_id is not None and new.courier_id not in self._couriers:
                raise NotFound("courier", new.courier_id)
            changed = [r for r in payments if r.changed]
            for result in changed:
                self._check_payment(result.intent)
            # all or nothing; nothing below can fail
            self._ledger.post_all([*entries, *(e for r in payments for e in r.entries)])
            self._orders[new.id] = new
            self._events[new.id].extend(transition.events)
            self._enqueue(new.tenant, transition.events, outbox)
            for result in changed:
                self._write_payment(result, ())
            return new

    def list_order_events(self, tenant_id: str, order_id: str) -> list[OrderEvent]:
        with self._lock:
            self.get_order(tenant_id, order_id)
            return list(self._events[order_id])

    def pin_failures(self, tenant_id: str, order_id: str) -> int:
        with self._lock:
            self.get_order(tenant_id, order_id)
            return self._pin_failures.get(order_id, 0)

    def count_pin_failure(self, tenant_id: str, order_id: str) -> int:
        with self._lock:
            failures = self.pin_failures(tenant_id, order_id) + 1
            self._pin_failures[order_id] = failures
            return failures

    def pending_outbox(self, tenant_id: str) -> list[OutboxMessage]:
        with self._lock:
            return [m for m in self._undelivered.values() if m.tenant == tenant_id]

    # -- webhooks -----------------------------------------------------------------------
    def create_webhook_endpoint(self, endpoint: Endpoint) -> Endpoint:
        check_id("endpoint_id", endpoint.id)
        with self._lock:
            self.get_tenant(endpoint.tenant)
            if endpoint.id in self._endpoints:
                raise AlreadyExists("webhook_endpoint", "id", endpoint.id)
            self._endpoints[endpoint.id] = endpoint
            return endpoint

    def get_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        with self._lock:
            endpoint = self._endpoints.get(endpoint_id)
            if endpoint is None or endpoint.tenant != tenant_id:
                raise NotFound("webhook_endpoint", endpoint_id)
            return endpoint

    def list_webhook_endpoints(self, tenant_id: str) -> list[Endpoint]:
        with self._lock:
            return sorted(
                (e for e in self._endpoints.values() if e.tenant == tenant_id), key=lambda e: e.id
            )

    def delete_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> None:
        with self._lock:
            self.get_webhook_endpoint(tenant_id, endpoint_id)
            del self._endpoints[endpoint_id]
            for m in [m for m in self._undelivered.values() if m.endpoint_id == endpoint_id]:
                del self._undelivered[m.id]

    def enable_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        with self._lock:
            endpoint = reenabled(self.get_webhook_endpoint(tenant_id, endpoint_id))
            self._endpoints[endpoint_id] = endpoint
            self._retry_now(
                m.id for m in self._undelivered.values() if m.endpoint_id == endpoint_id
            )
            return endpoint

    def _retry_now(self, message_ids: Iterable[str]) -> None:
        for message_id in message_ids:
            state = self._deliveries.get(message_id)
            if state is not None:
                self._deliveries[message_id] = replace(state, next_attempt_at=0.0)

    def claim_webhook_messages(self, now: float, *, limit: int, lease_s: float) -> list[Claimed]:
        with self._lock:
            due = due_messages(
                self._undelivered.values(), self._deliveries, self._endpoints, now=now
            )[:limit]
            claimed = []
            for m in due:
                state = self._deliveries.get(m.id) or DeliveryState(m.id)
                self._deliveries[m.id] = replace(state, next_attempt_at=now + lease_s)
                claimed.append(Claimed(m, state, self._endpoints[m.endpoint_id]))
            return claimed

    def release_webhook_messages(self, message_ids: Sequence[str]) -> None:
        with self._lock:
            self._retry_now(i for i in message_ids if i in self._undelivered)

    def record_webhook_attempt(
        self, state: DeliveryState, endpoint: Endpoint, attempt: Attempt
    ) -> None:
        with self._lock:
            if state.message_id in self._undelivered:
                self._deliveries[state.message_id] = state
                if state.status is MessageStatus.DELIVERED:
                    del self._undelivered[state.message_id]
            current = self._endpoints.get(endpoint.id)
            if current is not None:
                self._endpoints[endpoint.id] = replace(
                    current,
                    enabled=endpoint.enabled,
                    consecutive_failures=endpoint.consecutive_failures,
                    retry_at=endpoint.retry_at,
                    disabled_reason=endpoint.disabled_reason,
                )
            self._attempts.append(attempt)

    def webhook_attempts(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None = None,
        ordering_keys: Sequence[str] | None = None,
        ok: bool | None = None,
        limit: int = 100,
    ) -> list[Attempt]:
        with self._lock:
            found = query_log(self._attempts, tenant=tenant_id, endpoint_id=endpoint_id, ok=ok)
        if ordering_keys is not None:
            keys = set(ordering_keys)
            found = [a for a in found if a.ordering_key in keys]
        return found[::-1][:limit]

    def prune_webhook_history(
        self, older_than_s: float, *, now: float | None = None
    ) -> tuple[int, int]:
        cutoff = (time.time() if now is None else now) - older_than_s
        with self._lock:
            old = [
                mid
                for mid, state in self._deliveries.items()
                if state.delivered_at is not None and state.delivered_at < cutoff
            ]
            for mid in old:
                del self._deliveries[mid]
                self._outbox.pop(mid, None)
            kept = [a for a in self._attempts if a.at >= cutoff]
            pruned = len(self._attempts) - len(kept)
            self._attempts = kept
        return len(old), pruned

    # -- ledger -------------------------------------------------------------------------
    def post_journal_entries(self, entries: Sequence[JournalEntry]) -> int:
        entries = list(entries)
        with self._lock:
            for tenant_id in {e.tenant for e in entries}:
                self.get_tenant(tenant_id)
            return self._ledger.post_all(entries)

    def journal_entries(self, tenant_id: str, *, order_id: str | None = None) -> list[JournalEntry]:
        with self._lock:
            return [
                e
                for e in self._ledger.entries
                if e.tenant == tenant_id and (order_id is None or e.order_id == order_id)
            ]

    # -- payments -----------------------------------------------------------------------
    def save_payment(
        self, result: PaymentResult, *, outbox: Sequence[OutboxMessage] = ()
    ) -> PaymentIntent:
        intent = result.intent
        if not result.changed:
            return intent
        with self._lock:
            self._check_payment(intent)
            self._ledger.post_all(result.entries)  # all or nothing; nothing below can fail
            self._write_payment(result, outbox)
            return intent

    def _check_payment(self, intent: PaymentIntent) -> None:
        """Raise what writing ``intent`` would refuse (under the lock)."""
        if intent.version == 1:
            self.get_order(intent.tenant, intent.order_id)
            if intent.id in self._intents:
                raise AlreadyExists("payment", "id", intent.id)
        else:
            current = self.get_payment(intent.tenant, intent.id)
            if current.version != intent.version - 1:
                raise StaleVersion("payment", intent.id, intent.version - 1, current.version)
        ref = None if intent.provider_ref is None else (intent.provider, intent.provider_ref)
        if ref is not None and self._intent_refs.get(ref, intent.id) != intent.id:
            raise AlreadyExists("payment", "provider_ref", intent.provider_ref)

    def _write_payment(self, result: PaymentResult, outbox: Sequence[OutboxMessage]) -> None:
        """Store a checked intent, its events and messages (its entries are posted)."""
        intent = result.intent
        if intent.id not in self._intents:
            self._intents_of_order.setdefault(intent.order_id, []).append(intent.id)
        self._intents[intent.id] = intent
        if intent.provider_ref is not None:
            self._intent_refs[(intent.provider, intent.provider_ref)] = intent.id
        self._payment_events.setdefault(intent.id, []).extend(result.events)
        self._enqueue(intent.tenant, result.events, outbox)

    def get_payment(self, tenant_id: str, intent_id: str) -> PaymentIntent:
        with self._lock:
            intent = self._intents.get(intent_id)
            if intent is None or intent.tenant != tenant_id:
                raise NotFound("payment", intent_id)
            return intent

    def payments_of_order(self, tenant_id: str, order_id: str) -> list[PaymentIntent]:
        with self._lock:
            found = [
                i
                for i in map(self._intents.__getitem__, self._intents_of_order.get(order_id, ()))
                if i.tenant == tenant_id
            ]
        return sorted(found, key=lambda i: (i.created_at, i.id))

    def payment_by_provider_ref(self, provider: str, provider_ref: str) -> PaymentIntent | None:
        with self._lock:
            intent_id = self._intent_refs.get((provider, provider_ref))
            return None if intent_id is None else self._intents[intent_id]

    def list_payment_events(self, tenant_id: str, intent_id: str) -> list[PaymentEvent]:
        with self._lock:
            self.get_payment(tenant_id, intent_id)
            return list(self._payment_events.get(intent_id, []))

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
        ids, t, la, ln = check_positions(courier_ids, ts, lats, lngs)
        position_columns(len(ids), speed, heading, accuracy)  # same shape checks as PostGIS
        rows = np.column_stack([t, la, ln])
        with self._lock:
            by_courier: dict[str, list[int]] = {}
            for i, cid in enumerate(ids):
                by_courier.setdefault(cid, []).append(i)
            for cid, idx in by_courier.items():
                if cid not in self._couriers:
                    self.dropped_unknown_couriers += len(idx)
                    continue
                track = self._tracks.get(cid)
                if track is None:
                    track = self._tracks[cid] = _Track(self.max_track_points)
                track.append(rows[idx])

    def flush_positions(self) -> int:
        return 0  # nothing is buffered: appended positions are queryable at once

    def courier_track(
        self, tenant_id: str, courier_id: str, start: float, end: float
    ) -> dict[str, Any] | None:
        with self._lock:
            self.get_courier(tenant_id, courier_id)
            track = self._tracks.get(courier_id)
            rows = track.window(start, end) if track else np.empty((0, 3))
        if rows.shape[0] < 2:
            return None
        return {"type": "LineString", "coordinates": rows[:, [2, 1]].tolist()}

    def couriers_in_fence(
        self, tenant_id: str, fence_id: str, start: float, end: float
    ) -> list[str]:
        with self._lock:
            _, fence = self._fence(tenant_id, fence_id)
            found = []
            for cid, track in self._tracks.items():
                if self._couriers[cid].tenant_id != tenant_id:
                    continue
                rows = track.window(start, end)
                if rows.size and fence.covers_array(rows[:, 1], rows[:, 2]).any():
                    found.append(cid)
        return sorted(found)

    def close(self) -> None:
        """Nothing to release."""


_FEW_POINTS = 8


def _few_valid_points(lats: FloatColumn, lngs: FloatColumn) -> list[tuple[float, float]] | None:
    """The points as pairs when they are few plain floats in range; None otherwise (the
    array path then validates them, and reports what is wrong)."""
    if not isinstance(lats, (list, tuple)) or not isinstance(lngs, (list, tuple)):
        return None
    if len(lats) != len(lngs) or len(lats) > _FEW_POINTS:
        return None
    for a, b in zip(lats, lngs, strict=True):
        # NaN fails the comparisons.
        if (
            type(a) is not float
            or type(b) is not float
            or not (-90 <= a <= 90 and -180 <= b <= 180)
        ):
            return None
    return list(zip(lats, lngs, strict=True))
