"""The ledger on PostGIS: `payments.ledger.JournalEntry` headers and postings, posted once."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from payments.errors import AlreadyReversed, DuplicateEntry
from payments.ledger import Account, AccountKind, JournalEntry, Posting
from store.postgis_base import PostgisBase, Row


class PostgisLedger(PostgisBase):
    """Ledger methods of `PostgisStore`."""

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
        with self._tx(entries[0].tenant) as conn:
            return self._post_entries(conn, entries)

    def _post_entries(self, conn: psycopg.Connection[Row], entries: Sequence[JournalEntry]) -> int:
        """Post in the caller's transaction; return how many entries were new."""
        new = 0
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
