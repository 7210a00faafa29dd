"""Apply `orders.lifecycle` decisions to stored orders: load, decide, persist, publish."""

from __future__ import annotations

from collections.abc import Callable

from api.runtime import Runtime
from orders import lifecycle
from orders.model import Order, OrderState, Position, TimeWindow
from store.records import OrderRecord, OutboxMessage, Transition


def to_domain(record: OrderRecord) -> Order:
    """The `orders` view of a stored order (the store keeps no PIN in clear)."""
    return Order(
        id=record.id,
        tenant=record.tenant_id,
        pickup_lat=record.pickup_lat,
        pickup_lng=record.pickup_lng,
        dropoff_lat=record.dropoff_lat,
        dropoff_lng=record.dropoff_lng,
        amount_minor=record.amount_minor,
        currency=record.currency,
        created_at=record.created_at,
        size=record.size,
        priority=record.priority,
        state=OrderState(record.state),
        courier_id=record.courier_id,
        pickup_window=TimeWindow(*record.pickup_window) if record.pickup_window else None,
        dropoff_window=TimeWindow(*record.dropoff_window) if record.dropoff_window else None,
        pickup_eta=record.pickup_eta,
        dropoff_eta=record.dropoff_eta,
        updated_at=record.updated_at,
        version=record.version,
    )


def to_store(decided: lifecycle.Transition) -> Transition:
    """One store transition per lifecycle transition (lifecycle operations emit one event)."""
    (event,) = decided.events
    position: Position | None = event.courier_position
    return Transition(
        to_state=event.to_state.value,  # type: ignore[arg-type]
        at=event.at,
        actor_kind=str(event.actor.kind),
        actor_id=event.actor.id,
        kind=event.kind,
        courier_id=decided.order.courier_id,
        courier_lat=position.lat if position else None,
        courier_lng=position.lng if position else None,
        data=dict(event.data),
        outbox=(OutboxMessage(event.kind, event.payload()),),
    )


def apply(
    runtime: Runtime,
    tenant_id: str,
    order_id: str,
    decide: Callable[[Order], lifecycle.Transition],
) -> OrderRecord:
    """Decide a change on the current order and persist it atomically (optimistic version)."""
    record = runtime.store.get_order(tenant_id, order_id)
    decided = decide(to_domain(record))
    stored, _event = runtime.store.transition_order(
        tenant_id, order_id, record.version, to_store(decided)
    )
    runtime.publish_order(tenant_id, stored)
    return stored
