"""Payments on PostGIS: `payments.intents` results (intent, events, journal entries) in one go."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from orders.webhooks import OutboxMessage
from payments.intents import IntentState, PaymentEvent, PaymentIntent, PaymentMethod, PaymentResult
from store.errors import NotFound, StaleVersion
from store.postgis_base import Row, to_datetime
from store.postgis_ledger import PostgisLedger

_INTENT_COLS = """id, tenant_id, order_id, method, provider, amount_minor, currency, created_at,
    state, provider_ref, captured_minor, refunded_minor, refund_ids, pending_refunds,
    seen_updates, failure_reason, cash_courier_id, updated_at, version"""

_INSERT = f"""
INSERT INTO payments ({_INTENT_COLS})
VALUES (%(id)s, %(tenant)s, %(order)s, %(method)s, %(provider)s, %(amount)s, %(currency)s,
    %(created)s, %(state)s, %(ref)s, %(captured)s, %(refunded)s, %(refund_ids)s,
    %(pending)s, %(seen)s, %(failure)s, %(cash_courier)s, %(updated)s, %(version)s)
RETURNING id
"""

_UPDATE = """
UPDATE payments SET state = %(state)s, provider_ref = %(ref)s, captured_minor = %(captured)s,
    refunded_minor = %(refunded)s, refund_ids = %(refund_ids)s, pending_refunds = %(pending)s,
    seen_updates = %(seen)s, failure_reason = %(failure)s, cash_courier_id = %(cash_courier)s,
    updated_at = %(updated)s, version = %(version)s
WHERE id = %(id)s AND tenant_id = %(tenant)s AND version = %(version)s - 1
RETURNING id
"""


def _intent_params(i: PaymentIntent) -> dict[str, Any]:
    return {
        "id": i.id,
        "tenant": i.tenant,
        "order": i.order_id,
        "method": str(i.method),
        "provider": i.provider,
        "amount": i.amount_minor,
        "currency": i.currency,
        "created": to_datetime(i.created_at),
        "state": str(i.state),
        "ref": i.provider_ref,
        "captured": i.captured_minor,
        "refunded": i.refunded_minor,
        "refund_ids": sorted(i.refund_ids),
        "pending": Jsonb([list(p) for p in i.pending_refunds]),
        "seen": sorted(i.seen_updates),
        "failure": i.failure_reason,
        "cash_courier": i.cash_courier_id,
        "updated": to_datetime(i.updated_at),
        "version": i.version,
    }


def _intent(row: Row) -> PaymentIntent:
    return PaymentIntent(
        id=row[0],
        tenant=row[1],
        order_id=row[2],
        method=PaymentMethod(row[3]),
        provider=row[4],
        amount_minor=row[5],
        currency=row[6],
        created_at=row[7].timestamp(),
        state=IntentState(row[8]),
        provider_ref=row[9],
        captured_minor=row[10],
        refunded_minor=row[11],
        refund_ids=frozenset(row[12]),
        pending_refunds=tuple((r, int(a)) for r, a in row[13]),
        seen_updates=frozenset(row[14]),
        failure_reason=row[15],
        cash_courier_id=row[16],
        updated_at=row[17].timestamp(),
        version=row[18],
    )


class PostgisPayments(PostgisLedger):
    """Payment methods of `PostgisStore`."""

    def save_payment(
        self, result: PaymentResult, *, outbox: Sequence[OutboxMessage] = ()
    ) -> PaymentIntent:
        intent = result.intent
        if not result.changed:
            return intent
        with self._tx(intent.tenant) as conn:
            self._write_payment(conn, result, outbox)
        return intent

    def _write_payment(
        self,
        conn: psycopg.Connection[Row],
        result: PaymentResult,
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        """A changed payment result in the caller's transaction."""
        intent = result.intent
        sql = _INSERT if intent.version == 1 else _UPDATE
        if conn.execute(sql, _intent_params(intent)).fetchone() is None:
            current = conn.execute(
                "SELECT version FROM payments WHERE id = %s AND tenant_id = %s",
                (intent.id, intent.tenant),
            ).fetchone()
            if current is None:
                raise NotFound("payment", intent.id)
            raise StaleVersion("payment", intent.id, intent.version - 1, current[0])
        if result.events:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO payment_events (intent_id, tenant_id, order_id, seq, kind, "
                    "from_state, to_state, at, data) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            e.intent_id,
                            e.tenant,
                            e.order_id,
                            e.seq,
                            e.kind,
                            None if e.from_state is None else str(e.from_state),
                            str(e.to_state),
                            to_datetime(e.at),
                            Jsonb(dict(e.data)),
                        )
                        for e in result.events
                    ],
                )
        self._post_entries(conn, result.entries)
        self._enqueue(conn, intent.tenant, result.events, outbox)

    def _intents(
        self, conn: psycopg.Connection[Row], where: str, params: Any
    ) -> list[PaymentIntent]:
        rows = conn.execute(
            f"SELECT {_INTENT_COLS} FROM payments WHERE {where} ORDER BY created_at, id", params
        ).fetchall()
        return [_intent(r) for r in rows]

    def get_payment(self, tenant_id: str, intent_id: str) -> PaymentIntent:
        with self._tx(tenant_id) as conn:
            found = self._intents(conn, "id = %s AND tenant_id = %s", (intent_id, tenant_id))
        if not found:
            raise NotFound("payment", intent_id)
        return found[0]

    def payments_of_order(self, tenant_id: str, order_id: str) -> list[PaymentIntent]:
        with self._tx(tenant_id) as conn:
            return self._intents(conn, "order_id = %s AND tenant_id = %s", (order_id, tenant_id))

    def payment_by_provider_ref(self, provider: str, provider_ref: str) -> PaymentIntent | None:
        with self._tx() as conn:
            found = self._intents(
                conn, "provider = %s AND provider_ref = %s", (provider, provider_ref)
            )
        return found[0] if found else None

    def list_payment_events(self, tenant_id: str, intent_id: str) -> list[PaymentEvent]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                "SELECT intent_id, order_id, tenant_id, seq, kind, from_state, to_state, at, data "
                "FROM payment_events WHERE intent_id = %s AND tenant_id = %s ORDER BY seq",
                (intent_id, tenant_id),
            ).fetchall()
        return [
            PaymentEvent(
                intent_id=r[0],
                order_id=r[1],
                tenant=r[2],
                seq=r[3],
                kind=r[4],
                from_state=None if r[5] is None else IntentState(r[5]),
                to_state=IntentState(r[6]),
                at=r[7].timestamp(),
                data=MappingProxyType(r[8]),
            )
            for r in rows
        ]
