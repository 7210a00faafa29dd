"""Shared plumbing of the PostGIS store: URL, time conversion, the pool and one-transaction scope."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from orders.webhooks import OutboxMessage
from store.errors import NotFound, StoreUnavailable, from_database_error

Row = tuple[Any, ...]


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

    def _enqueue(self, conn: psycopg.Connection[Row], outbox: Sequence[OutboxMessage]) -> None:
        """Outbox rows in the caller's transaction; message ids are deterministic (no dupes)."""
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
                        to_datetime(m.created_at),
                    )
                    for m in outbox
                ],
            )
