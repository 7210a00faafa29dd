"""Webhook endpoints, claims and the delivery log on PostGIS (`orders.webhooks` records)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from orders.webhooks import Attempt, Claimed, DeliveryState, Endpoint, MessageStatus
from store.errors import AlreadyExists
from store.postgis_base import (
    ENDPOINT_COLS,
    PostgisBase,
    Row,
    endpoint_from_row,
    outbox_message_from_row,
    to_datetime,
)
from store.validation import check_id

_MESSAGE_COLS = (
    "o.message_id, o.event_id, o.tenant_id, o.endpoint_id, o.event_type, o.ordering_key, "
    "o.sequence, o.body, o.created_at, o.attempts, o.next_attempt_at, o.last_error"
)

# Heads of every (endpoint, ordering key) queue, the due ones leased in the same statement. The
# UPDATE re-checks ``next_attempt_at`` on the row it locks, so of two workers racing for a head
# only the first leases it (the second sees the lease and skips the row).
_CLAIM = f"""
WITH heads AS (
    SELECT DISTINCT ON (endpoint_id, ordering_key) id, endpoint_id, ordering_key, sequence,
        created_at, next_attempt_at
    FROM webhook_outbox WHERE delivered_at IS NULL
    ORDER BY endpoint_id, ordering_key, sequence
), due AS (
    SELECT h.id FROM heads h JOIN webhook_endpoints e ON e.id = h.endpoint_id
    WHERE e.enabled AND (e.retry_at IS NULL OR e.retry_at <= %(now)s)
        AND h.next_attempt_at <= %(now)s
    ORDER BY h.created_at, h.ordering_key, h.sequence
    LIMIT %(limit)s
)
UPDATE webhook_outbox o SET next_attempt_at = %(until)s
FROM due WHERE o.id = due.id AND o.next_attempt_at <= %(now)s AND o.delivered_at IS NULL
RETURNING {_MESSAGE_COLS}
"""

_ATTEMPT_COLS = (
    "message_id, event_id, event_type, tenant_id, endpoint_id, ordering_key, number, at, ok, "
    "status_code, error, next_attempt_at"
)


def _claimed(row: Row, endpoint: Endpoint) -> Claimed:
    message = outbox_message_from_row(row)
    state = DeliveryState(
        message_id=row[0], attempts=row[9], next_attempt_at=row[10].timestamp(), last_error=row[11]
    )
    return Claimed(message, state, endpoint)


def _attempt(row: Row) -> Attempt:
    return Attempt(
        message_id=row[0],
        event_id=row[1],
        event_type=row[2],
        tenant=row[3],
        endpoint_id=row[4],
        ordering_key=row[5],
        number=row[6],
        at=row[7].timestamp(),
        ok=row[8],
        status_code=row[9],
        error=row[10],
        next_attempt_at=None if row[11] is None else row[11].timestamp(),
    )


def _health(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "enabled": endpoint.enabled,
        "failures": endpoint.consecutive_failures,
        "retry_at": to_datetime(endpoint.retry_at) if endpoint.retry_at else None,
        "reason": endpoint.disabled_reason,
    }


class PostgisWebhooks(PostgisBase):
    """Webhook methods of `PostgisStore` (outbox rows are written by `PostgisBase._enqueue`)."""

    def create_webhook_endpoint(self, endpoint: Endpoint) -> Endpoint:
        check_id("endpoint_id", endpoint.id)
        with self._tx(endpoint.tenant) as conn:
            row = conn.execute(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, enabled, "
                "consecutive_failures, retry_at, disabled_reason) VALUES (%(id)s, %(tenant)s, "
                "%(url)s, %(secret)s, %(types)s, %(enabled)s, %(failures)s, %(retry_at)s, "
                "%(reason)s) ON CONFLICT (id) DO NOTHING RETURNING id",
                {
                    "id": endpoint.id,
                    "tenant": endpoint.tenant,
                    "url": endpoint.url,
                    "secret": endpoint.secret,
                    "types": sorted(endpoint.event_types),
                }
                | _health(endpoint),
            ).fetchone()
        if row is None:
            raise AlreadyExists("webhook_endpoint", "id", endpoint.id)
        return endpoint

    def get_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                f"SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = %s AND tenant_id = %s",
                (endpoint_id, tenant_id),
                "webhook_endpoint",
                endpoint_id,
            )
        return endpoint_from_row(row)

    def list_webhook_endpoints(self, tenant_id: str) -> list[Endpoint]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = %s ORDER BY id",
                (tenant_id,),
            ).fetchall()
        return [endpoint_from_row(r) for r in rows]

    def delete_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> None:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "DELETE FROM webhook_endpoints WHERE id = %s AND tenant_id = %s RETURNING id",
                (endpoint_id, tenant_id),
                "webhook_endpoint",
                endpoint_id,
            )
            conn.execute(
                "DELETE FROM webhook_outbox WHERE endpoint_id = %s AND delivered_at IS NULL",
                (endpoint_id,),
            )

    def enable_webhook_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "UPDATE webhook_endpoints SET enabled = true, consecutive_failures = 0, "
                "retry_at = NULL, disabled_reason = NULL WHERE id = %s AND tenant_id = %s "
                f"RETURNING {ENDPOINT_COLS}",
                (endpoint_id, tenant_id),
                "webhook_endpoint",
                endpoint_id,
            )
            conn.execute(
                "UPDATE webhook_outbox SET next_attempt_at = 'epoch' "
                "WHERE endpoint_id = %s AND delivered_at IS NULL",
                (endpoint_id,),
            )
        return endpoint_from_row(row)

    def claim_webhook_messages(self, now: float, *, limit: int, lease_s: float) -> list[Claimed]:
        params = {"now": to_datetime(now), "until": to_datetime(now + lease_s), "limit": limit}
        with self._tx() as conn:
            rows = conn.execute(_CLAIM, params).fetchall()
            if not rows:
                return []
            endpoints = {
                r[0]: endpoint_from_row(r)
                for r in conn.execute(
                    f"SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = ANY(%s)",
                    (sorted({r[3] for r in rows}),),
                ).fetchall()
            }
        claimed = [_claimed(r, endpoints[r[3]]) for r in rows]
        claimed.sort(
            key=lambda c: (c.message.created_at, c.message.ordering_key, c.message.sequence)
        )
        return claimed

    def release_webhook_messages(self, message_ids: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE webhook_outbox SET next_attempt_at = 'epoch' "
                "WHERE message_id = ANY(%s) AND delivered_at IS NULL",
                (list(message_ids),),
            )

    def record_webhook_attempt(
        self, state: DeliveryState, endpoint: Endpoint, attempt: Attempt
    ) -> None:
        delivered = state.status is MessageStatus.DELIVERED
        with self._tx(attempt.tenant) as conn:
            conn.execute(
                "UPDATE webhook_outbox SET attempts = %s, next_attempt_at = %s, "
                "delivered_at = %s, last_error = %s WHERE message_id = %s AND delivered_at IS NULL",
                (
                    state.attempts,
                    to_datetime(state.next_attempt_at),
                    to_datetime(state.delivered_at) if delivered else None,
                    state.last_error,
                    state.message_id,
                ),
            )
            conn.execute(
                "UPDATE webhook_endpoints SET enabled = %(enabled)s, "
                "consecutive_failures = %(failures)s, retry_at = %(retry_at)s, "
                "disabled_reason = %(reason)s WHERE id = %(id)s",
                _health(endpoint) | {"id": endpoint.id},
            )
            conn.execute(
                f"INSERT INTO webhook_attempts ({_ATTEMPT_COLS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    attempt.message_id,
                    attempt.event_id,
                    attempt.event_type,
                    attempt.tenant,
                    attempt.endpoint_id,
                    attempt.ordering_key,
                    attempt.number,
                    to_datetime(attempt.at),
                    attempt.ok,
                    attempt.status_code,
                    attempt.error,
                    to_datetime(attempt.next_attempt_at),
                ),
            )

    def webhook_attempts(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None = None,
        ordering_keys: Sequence[str] | None = None,
        ok: bool | None = None,
        limit: int = 100,
    ) -> list[Attempt]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {_ATTEMPT_COLS} FROM webhook_attempts WHERE tenant_id = %(tenant)s "
                "AND (%(endpoint)s::text IS NULL OR endpoint_id = %(endpoint)s) "
                "AND (%(keys)s::text[] IS NULL OR ordering_key = ANY(%(keys)s)) "
                "AND (%(ok)s::boolean IS NULL OR ok = %(ok)s) ORDER BY id DESC LIMIT %(limit)s",
                {
                    "tenant": tenant_id,
                    "endpoint": endpoint_id,
                    "keys": None if ordering_keys is None else list(ordering_keys),
                    "ok": ok,
                    "limit": limit,
                },
            ).fetchall()
        return [_attempt(r) for r in rows]

    def prune_webhook_history(
        self, older_than_s: float, *, now: float | None = None
    ) -> tuple[int, int]:
        cutoff = to_datetime((time.time() if now is None else now) - older_than_s)
        with self._tx() as conn:
            messages = conn.execute(
                "DELETE FROM webhook_outbox WHERE delivered_at < %s", (cutoff,)
            ).rowcount
            attempts = conn.execute(
                "DELETE FROM webhook_attempts WHERE at < %s", (cutoff,)
            ).rowcount
        return messages, attempts
