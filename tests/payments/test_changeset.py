from __future__ import annotations

import json

from orders import lifecycle as lc
from orders.idempotency import IdempotencyRecord, fingerprint
from orders.model import SYSTEM, OrderState, ProofKind, ProofOfDelivery
from orders.webhooks import new_endpoint
from payments import settlement
from payments.changeset import ChangeSet
from payments.intents import PaymentMethod, create_intent
from payments.ledger import Ledger
from payments.statements import Tariff
from tests.orders.conftest import TENANT_ACTOR, make_draft, make_order

TARIFF = Tariff("KES", courier_base_minor=10_000, courier_per_km_minor=2_500, platform_fee_bps=500)


def test_a_cash_delivery_is_one_change_set() -> None:
    order = make_order()
    intent = create_intent(order, PaymentMethod.CASH_ON_DELIVERY, "cash", intent_id="pi1", at=1.0)
    o = lc.offer(order, "c1", at=2.0, actor=SYSTEM).order
    o = lc.accept(o, "c1", at=3.0).order
    o = lc.pick_up(o, "c1", at=4.0).order
    delivered = lc.deliver(o, "c1", ProofOfDelivery(ProofKind.PHOTO, reference="p"), at=5.0)
    paid = settlement.on_delivered(
        delivered.order, intent.intent, distance_m=2_000.0, tariff=TARIFF, at=5.0
    )
    endpoint = new_endpoint("ep", "acme", "https://acme.example/h", "s" * 16, ["*"])
    changes = ChangeSet.of(delivered, paid).with_outbox([endpoint])
    assert [x.state for x in changes.orders] == [OrderState.DELIVERED]
    assert [e.kind for e in changes.order_events] == ["order.delivered"]
    assert [i.version for i in changes.intents] == [2]
    assert [e.kind for e in changes.payment_events] == ["payment.succeeded"]
    assert [e.id for e in changes.entries] == ["billing:o1", "receipt:pi1"]
    assert Ledger(changes.entries).totals_per_currency() == {"KES": 0}
    assert sorted(m.ordering_key for m in changes.outbox) == ["order:o1", "payment:pi1"]
    body = json.loads(next(m for m in changes.outbox if m.event_type == "payment.succeeded").body)
    assert body["data"]["order_id"] == "o1"


def test_a_record_changed_twice_keeps_its_last_version_and_every_event() -> None:
    order = make_order()
    first = lc.offer(order, "c1", at=2.0, actor=SYSTEM)
    second = lc.accept(first.order, "c1", at=3.0)
    changes = ChangeSet.of(first, second)
    assert [o.version for o in changes.orders] == [3]
    assert [e.seq for e in changes.order_events] == [2, 3]
    assert changes.outbox == ()


def test_idempotency_record_travels_with_the_change() -> None:
    created = lc.create_order(
        make_draft(), order_id="o5", tenant="acme", at=1.0, actor=TENANT_ACTOR
    )
    record = IdempotencyRecord("acme", "k1", fingerprint("POST", "/v1/orders", b"{}"), "o5", 1.0)
    changes = ChangeSet.of(created).with_idempotency(record)
    assert changes.idempotency == record and [o.id for o in changes.orders] == ["o5"]
