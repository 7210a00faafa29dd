"""The store contract for a transition that carries its payment consequences: the delivery,
the cash collected and the billing entry in one transaction, or nothing (memory and PostGIS)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orders.lifecycle import accept, deliver, offer, pick_up
from orders.model import SYSTEM, Order, OrderState, ProofKind, ProofOfDelivery
from payments.intents import IntentState, PaymentIntent, PaymentMethod, create_intent
from payments.ledger import totals_per_currency
from payments.settlement import on_delivered
from payments.statements import Tariff
from store.errors import StaleVersion
from store.interface import Store
from tests.store.conftest import new_order, square

ZONE = square(13.30, 52.45, 0.2)
INSIDE = (52.50, 13.35)
TARIFF = Tariff("EUR", 300, 50, platform_fee_bps=500)


@pytest.fixture
def tenant(store: Store) -> str:
    t = store.create_tenant("Acme", tenant_id="acme")
    store.create_geofence(t.id, "service_zone", ZONE, fence_id="zone-1")
    store.create_courier(t.id, courier_id="c1")
    return t.id


def _picked_up(store: Store, tenant: str) -> tuple[Order, PaymentIntent]:
    order, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    for step in (
        lambda o: offer(o, "c1", at=2000.0, actor=SYSTEM),
        lambda o: accept(o, "c1", at=2001.0),
        lambda o: pick_up(o, "c1", at=2002.0),
    ):
        order = store.save_transition(step(order))
    intent = store.save_payment(
        create_intent(order, PaymentMethod.CASH_ON_DELIVERY, "cash", intent_id="pay-1", at=2000.0)
    )
    return order, intent


def test_delivery_collects_cash_and_bills_in_one_transaction(store: Store, tenant: str) -> None:
    order, intent = _picked_up(store, tenant)
    proof = ProofOfDelivery(ProofKind.PHOTO, "p.jpg")
    delivered = deliver(order, "c1", proof, at=3000.0)
    settled = on_delivered(delivered.order, intent, distance_m=4200.0, tariff=TARIFF, at=3000.0)
    store.save_transition(delivered, payments=[settled])
    assert store.get_order(tenant, order.id).state is OrderState.DELIVERED
    assert store.get_payment(tenant, intent.id).state is IntentState.SUCCEEDED
    entries = store.journal_entries(tenant, order_id=order.id)
    assert sorted(e.kind for e in entries) == ["billing", "receipt"]
    assert totals_per_currency(entries) == {"EUR": 0}
    kinds = [e.kind for e in store.list_payment_events(tenant, intent.id)]
    assert kinds == ["payment.pending", "payment.succeeded"]


def test_a_refused_payment_part_writes_nothing(store: Store, tenant: str) -> None:
    order, intent = _picked_up(store, tenant)
    delivered = deliver(order, "c1", ProofOfDelivery(ProofKind.PHOTO, "p.jpg"), at=3000.0)
    stale = replace(intent, version=intent.version + 5)  # decided on a version never stored
    settled = on_delivered(delivered.order, stale, distance_m=10.0, tariff=TARIFF, at=3000.0)
    with pytest.raises(StaleVersion):
        store.save_transition(delivered, payments=[settled])
    assert store.get_order(tenant, order.id) == order
    assert store.get_payment(tenant, intent.id) == intent
    assert store.journal_entries(tenant, order_id=order.id) == []
