"""What payments do when an order is delivered, cancelled or failed.

The API calls these in the transaction of the order transition, so a delivered order is billed
exactly once: the order can reach ``delivered`` only once (state machine plus the store's
optimistic ``version`` check) and the billing entry's id is the order id.
"""

from __future__ import annotations

from orders.model import Order, OrderState
from payments.errors import InvalidPayment
from payments.intents import (
    OPEN_STATES,
    PaymentIntent,
    PaymentMethod,
    PaymentResult,
    cancel_intent,
    collect_cash,
)
from payments.postings import billing_entry
from payments.statements import Tariff

CLOSED_ORDER_STATES = frozenset({OrderState.CANCELLED, OrderState.FAILED})


def _check_pair(order: Order, intent: PaymentIntent, states: frozenset[OrderState]) -> None:
    problems = []
    if intent.order_id != order.id:
        problems.append(("intent.order_id", intent.order_id, f"is not order {order.id!r}"))
    if order.state not in states:
        problems.append(("order.state", str(order.state), f"must be one of {sorted(states)}"))
    if problems:
        raise InvalidPayment(problems)


def on_delivered(
    order: Order, intent: PaymentIntent, *, distance_m: float, tariff: Tariff, at: float
) -> PaymentResult:
    """Bill the delivered order; for cash on delivery, the courier collected the cash.

    Parameters
    ----------
    distance_m
        Route distance pickup to drop-off (courier pay per km).
    """
    _check_pair(order, intent, frozenset({OrderState.DELIVERED}))
    courier_id = order.courier_id or ""
    billing = billing_entry(
        order, courier_id=courier_id, distance_m=distance_m, tariff=tariff, at=at
    )
    if intent.method is PaymentMethod.CASH_ON_DELIVERY and intent.captured_minor == 0:
        cash = collect_cash(intent, courier_id, at=at)
        return PaymentResult(cash.intent, cash.events, (billing, *cash.entries))
    return PaymentResult(intent, (), (billing,), changed=False)


def on_closed(order: Order, intent: PaymentIntent, *, at: float) -> PaymentResult:
    """The order was cancelled or failed: an open intent is cancelled.

    A card authorization must also be voided at the provider and captured money refunded
    (`refund_due`); both are provider calls the API makes after this transaction.
    """
    _check_pair(order, intent, CLOSED_ORDER_STATES)
    if intent.state in OPEN_STATES:
        return cancel_intent(intent, at=at, reason=f"order {order.state}")
    return PaymentResult(intent, changed=False)


def refund_due(order: Order, intent: PaymentIntent) -> int:
    """Captured money to return because the order will not be delivered (0 otherwise)."""
    return intent.refundable_minor if order.state in CLOSED_ORDER_STATES else 0


def closing_refund_id(intent: PaymentIntent) -> str:
    """The refund id used for `refund_due`: one per intent, so a retried refund is one refund."""
    return f"{intent.id}:close"
