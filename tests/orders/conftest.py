from __future__ import annotations

import pytest

from orders.lifecycle import OrderDraft, create_order
from orders.model import Actor, ActorKind, Order

TENANT_ACTOR = Actor(ActorKind.TENANT, "acme")


def make_draft(**overrides: object) -> OrderDraft:
    fields: dict[str, object] = {
        "pickup_lat": -1.2921,
        "pickup_lng": 36.8219,
        "dropoff_lat": -1.2833,
        "dropoff_lng": 36.8167,
        "amount_minor": 150_000,
        "currency": "KES",
    }
    fields.update(overrides)
    return OrderDraft(**fields)  # type: ignore[arg-type]


def make_order(order_id: str = "o1", *, pin: str | None = None, at: float = 1_000.0) -> Order:
    return create_order(
        make_draft(pin=pin),
        order_id=order_id,
        tenant="acme",
        at=at,
        actor=TENANT_ACTOR,
        pin_iterations=1_000,
    ).order


@pytest.fixture
def order() -> Order:
    return make_order()
