"""Shared plumbing of the PostGIS store: URL, time conversion, the pool and one-transaction scope."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from orders.webhooks import Endpoint, OutboxMessage, PublishableEvent, outbox_for_events
from store.errors import NotFound, StoreUnavailable, from_database_error

Row = tuple[Any, ...]

ENDPOINT_COLS = (
    "id, tenant_id, url, secret, event_types, enabled, consecutive_failures, retry_at, "
    "disabled_reason"
)


OUTBOX_COLS = (
    "message_id, event_id, tenant_id, endpoint_id, event_type, ordering_key, sequence, body, "
    "created_at"
)


def outbox_message_from_row(row: Row) -> OutboxMessage:
    """An `orders.webhooks.OutboxMessage` from the columns `OUTBOX_COLS` names, in order."""
    return OutboxMessage(
        id=row[0],
        event_id=row[1],
        tenant=row[2],
        endpoint_id=row[3],
        event_type=row[4],
        ordering_key=row[5],
        sequence=row[6],
        body=bytes(row[7]),
        created_at=row[8].timestamp(),
    )


def endpoint_from_row(row: Row) -> Endpoint:
    """An `orders.webhooks.Endpoint` from the columns `ENDPOINT_COLS` names, in order."""
    return Endpoint(
        id=row[0],
        tenant=row[1],
        url=row[2],
        secret=row[3],
        event_types=frozenset(row[4]),
        enabled=row[5],
        consecutive_failures=row[6],
        retry_at=0.0 if row[7] is None else row[7].timestamp(),
        disabled_reason=row[8],
    )


def conninfo_from_url(url: str) -> str:
    """libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` -> ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return "postgresql://" + rest


def to_datetime(epoch: float | None) -> datetime | None:
    """UTC epoch seconds (the core's time) to an aware datetime (timestamptz); None stays."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def to_epoch(value: datetime | None) -> float | None:
    """An aware datetime from the database to UTC epoch seconds; None stays."""
    return None if value is None else value.timestamp()


class PostgisBase:
    """The pool and the transaction scope every part of `PostgisStore` writes through."""

    _pool: ConnectionPool[psycopg.Connection[Row]]

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

    def _enqueue(
        self,
        conn: psycopg.Connection[Row],
        tenant_id: str,
        events: Sequence[PublishableEvent],
        outbox: Sequence[OutboxMessage],
    ) -> None:
        """Outbox rows in the caller's transaction: ``outbox`` and the events' messages for
        the tenant's endpoints; message ids are deterministic (no dupes)."""
        if events:
            rows = conn.execute(
                f"SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = %s",
                (tenant_id,),
            ).fetchall()
            outbox = [*outbox, *outbox_for_events(events, map(endpoint_from_row, rows))]
        if not outbox:
            return
        with conn.cursor() as cur:
            cur.executemany(
                # Due at once whatever the clock (next_attempt_at at the epoch), as in memory.
                "INSERT INTO webhook_outbox (message_id, event_id, tenant_id, endpoint_id, "
                "event_type, ordering_key, sequence, body, created_at, next_attempt_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'epoch') "
                "ON CONFLICT (message_id) DO NOTHING",
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
                        to_datetime(m.created_at),
                    )
                    for m in outbox
                ],
            )
