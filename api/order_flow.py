"""Apply `orders.lifecycle` decisions to stored orders: load, decide, settle, persist, publish.

REST and the driver websocket both come through here, so a pick-up or a delivery is the same
operation whichever way it arrives. A transition that closes an order carries its payment
consequences (`payments.settlement`) into the same store transaction: a delivered order is
billed, and its cash collected, exactly when it is marked delivered.
"""

from __future__ import annotations

from collections.abc import Callable

from api.payment_flow import DEAD_INTENTS, close_out
from api.runtime import Runtime
from geo.distance import great_circle_m
from orders import lifecycle
from orders.errors import ProofOfDeliveryRejected
from orders.model import Actor, Order, OrderState, ProofKind, ProofOfDelivery
from orders.pin_attempts import check_pin_attempts
from payments import settlement
from payments.intents import PaymentIntent, PaymentResult
from payments.ledger import JournalEntry
from payments.postings import billing_entry
from payments.statements import Tariff
from store.errors import StaleVersion

STALE_RETRIES = 3
CARRYING = frozenset({OrderState.ASSIGNED, OrderState.PICKED_UP})
RELEASING = frozenset({OrderState.DELIVERED, OrderState.FAILED, OrderState.CANCELLED})
"""Moving from a carrying state to a releasing one frees the courier's capacity."""


def tariff_for(runtime: Runtime, order: Order) -> Tariff:
    """The server's tariff in the order's currency."""
    s = runtime.settings
    return Tariff(order.currency, s.courier_base_minor, s.courier_per_km_minor, s.platform_fee_bps)


def route_distance_m(order: Order) -> float:
    """Pickup to drop-off distance the courier is paid for (great circle: no road network)."""
    return great_circle_m(order.pickup_lat, order.pickup_lng, order.dropoff_lat, order.dropoff_lng)


def settlement_of(
    runtime: Runtime, order: Order, intents: list[PaymentIntent]
) -> tuple[list[PaymentResult], list[JournalEntry]]:
    """What payments write with the transition that brought ``order`` to its state."""
    at = order.updated_at
    if order.state is OrderState.DELIVERED:
        live = [i for i in intents if i.state not in DEAD_INTENTS]
        tariff, distance = tariff_for(runtime, order), route_distance_m(order)
        if live:  # billed once, through the order's live intent (cash is collected now)
            return [
                settlement.on_delivered(order, live[0], distance_m=distance, tariff=tariff, at=at)
            ], []
        billing = billing_entry(
            order, courier_id=order.courier_id or "", distance_m=distance, tariff=tariff, at=at
        )
        return [], [billing]
    if order.state in settlement.CLOSED_ORDER_STATES:
        return [settlement.on_closed(order, i, at=at) for i in intents], []
    return [], []


def apply(
    runtime: Runtime,
    tenant_id: str,
    order_id: str,
    decide: Callable[[Order], lifecycle.Transition],
) -> Order:
    """Decide a change on the current order and persist it atomically with its payment
    consequences (optimistic version: after a concurrent writer the decision is made again
    on the new version, a few times, then `StaleVersion` is raised, mapped to 409).

    A closed order's provider-side follow-ups (void, refund) run after the transaction
    (`api.payment_flow.close_out`)."""
    for attempt in range(STALE_RETRIES):
        order = runtime.store.get_order(tenant_id, order_id)
        transition = decide(order)
        new_state = transition.order.state
        intents = (
            runtime.store.payments_of_order(tenant_id, order_id) if new_state in RELEASING else []
        )
        payments, entries = settlement_of(runtime, transition.order, intents)
        try:
            stored = runtime.store.save_transition(transition, payments=payments, entries=entries)
        except StaleVersion:
            # Decided on a version someone else moved on (an ETA refresh, a dispatcher):
            # decide again on the new one; its checks still apply.
            if attempt == STALE_RETRIES - 1:
                raise
            continue
        break
    runtime.publish_order(tenant_id, stored)
    if stored.state in RELEASING and order.state in CARRYING and order.courier_id:
        runtime.dispatch.release_load(order.courier_id, order.size)
    if stored.state in settlement.CLOSED_ORDER_STATES and intents:
        close_out(runtime, stored, intents)
    return stored


def pick_up(
    runtime: Runtime, tenant_id: str, order_id: str, courier_id: str, actor: Actor | None = None
) -> Order:
    """The assigned courier has the parcel (``assigned -> picked_up``)."""
    return apply(
        runtime,
        tenant_id,
        order_id,
        lambda order: lifecycle.pick_up(
            order,
            courier_id,
            at=runtime.clock(),
            actor=actor,
            position=runtime.dispatch.position(courier_id),
        ),
    )


def deliver(
    runtime: Runtime,
    tenant_id: str,
    order_id: str,
    courier_id: str,
    proof: ProofOfDelivery,
    actor: Actor | None = None,
) -> Order:
    """Hand over with proof (``picked_up -> delivered``); wrong PINs are counted per order in
    the store (so every API worker sees them) and lock it after ``settings.pin_max_failures``
    (`orders.errors.PinLocked`)."""

    def decide(order: Order) -> lifecycle.Transition:
        if proof.kind is ProofKind.PIN:
            failures = runtime.store.pin_failures(tenant_id, order.id)
            check_pin_attempts(order.id, failures, runtime.settings.pin_max_failures)
        try:
            return lifecycle.deliver(
                order,
                courier_id,
                proof,
                at=runtime.clock(),
                actor=actor,
                position=runtime.dispatch.position(courier_id),
            )
        except ProofOfDeliveryRejected as exc:
            if exc.field == "pin":
                runtime.store.count_pin_failure(tenant_id, order.id)
            raise

    return apply(runtime, tenant_id, order_id, decide)


def fail(runtime: Runtime, tenant_id: str, order_id: str, reason: str, actor: Actor) -> Order:
    """Give up after assignment (``assigned | picked_up -> failed``); open payments are
    cancelled with it, captured ones refunded."""
    return apply(
        runtime,
        tenant_id,
        order_id,
        lambda order: lifecycle.fail(
            order,
            at=runtime.clock(),
            actor=actor,
            reason=reason,
            position=runtime.dispatch.position(order.courier_id) if order.courier_id else None,
        ),
    )
