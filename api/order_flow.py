"""Apply `orders.lifecycle` decisions to stored orders: load, decide, persist, publish."""

from __future__ import annotations

from collections.abc import Callable

from api.runtime import Runtime
from orders import lifecycle
from orders.model import Order


def apply(
    runtime: Runtime,
    tenant_id: str,
    order_id: str,
    decide: Callable[[Order], lifecycle.Transition],
) -> Order:
    """Decide a change on the current order and persist it atomically (optimistic version:
    a concurrent writer makes the store raise `StaleVersion`, mapped to 409)."""
    order = runtime.store.get_order(tenant_id, order_id)
    stored = runtime.store.save_transition(decide(order))
    runtime.publish_order(tenant_id, stored)
    return stored
