"""The PostGIS store: psycopg 3 pool, zone checks in SQL, tracks flushed by binary COPY."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import shapely
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from orders.lifecycle import Transition
from orders.model import (
    Actor,
    ActorKind,
    Order,
    OrderEvent,
    OrderState,
    Position,
    ProofKind,
    TimeWindow,
)
from orders.webhooks import OutboxMessage
from payments.errors import AlreadyReversed, DuplicateEntry
from payments.ledger import Account, AccountKind, JournalEntry, Posting
from store import partitions
from store.api_keys import hash_secret, new_secret
from store.copy_binary import COLUMNS, positions_copy_payload
from store.errors import (
    IdempotencyConflict,
    NotFound,
    StaleVersion,
    StoreUnavailable,
    from_database_error,
)
from store.geojson import geojson_from_polygon, polygon_from_geojson
from store.interface import FloatColumn
from store.records import ApiKey, Courier, GeofenceKind, GeofenceRecord, Tenant
from store.track_buffer import PositionBatch, TrackBuffer
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

Row = tuple[Any, ...]


def conninfo_from_url(url: str) -> str:
    """libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` -> ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return "postgresql://" + rest


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _order_cols(t: str = "") -> str:
    """The columns `_order` reads, optionally qualified by table alias ``t``."""
    p = f"{t}." if t else ""
    return (
        f"{p}id, {p}tenant_id, ST_Y({p}pickup), ST_X({p}pickup), ST_Y({p}dropoff), "
        f"ST_X({p}dropoff), {p}state, {p}courier_id, {p}size, {p}priority, {p}amount_minor, "
        f"{p}currency, {p}pickup_window_start, {p}pickup_window_end, {p}dropoff_window_start, "
        f"{p}dropoff_window_end, {p}pickup_eta, {p}dropoff_eta, {p}pin_hash, {p}proof_kind, "
        f"{p}proof_reference, {p}reason, {p}created_at, {p}updated_at, {p}version"
    )


_ORDER_COLS = _order_cols()

_EVENT_COLS = """order_id, tenant_id, seq, kind, from_state, to_state, actor_kind, actor_id, at,
    courier_id, ST_Y(courier_pos), ST_X(courier_pos), data"""

_FENCE_COLS = "id, tenant_id, kind, name, ST_AsBinary(geom), active, created_at, updated_at"

# Events arrive as parallel arrays so one statement writes the order (or its update) and all
# of its events; `{source}` is the CTE that yields the order id.
_INSERT_EVENTS = """
INSERT INTO order_events (order_id, tenant_id, seq, kind, from_state, to_state, actor_kind,
    actor_id, at, courier_id, courier_pos, data)
SELECT src.id, %(tenant)s, e.seq, e.kind, e.from_state, e.to_state, e.actor_kind, e.actor_id,
    e.at, e.courier_id,
    CASE WHEN e.clat IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(e.clng, e.clat), 4326) END,
    e.data
FROM {source} AS src, unnest(%(e_seq)s::int[], %(e_kind)s::text[], %(e_from)s::text[],
    %(e_to)s::text[], %(e_actor_kind)s::text[], %(e_actor_id)s::text[], %(e_at)s::timestamptz[],
    %(e_courier)s::text[], %(e_clat)s::float8[], %(e_clng)s::float8[], %(e_data)s::jsonb[])
    AS e(seq, kind, from_state, to_state, actor_kind, actor_id, at, courier_id, clat, clng, data)
"""

_CREATE_ORDER = f"""
WITH ins AS (
    INSERT INTO orders (id, tenant_id, idempotency_key, request_hash, pickup, dropoff, state,
        courier_id, size, priority, amount_minor, currency, pickup_window_start,
        pickup_window_end, dropoff_window_start, dropoff_window_end, pickup_eta, dropoff_eta,
        pin_hash, proof_kind, proof_reference, reason, created_at, updated_at, version)
    VALUES (%(id)s, %(tenant)s, %(key)s, %(hash)s,
        ST_SetSRID(ST_MakePoint(%(plng)s, %(plat)s), 4326),
        ST_SetSRID(ST_MakePoint(%(dlng)s, %(dlat)s), 4326),
        %(state)s, %(courier)s, %(size)s, %(priority)s, %(amount)s, %(currency)s,
        %(pws)s, %(pwe)s, %(dws)s, %(dwe)s, %(peta)s, %(deta)s, %(pin)s, %(proof_kind)s,
        %(proof_ref)s, %(reason)s, %(created)s, %(updated)s, %(version)s)
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING id
), ev AS ({_INSERT_EVENTS.format(source="ins")})
SELECT id FROM ins
"""

_SAVE_TRANSITION = f"""
WITH upd AS (
    UPDATE orders SET state = %(state)s, courier_id = %(courier)s, pickup_eta = %(peta)s,
        dropoff_eta = %(deta)s, proof_kind = %(proof_kind)s, proof_reference = %(proof_ref)s,
        reason = %(reason)s, updated_at = %(updated)s, version = %(version)s
    WHERE id = %(id)s AND tenant_id = %(tenant)s AND version = %(expected)s
    RETURNING id
), ev AS ({_INSERT_EVENTS.format(source="upd")})
SELECT id FROM upd
"""


def _order_params(order: Order) -> dict[str, Any]:
    pw, dw = order.pickup_window, order.dropoff_window
    return {
        "id": order.id,
        "tenant": order.tenant,
        "plat": float(order.pickup_lat),
        "plng": float(order.pickup_lng),
        "dlat": float(order.dropoff_lat),
        "dlng": float(order.dropoff_lng),
        "state": str(order.state),
        "courier": order.courier_id,
        "size": order.size,
        "priority": order.priority,
        "amount": order.amount_minor,
        "currency": order.currency,
        "pws": _dt(pw.start) if pw else None,
        "pwe": _dt(pw.end) if pw else None,
        "dws": _dt(dw.start) if dw else None,
        "dwe": _dt(dw.end) if dw else None,
        "peta": _dt(order.pickup_eta),
        "deta": _dt(order.dropoff_eta),
        "pin": order.pin_hash,
        "proof_kind": None if order.proof_kind is None else str(order.proof_kind),
        "proof_ref": order.proof_reference,
        "reason": order.reason,
        "created": _dt(order.created_at),
        "updated": _dt(order.updated_at),
        "version": order.version,
    }


def _event_params(events: Sequence[OrderEvent]) -> dict[str, Any]:
    pos = [e.courier_position for e in events]
    return {
        "e_seq": [e.seq for e in events],
        "e_kind": [e.kind for e in events],
        "e_from": [None if e.from_state is None else str(e.from_state) for e in events],
        "e_to": [str(e.to_state) for e in events],
        "e_actor_kind": [str(e.actor.kind) for e in events],
        "e_actor_id": [e.actor.id for e in events],
        "e_at": [_dt(e.at) for e in events],
        "e_courier": [e.courier_id for e in events],
        "e_clat": [None if p is None else p.lat for p in pos],
        "e_clng": [None if p is None else p.lng for p in pos],
        "e_data": [Jsonb(dict(e.data)) for e in events],
    }


def _time_window(start: datetime | None, end: datetime | None) -> TimeWindow | None:
    return None if start is None or end is None else TimeWindow(start.timestamp(), end.timestamp())


def _order(row: Row) -> Order:
    return Order(
        id=row[0],
        tenant=row[1],
        pickup_lat=row[2],
        pickup_lng=row[3],
        dropoff_lat=row[4],
        dropoff_lng=row[5],
        state=OrderState(row[6]),
        courier_id=row[7],
        size=row[8],
        priority=row[9],
        amount_minor=row[10],
        currency=row[11],
        pickup_window=_time_window(row[12], row[13]),
        dropoff_window=_time_window(row[14], row[15]),
        pickup_eta=_epoch(row[16]),
        dropoff_eta=_epoch(row[17]),
        pin_hash=row[18],
        proof_kind=None if row[19] is None else ProofKind(row[19]),
        proof_reference=row[20],
        reason=row[21],
        created_at=row[22].timestamp(),
        updated_at=row[23].timestamp(),
        version=row[24],
    )


def _event(row: Row) -> OrderEvent:
    return OrderEvent(
        order_id=row[0],
        tenant=row[1],
        seq=row[2],
        kind=row[3],
        from_state=None if row[4] is None else OrderState(row[4]),
        to_state=OrderState(row[5]),
        actor=Actor(ActorKind(row[6]), row[7]),
        at=row[8].timestamp(),
        courier_id=row[9],
        courier_position=None if row[10] is None else Position(row[10], row[11]),
        data=MappingProxyType(row[12]),
    )


def _courier(row: Row) -> Courier:
    return Courier(row[0], row[1], row[2], row[3], row[4], row[5].timestamp())


def _fence(row: Row) -> GeofenceRecord:
    geom = shapely.from_wkb(bytes(row[4]))
    return GeofenceRecord(
        id=row[0],
        tenant_id=row[1],
        kind=row[2],
        name=row[3],
        geometry=geojson_from_polygon(geom),
        active=row[5],
        created_at=row[6].timestamp(),
        updated_at=row[7].timestamp(),
    )


class PostgisStore:
    """`store.interface.Store` on PostgreSQL 15 + PostGIS 3 (schema from the migrations).

    Parameters
    ----------
    url
        ``postgresql+psycopg://...`` (or a plain libpq URL).
    pool_size
        Most pooled connections (the track flusher uses one of them while it writes).
    track_batch_size, track_max_delay_s, track_bound
        Track buffer settings (see `store.track_buffer.TrackBuffer`).
    start_flusher
        Run the background flusher; tests and benchmarks may flush explicitly instead.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        track_batch_size: int = 5_000,
        track_max_delay_s: float = 0.2,
        track_bound: int = 500_000,
        start_flusher: bool = True,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo_from_url(url),
            min_size=1,
            max_size=pool_size,
            timeout=connect_timeout_s,
            open=False,
            name="hexdispatch",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(f"cannot connect to the database: {exc}") from exc
        self._courier_nums: dict[str, int] = {}
        self._nums_lock = threading.Lock()
        self._known_days: set[date] = set()
        self.dropped_unknown_couriers = 0
        self.tracks = TrackBuffer(
            self._write_positions,
            batch_size=track_batch_size,
            max_delay_s=track_max_delay_s,
            bound=track_bound,
        )
        if start_flusher:
            self.tracks.start()

    @contextlib.contextmanager
    def _tx(self, tenant_id: str = "") -> Iterator[psycopg.Connection[Row]]:
        """One transaction: committed on success, rolled back on error; errors typed."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            raise from_database_error(exc, tenant_id=tenant_id) from exc
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no database connection available: {exc}") from exc

    def _one(self, conn: psycopg.Connection[Row], sql: str, params: Any, kind: str, id: str) -> Row:
        row = conn.execute(sql, params).fetchone()
        if row is None:
            raise NotFound(kind, id)
        return row

    # -- tenants and API keys -------------------------------------------------------------
    def create_tenant(self, name: str, *, tenant_id: str | None = None) -> Tenant:
        tenant_id = tenant_id or new_id("ten")
        check_id("tenant_id", tenant_id)
        with self._tx() as conn:
            row = self._one(
                conn,
                "INSERT INTO tenants (id, name) VALUES (%s, %s) RETURNING created_at",
                (tenant_id, name),
                "tenant",
                tenant_id,
            )
        return Tenant(tenant_id, name, row[0].timestamp())

    def get_tenant(self, tenant_id: str) -> Tenant:
        with self._tx() as conn:
            row = self._one(
                conn,
                "SELECT id, name, created_at FROM tenants WHERE id = %s",
                (tenant_id,),
                "tenant",
                tenant_id,
            )
        return Tenant(row[0], row[1], row[2].timestamp())

    def create_api_key(
        self, tenant_id: str, name: str = "", *, secret: str | None = None
    ) -> tuple[ApiKey, str]:
        secret = secret or new_secret()
        key_id = new_id("key")
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "INSERT INTO api_keys (id, tenant_id, key_hash, name) VALUES (%s, %s, %s, %s) "
                "RETURNING created_at",
                (key_id, tenant_id, hash_secret(secret), name),
                "api_key",
                key_id,
            )
        return ApiKey(key_id, tenant_id, name, row[0].timestamp()), secret

    def tenant_for_api_key(self, secret: str) -> Tenant | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT t.id, t.name, t.created_at FROM api_keys k JOIN tenants t "
                "ON t.id = k.tenant_id WHERE k.key_hash = %s AND k.revoked_at IS NULL",
                (hash_secret(secret),),
            ).fetchone()
        return None if row is None else Tenant(row[0], row[1], row[2].timestamp())

    def revoke_api_key(self, tenant_id: str, key_id: str) -> None:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE id = %s AND tenant_id = %s RETURNING id",
                (key_id, tenant_id),
                "api_key",
                key_id,
            )

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
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "INSERT INTO couriers (id, tenant_id, name, vehicle, capacity) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING num, created_at",
                (courier_id, tenant_id, name, vehicle, capacity),
                "courier",
                courier_id,
            )
        with self._nums_lock:
            self._courier_nums[courier_id] = row[0]
        return Courier(courier_id, tenant_id, name, vehicle, capacity, row[1].timestamp())

    _COURIER_SELECT = "SELECT id, tenant_id, name, vehicle, capacity, created_at FROM couriers"

    def get_courier(self, tenant_id: str, courier_id: str) -> Courier:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                f"{self._COURIER_SELECT} WHERE id = %s AND tenant_id = %s",
                (courier_id, tenant_id),
                "courier",
                courier_id,
            )
        return _courier(row)

    def list_couriers(self, tenant_id: str) -> list[Courier]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                f"{self._COURIER_SELECT} WHERE tenant_id = %s ORDER BY id", (tenant_id,)
            ).fetchall()
        return [_courier(r) for r in rows]

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
        wkb = shapely.to_wkb(polygon_from_geojson(geometry))
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "INSERT INTO geofences (id, tenant_id, kind, name, geom, active) "
                "VALUES (%s, %s, %s, %s, ST_GeomFromWKB(%s, 4326), %s) "
                f"RETURNING {_FENCE_COLS}",
                (fence_id, tenant_id, kind, name, wkb, bool(active)),
                "geofence",
                fence_id,
            )
        return _fence(row)

    def get_geofence(self, tenant_id: str, fence_id: str) -> GeofenceRecord:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                f"SELECT {_FENCE_COLS} FROM geofences WHERE id = %s AND tenant_id = %s",
                (fence_id, tenant_id),
                "geofence",
                fence_id,
            )
        return _fence(row)

    def list_geofences(
        self, tenant_id: str, *, kind: GeofenceKind | None = None, active: bool | None = None
    ) -> list[GeofenceRecord]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {_FENCE_COLS} FROM geofences WHERE tenant_id = %s "
                "AND (%s::text IS NULL OR kind = %s) AND (%s::bool IS NULL OR active = %s) "
                "ORDER BY id",
                (tenant_id, kind, kind, active, active),
            ).fetchall()
        return [_fence(r) for r in rows]

    def update_geofence(
        self,
        tenant_id: str,
        fence_id: str,
        *,
        name: str | None = None,
        geometry: dict[str, Any] | None = None,
        active: bool | None = None,
    ) -> GeofenceRecord:
        wkb = None if geometry is None else shapely.to_wkb(polygon_from_geojson(geometry))
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "UPDATE geofences SET name = coalesce(%s, name), "
                "geom = coalesce(ST_GeomFromWKB(%s, 4326), geom), "
                "active = coalesce(%s, active), updated_at = now() "
                f"WHERE id = %s AND tenant_id = %s RETURNING {_FENCE_COLS}",
                (name, wkb, active, fence_id, tenant_id),
                "geofence",
                fence_id,
            )
        return _fence(row)

    def delete_geofence(self, tenant_id: str, fence_id: str) -> None:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "DELETE FROM geofences WHERE id = %s AND tenant_id = %s RETURNING id",
                (fence_id, tenant_id),
                "geofence",
                fence_id,
            )

    def in_service_zone(
        self, tenant_id: str, lats: FloatColumn, lngs: FloatColumn
    ) -> npt.NDArray[np.bool_]:
        la = np.asarray(lats, dtype=np.float64)
        ln = np.asarray(lngs, dtype=np.float64)
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                "SELECT hexdispatch_in_service_zone(%s, ST_SetSRID(ST_MakePoint(u.lng, u.lat), 4326)) "
                "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS u(lat, lng, i) "
                "ORDER BY u.i",
                (tenant_id, la.tolist(), ln.tolist()),
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=bool)

    # -- orders -------------------------------------------------------------------------
    def _replay(
        self, conn: psycopg.Connection[Row], tenant_id: str, key: str, fingerprint: str | None
    ) -> Order | None:
        row = conn.execute(
            f"SELECT {_ORDER_COLS}, request_hash FROM orders "
            "WHERE tenant_id = %s AND idempotency_key = %s",
            (tenant_id, key),
        ).fetchone()
        if row is None:
            return None
        if row[-1] != fingerprint:
            raise IdempotencyConflict(tenant_id, key)
        return _order(row)

    def _enqueue(self, conn: psycopg.Connection[Row], outbox: Sequence[OutboxMessage]) -> None:
        if not outbox:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO webhook_outbox (message_id, event_id, tenant_id, endpoint_id, "
                "event_type, ordering_key, sequence, body, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (message_id) DO NOTHING",
                [
                    (
                        m.id,
                        m.event_id,
                        m.tenant,
                        m.endpoint_id,
                        m.event_type,
                        m.ordering_key,
                        m.sequence,
                        m.body,
                        _dt(m.created_at),
                    )
                    for m in outbox
                ],
            )

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
        params = _order_params(order) | _event_params(created.events)
        params |= {"key": idempotency_key, "hash": fingerprint}
        with self._tx(tenant_id) as conn:
            if idempotency_key is not None:
                first = self._replay(conn, tenant_id, idempotency_key, fingerprint)
                if first is not None:
                    return first, False
            # The BEFORE INSERT trigger checks both points against the tenant's service zones.
            if conn.execute(_CREATE_ORDER, params).fetchone() is not None:
                self._enqueue(conn, outbox)
                return order, True
        # A concurrent request with the same key won the insert: answer with its order.
        assert idempotency_key is not None
        with self._tx(tenant_id) as conn:
            first = self._replay(conn, tenant_id, idempotency_key, fingerprint)
        if first is None:  # pragma: no cover - the winner committed before ON CONFLICT fired
            raise StoreUnavailable("idempotent create raced with a rollback; retry")
        return first, False

    def get_order(self, tenant_id: str, order_id: str) -> Order:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                f"SELECT {_ORDER_COLS} FROM orders WHERE id = %s AND tenant_id = %s",
                (order_id, tenant_id),
                "order",
                order_id,
            )
        return _order(row)

    def list_orders(
        self, tenant_id: str, *, state: OrderState | None = None, limit: int = 100
    ) -> list[Order]:
        st = None if state is None else str(state)
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {_ORDER_COLS} FROM orders WHERE tenant_id = %s "
                "AND (%s::text IS NULL OR state = %s) ORDER BY created_at DESC, id DESC LIMIT %s",
                (tenant_id, st, st, limit),
            ).fetchall()
        return [_order(r) for r in rows]

    def save_transition(
        self, transition: Transition, *, outbox: Sequence[OutboxMessage] = ()
    ) -> Order:
        expected = check_transition(transition)
        new = transition.order
        params = _order_params(new) | _event_params(transition.events) | {"expected": expected}
        with self._tx(new.tenant) as conn:
            if conn.execute(_SAVE_TRANSITION, params).fetchone() is None:
                current = conn.execute(
                    "SELECT version FROM orders WHERE id = %s AND tenant_id = %s",
                    (new.id, new.tenant),
                ).fetchone()
                if current is None:
                    raise NotFound("order", new.id)
                raise StaleVersion("order", new.id, expected, current[0])
            self._enqueue(conn, outbox)
        return new

    def list_order_events(self, tenant_id: str, order_id: str) -> list[OrderEvent]:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "SELECT 1 FROM orders WHERE id = %s AND tenant_id = %s",
                (order_id, tenant_id),
                "order",
                order_id,
            )
            rows = conn.execute(
                f"SELECT {_EVENT_COLS} FROM order_events WHERE order_id = %s ORDER BY seq",
                (order_id,),
            ).fetchall()
        return [_event(r) for r in rows]

    def pending_outbox(self, tenant_id: str) -> list[OutboxMessage]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                "SELECT message_id, event_id, tenant_id, endpoint_id, event_type, ordering_key, "
                "sequence, body, created_at FROM webhook_outbox "
                "WHERE tenant_id = %s AND delivered_at IS NULL ORDER BY id",
                (tenant_id,),
            ).fetchall()
        return [
            OutboxMessage(
                id=r[0],
                event_id=r[1],
                tenant=r[2],
                endpoint_id=r[3],
                event_type=r[4],
                ordering_key=r[5],
                sequence=r[6],
                body=bytes(r[7]),
                created_at=r[8].timestamp(),
            )
            for r in rows
        ]

    # -- ledger -------------------------------------------------------------------------
    def _journal(
        self, conn: psycopg.Connection[Row], where: str, params: Any
    ) -> list[JournalEntry]:
        heads = conn.execute(
            "SELECT id, tenant_id, kind, currency, at, order_id, intent_id, reverses, meta "
            f"FROM journal_entries j WHERE {where} "
            # Posting order: postings' identity ids grow in insertion order.
            "ORDER BY (SELECT min(l.id) FROM ledger_entries l WHERE l.journal_id = j.id)",
            params,
        ).fetchall()
        if not heads:
            return []
        lines: dict[str, list[Posting]] = {h[0]: [] for h in heads}
        for jid, tenant, kind, holder, amount, currency in conn.execute(
            "SELECT journal_id, tenant_id, account_kind, account_holder, amount_minor, currency "
            "FROM ledger_entries WHERE journal_id = ANY(%s) ORDER BY id",
            (list(lines),),
        ):
            lines[jid].append(Posting(Account(tenant, AccountKind(kind), holder), amount, currency))
        return [
            JournalEntry(
                id=h[0],
                tenant=h[1],
                kind=h[2],
                currency=h[3],
                postings=tuple(lines[h[0]]),
                at=h[4],
                order_id=h[5],
                intent_id=h[6],
                reverses=h[7],
                meta=MappingProxyType(h[8]),
            )
            for h in heads
        ]

    def post_journal_entries(self, entries: Sequence[JournalEntry]) -> int:
        entries = list(entries)
        if not entries:
            return 0
        new = 0
        with self._tx(entries[0].tenant) as conn:
            for e in entries:
                try:
                    with conn.transaction():  # a savepoint: name the failing entry
                        row = conn.execute(
                            "INSERT INTO journal_entries (id, tenant_id, kind, currency, at, "
                            "order_id, intent_id, reverses, meta) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                            "ON CONFLICT (id) DO NOTHING RETURNING id",
                            (
                                e.id,
                                e.tenant,
                                e.kind,
                                e.currency,
                                e.at,
                                e.order_id,
                                e.intent_id,
                                e.reverses,
                                Jsonb(dict(e.meta)),
                            ),
                        ).fetchone()
                except psycopg.errors.UniqueViolation as exc:
                    raise AlreadyReversed(e.reverses or e.id, "is already reversed") from exc
                except psycopg.errors.ForeignKeyViolation as exc:
                    if e.reverses and "reverses" in str(exc.diag.constraint_name):
                        raise AlreadyReversed(e.reverses, "is not in the ledger") from exc
                    raise
                if row is None:
                    if self._journal(conn, "id = %s", (e.id,)) != [e]:
                        raise DuplicateEntry(e.id)
                    continue
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO ledger_entries (tenant_id, journal_id, account_kind, "
                        "account_holder, amount_minor, currency) VALUES (%s, %s, %s, %s, %s, %s)",
                        [
                            (
                                e.tenant,
                                e.id,
                                str(p.account.kind),
                                p.account.holder,
                                p.amount_minor,
                                p.currency,
                            )
                            for p in e.postings
                        ],
                    )
                new += 1
        return new

    def journal_entries(self, tenant_id: str, *, order_id: str | None = None) -> list[JournalEntry]:
        with self._tx(tenant_id) as conn:
            return self._journal(
                conn,
                "tenant_id = %s AND (%s::text IS NULL OR order_id = %s)",
                (tenant_id, order_id, order_id),
            )

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
        sp, hd, ac = position_columns(len(ids), speed, heading, accuracy)
        self.tracks.append(PositionBatch(ids, t, la, ln, sp, hd, ac))

    def flush_positions(self) -> int:
        return self.tracks.flush()

    def _courier_num_column(
        self, conn: psycopg.Connection[Row], ids: list[str]
    ) -> npt.NDArray[np.int64]:
        with self._nums_lock:
            nums = self._courier_nums
            missing = {cid for cid in ids if cid not in nums}
        if missing:
            rows = conn.execute(
                "SELECT id, num FROM couriers WHERE id = ANY(%s)", (list(missing),)
            ).fetchall()
            with self._nums_lock:
                nums.update(rows)
        return np.fromiter((nums.get(cid, -1) for cid in ids), dtype=np.int64, count=len(ids))

    def _write_positions(self, batch: PositionBatch) -> None:
        """The track buffer's sink: one binary COPY per batch into the day partitions."""
        epoch_days = np.unique(np.floor(batch.ts / partitions.DAY_S).astype(np.int64))
        days = {partitions.day_of_epoch(d) for d in epoch_days.tolist()}
        # One day ahead, so the partition for tomorrow exists before its first ping arrives.
        days.add(max(days) + timedelta(days=1))
        try:
            if not days <= self._known_days:
                # Own short transaction: creating a partition locks the parent table briefly.
                with self._pool.connection() as conn:
                    conn.autocommit = True
                    try:
                        partitions.ensure_partitions(conn, days - self._known_days)
                    finally:
                        conn.autocommit = False
                self._known_days |= days
            with self._pool.connection() as conn, conn.transaction():
                nums = self._courier_num_column(conn, batch.courier_ids)
                known = nums >= 0
                b = batch
                if not known.all():
                    self.dropped_unknown_couriers += int((~known).sum())
                    nums = nums[known]
                    b = PositionBatch(
                        [c for c, k in zip(b.courier_ids, known, strict=True) if k],
                        *(c[known] for c in (b.ts, b.lats, b.lngs, b.speed, b.heading, b.accuracy)),
                    )
                # Rows in (courier, ts) order touch the btree index's pages in sequence.
                order = np.lexsort((b.ts, nums))
                payload = positions_copy_payload(
                    nums[order],
                    *(c[order] for c in (b.ts, b.lats, b.lngs, b.speed, b.heading, b.accuracy)),
                )
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        f"COPY courier_positions ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.write(payload)
        except psycopg.Error as exc:
            raise from_database_error(exc) from exc

    def courier_track(
        self, tenant_id: str, courier_id: str, start: float, end: float
    ) -> dict[str, Any] | None:
        with self._tx(tenant_id) as conn:
            num = self._one(
                conn,
                "SELECT num FROM couriers WHERE id = %s AND tenant_id = %s",
                (courier_id, tenant_id),
                "courier",
                courier_id,
            )[0]
            row = conn.execute(
                "SELECT count(*), ST_AsGeoJSON(ST_MakeLine(pos::geometry ORDER BY ts), 15) "
                "FROM courier_positions WHERE courier_num = %s AND ts >= %s AND ts <= %s",
                (num, _dt(start), _dt(end)),
            ).fetchone()
        if row is None or row[0] < 2:
            return None
        line: dict[str, Any] = json.loads(row[1])
        return {"type": "LineString", "coordinates": line["coordinates"]}

    def couriers_in_fence(
        self, tenant_id: str, fence_id: str, start: float, end: float
    ) -> list[str]:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "SELECT 1 FROM geofences WHERE id = %s AND tenant_id = %s",
                (fence_id, tenant_id),
                "geofence",
                fence_id,
            )
            rows = conn.execute(
                "SELECT DISTINCT c.id FROM geofences g "
                "JOIN courier_positions p ON ST_Covers(g.geom, p.pos::geometry) "
                "JOIN couriers c ON c.num = p.courier_num AND c.tenant_id = g.tenant_id "
                "WHERE g.id = %s AND g.tenant_id = %s AND p.ts >= %s AND p.ts <= %s "
                "ORDER BY c.id",
                (fence_id, tenant_id, _dt(start), _dt(end)),
            ).fetchall()
        return [r[0] for r in rows]

    # -- maintenance ----------------------------------------------------------------------
    def prune_positions(self, older_than_s: float, *, now: float | None = None) -> list[str]:
        """Drop the day partitions entirely older than ``older_than_s``; return their names."""
        ref = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
        cutoff = datetime.fromtimestamp(ref.timestamp() - older_than_s, UTC)
        with self._tx() as conn:
            dropped = partitions.drop_partitions_before(conn, cutoff)
        self._known_days = {
            d for d in self._known_days if partitions.partition_name(d) not in dropped
        }
        return dropped

    def close(self) -> None:
        try:
            self.tracks.close()
        finally:
            self._pool.close()
