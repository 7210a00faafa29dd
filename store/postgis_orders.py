"""Orders on PostGIS: `orders.model` records, events and outbox rows in one transaction each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

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
from payments.intents import PaymentResult
from payments.ledger import JournalEntry
from store.errors import IdempotencyConflict, NotFound, StaleVersion, StoreUnavailable
from store.postgis_base import OUTBOX_COLS, Row, outbox_message_from_row, to_datetime, to_epoch
from store.postgis_payments import PostgisPayments
from store.validation import check_new_order, check_transition


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
        "pws": to_datetime(pw.start) if pw else None,
        "pwe": to_datetime(pw.end) if pw else None,
        "dws": to_datetime(dw.start) if dw else None,
        "dwe": to_datetime(dw.end) if dw else None,
        "peta": to_datetime(order.pickup_eta),
        "deta": to_datetime(order.dropoff_eta),
        "pin": order.pin_hash,
        "proof_kind": None if order.proof_kind is None else str(order.proof_kind),
        "proof_ref": order.proof_reference,
        "reason": order.reason,
        "created": to_datetime(order.created_at),
        "updated": to_datetime(order.updated_at),
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
        "e_at": [to_datetime(e.at) for e in events],
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
        pickup_eta=to_epoch(row[16]),
        dropoff_eta=to_epoch(row[17]),
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


class PostgisOrders(PostgisPayments):
    """Order methods of `PostgisStore` (the service-zone check is the orders trigger's); a
    transition may carry payment results, written in its transaction."""

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
                self._enqueue(conn, tenant_id, created.events, outbox)
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

    def pin_failures(self, tenant_id: str, order_id: str) -> int:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "SELECT pin_failures FROM orders WHERE id = %s AND tenant_id = %s",
                (order_id, tenant_id),
                "order",
                order_id,
            )
        return int(row[0])

    def count_pin_failure(self, tenant_id: str, order_id: str) -> int:
        # One UPDATE: concurrent wrong PINs from several API workers each count.
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "UPDATE orders SET pin_failures = pin_failures + 1 "
                "WHERE id = %s AND tenant_id = %s RETURNING pin_failures",
                (order_id, tenant_id),
                "order",
                order_id,
            )
        return int(row[0])

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
        self,
        transition: Transition,
        *,
        outbox: Sequence[OutboxMessage] = (),
        payments: Sequence[PaymentResult] = (),
        entries: Sequence[JournalEntry] = (),
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
            self._enqueue(conn, new.tenant, transition.events, outbox)
            self._post_entries(conn, entries)
            for result in payments:
                if result.changed:
                    self._write_payment(conn, result)
                else:
                    self._post_entries(conn, result.entries)
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
                f"SELECT {OUTBOX_COLS} FROM webhook_outbox "
                "WHERE tenant_id = %s AND delivered_at IS NULL ORDER BY id",
                (tenant_id,),
            ).fetchall()
        return [outbox_message_from_row(r) for r in rows]
