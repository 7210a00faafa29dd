"""One command's writes, persisted by the store in a single transaction (the store's seam).

A command (deliver an order, apply a callback, refresh ETAs) calls pure functions that return
new records, events and journal entries; the API folds them into one `ChangeSet` and hands it
to the store's `ChangeSink.commit`. Nothing in `orders` or `payments` writes anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from orders.idempotency import IdempotencyRecord
from orders.lifecycle import Transition
from orders.model import Order, OrderEvent
from orders.webhooks import Endpoint, OutboxMessage, PublishableEvent, outbox_for_events
from payments.intents import PaymentEvent, PaymentIntent, PaymentResult
from payments.ledger import JournalEntry

Record = TypeVar("Record", Order, PaymentIntent)


def _last_per_id(records: Iterable[Record]) -> tuple[Record, ...]:
    return tuple({r.id: r for r in records}.values())


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Everything one command writes.

    Attributes
    ----------
    orders, intents
        New versions of records; ``version == 1`` is an insert, otherwise an update that must
        find ``version - 1`` stored (else `orders.errors.ConcurrentUpdate`, nothing written).
    order_events, payment_events
        Appended; unique on ``(order_id, seq)`` / ``(intent_id, seq)``.
    entries
        Journal entries; unique on ``id``; an identical replay is a no-op.
    outbox
        Webhook messages; unique on ``id``; a re-insert is a no-op.
    idempotency
        The Idempotency-Key record of the request that caused the change, unique on
        ``(tenant, key)``: when the insert collides, another request with the key won the race;
        the store rolls back and the API re-reads the record (`orders.idempotency.decide`:
        replay or conflict), so concurrent requests with one key create one order.
    """

    orders: tuple[Order, ...] = ()
    order_events: tuple[OrderEvent, ...] = ()
    intents: tuple[PaymentIntent, ...] = ()
    payment_events: tuple[PaymentEvent, ...] = ()
    entries: tuple[JournalEntry, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()
    idempotency: IdempotencyRecord[Any] | None = None

    @classmethod
    def of(cls, *parts: Transition | PaymentResult) -> ChangeSet:
        """Fold lifecycle transitions and payment results, in the order they happened.

        A record changed twice keeps only its last version (its events all stay).
        """
        orders: list[Order] = []
        intents: list[PaymentIntent] = []
        order_events: list[OrderEvent] = []
        payment_events: list[PaymentEvent] = []
        entries: list[JournalEntry] = []
        for part in parts:
            if isinstance(part, Transition):
                orders.append(part.order)
                order_events += part.events
            elif part.changed:
                intents.append(part.intent)
                payment_events += part.events
                entries += part.entries
            else:
                entries += part.entries  # e.g. billing with the intent untouched
        return cls(
            orders=_last_per_id(orders),
            order_events=tuple(order_events),
            intents=_last_per_id(intents),
            payment_events=tuple(payment_events),
            entries=tuple(entries),
        )

    def with_outbox(self, endpoints: Iterable[Endpoint]) -> ChangeSet:
        """Add the webhook messages for every event of this change set.

        Order events are keyed by order (``order:<id>``, ordered by ``seq``); payment events
        by intent (``payment:<id>``, ordered by the intent's version).
        """
        events: list[PublishableEvent] = [*self.order_events, *self.payment_events]
        messages = outbox_for_events(events, endpoints)
        return replace(self, outbox=self.outbox + tuple(messages))

    def with_idempotency(self, record: IdempotencyRecord[Any]) -> ChangeSet:
        """Attach the request's Idempotency-Key record (written in the same transaction)."""
        return replace(self, idempotency=record)


class ChangeSink(Protocol):
    """What the store implements: write a `ChangeSet` atomically, or nothing at all."""

    def commit(self, changes: ChangeSet) -> None:
        """Persist every record, event, entry and message of ``changes`` in one transaction.

        Raises
        ------
        orders.errors.ConcurrentUpdate
            A record's stored version is not ``version - 1``.
        payments.errors.DuplicateEntry
            A journal entry id already stored with other content.
        orders.errors.IdempotencyTaken
            The idempotency record's ``(tenant, key)`` is already stored (a concurrent request
            won); the API then replays or reports the conflict.
        """
        ...
