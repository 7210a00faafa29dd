from __future__ import annotations

from orders.model import Order
from payments.intents import PaymentIntent, PaymentMethod, create_intent
from tests.orders.conftest import make_order


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_intent(
    method: PaymentMethod = PaymentMethod.CARD,
    order: Order | None = None,
    provider: str = "card_sandbox",
) -> PaymentIntent:
    order = order or make_order()
    return create_intent(order, method, provider, intent_id=f"pi-{order.id}", at=1.0).intent
