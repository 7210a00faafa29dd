"""The store contract for webhook endpoints, outbox fan-out, claims and the delivery log
(memory and PostGIS)."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from orders.lifecycle import accept, offer
from orders.model import SYSTEM, Order
from orders.webhooks import (
    Claimed,
    MessageStatus,
    RetryPolicy,
    SendResult,
    new_endpoint,
    record_attempt,
)
from payments.intents import PaymentMethod, create_intent
from store.errors import AlreadyExists, NotFound
from store.interface import Store
from tests.store.conftest import new_order, square

ZONE = square(13.30, 52.45, 0.2)
INSIDE = (52.50, 13.35)
SECRET = "s" * 32
POLICY = RetryPolicy(base_s=10.0, cap_s=60.0, disable_after=3)


@pytest.fixture
def tenant(store: Store) -> str:
    t = store.create_tenant("Acme", tenant_id="acme")
    store.create_geofence(t.id, "service_zone", ZONE, fence_id="zone-1")
    store.create_courier(t.id, courier_id="c1")
    return t.id


def _register(store: Store, tenant: str, endpoint_id: str, types: list[str]) -> None:
    store.create_webhook_endpoint(
        new_endpoint(endpoint_id, tenant, f"http://127.0.0.1:9/{endpoint_id}", SECRET, types)
    )


def _record(store: Store, claimed: Claimed, ok: bool, now: float) -> None:
    result = SendResult(200) if ok else SendResult(503)
    state, endpoint, attempt = record_attempt(
        claimed.message,
        claimed.state,
        claimed.endpoint,
        result,
        now=now,
        policy=POLICY,
        rng=random.Random(1),
    )
    store.record_webhook_attempt(state, endpoint, attempt)


def _three_events(store: Store, tenant: str) -> Order:
    """An endpoint for everything and an order created, offered and accepted."""
    _register(store, tenant, "ep", ["*"])
    order, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    offered = offer(order, "c1", at=2000.0, actor=SYSTEM)
    store.save_transition(offered)
    store.save_transition(accept(offered.order, "c1", at=2001.0))
    return order


def test_endpoints_are_scoped_and_unique(store: Store, tenant: str) -> None:
    other = store.create_tenant("Other", tenant_id="other").id
    _register(store, tenant, "ep1", ["order.*"])
    got = store.get_webhook_endpoint(tenant, "ep1")
    assert (got.url, got.secret, got.event_types, got.enabled) == (
        "http://127.0.0.1:9/ep1",
        SECRET,
        frozenset({"order.*"}),
        True,
    )
    assert [e.id for e in store.list_webhook_endpoints(tenant)] == ["ep1"]
    assert store.list_webhook_endpoints(other) == []
    with pytest.raises(NotFound):
        store.get_webhook_endpoint(other, "ep1")
    with pytest.raises(NotFound):
        store.delete_webhook_endpoint(other, "ep1")
    with pytest.raises(NotFound):
        store.enable_webhook_endpoint(other, "ep1")
    with pytest.raises(AlreadyExists):
        _register(store, other, "ep1", ["*"])
    with pytest.raises(NotFound):
        _register(store, "ghost", "ep2", ["*"])
    store.delete_webhook_endpoint(tenant, "ep1")
    assert store.list_webhook_endpoints(tenant) == []


def test_event_writes_fan_out_to_subscribed_endpoints(store: Store, tenant: str) -> None:
    _register(store, tenant, "all", ["*"])
    _register(store, tenant, "offers", ["order.offered"])
    _register(store, tenant, "payments", ["payment.*"])
    order, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    offered = offer(order, "c1", at=2000.0, actor=SYSTEM)
    store.save_transition(offered)
    pending = store.pending_outbox(tenant)
    assert sorted((m.endpoint_id, m.event_type, m.sequence) for m in pending) == [
        ("all", "order.created", 1),
        ("all", "order.offered", 2),
        ("offers", "order.offered", 2),
    ]
    assert {m.ordering_key for m in pending} == {f"order:{order.id}"}


def test_claims_keep_order_per_key_and_lease(store: Store, tenant: str) -> None:
    order = _three_events(store, tenant)
    now = 3000.0
    (head,) = store.claim_webhook_messages(now, limit=10, lease_s=30.0)
    assert head.message.sequence == 1 and head.endpoint.id == "ep"
    assert store.claim_webhook_messages(now, limit=10, lease_s=30.0) == []  # leased
    _record(store, head, ok=True, now=now)
    (second,) = store.claim_webhook_messages(now, limit=10, lease_s=30.0)
    assert second.message.sequence == 2
    _record(store, second, ok=False, now=now)  # the endpoint backs off
    assert store.claim_webhook_messages(now + 0.001, limit=10, lease_s=30.0) == []
    retry_at = store.get_webhook_endpoint(tenant, "ep").retry_at
    assert now < retry_at <= now + POLICY.base_s
    (again,) = store.claim_webhook_messages(retry_at, limit=10, lease_s=30.0)
    assert again.message.id == second.message.id and again.state.attempts == 1
    store.release_webhook_messages([again.message.id])
    (released,) = store.claim_webhook_messages(retry_at, limit=10, lease_s=30.0)
    assert released.message.id == second.message.id
    _record(store, released, ok=True, now=retry_at)
    assert [m.sequence for m in store.pending_outbox(tenant)] == [3]
    log = store.webhook_attempts(tenant, endpoint_id="ep")
    assert [(a.number, a.ok) for a in log] == [(2, True), (1, False), (1, True)]
    assert log[1].status_code == 503 and log[1].next_attempt_at == retry_at
    assert store.webhook_attempts(tenant, ok=False) == [log[1]]
    assert store.webhook_attempts(tenant, ordering_keys=["order:nope"]) == []
    assert len(store.webhook_attempts(tenant, ordering_keys=[f"order:{order.id}", "x"])) == 3
    assert store.get_webhook_endpoint(tenant, "ep").consecutive_failures == 0


def test_disabled_endpoint_waits_until_re_enabled(store: Store, tenant: str) -> None:
    _register(store, tenant, "ep", ["order.created"])
    store.create_order(new_order(tenant, INSIDE, INSIDE))
    now = 5000.0
    for _ in range(POLICY.disable_after):
        (claimed,) = store.claim_webhook_messages(now, limit=10, lease_s=1.0)
        _record(store, claimed, ok=False, now=now)
        now = store.get_webhook_endpoint(tenant, "ep").retry_at + 1.0
    endpoint = store.get_webhook_endpoint(tenant, "ep")
    assert not endpoint.enabled and endpoint.consecutive_failures == POLICY.disable_after
    assert endpoint.disabled_reason
    assert store.claim_webhook_messages(now + 1e6, limit=10, lease_s=1.0) == []
    assert len(store.pending_outbox(tenant)) == 1  # nothing is dropped
    enabled = store.enable_webhook_endpoint(tenant, "ep")
    assert enabled.enabled and enabled.consecutive_failures == 0
    (claimed,) = store.claim_webhook_messages(now, limit=10, lease_s=1.0)
    _record(store, claimed, ok=True, now=now)
    assert store.pending_outbox(tenant) == []
    assert claimed.state.status is MessageStatus.PENDING


def test_deleting_an_endpoint_drops_its_undelivered_messages(store: Store, tenant: str) -> None:
    _register(store, tenant, "gone", ["*"])
    _register(store, tenant, "kept", ["*"])
    store.create_order(new_order(tenant, INSIDE, INSIDE))
    store.delete_webhook_endpoint(tenant, "gone")
    assert [m.endpoint_id for m in store.pending_outbox(tenant)] == ["kept"]
    claimed = store.claim_webhook_messages(10.0, limit=10, lease_s=1.0)
    assert [c.endpoint.id for c in claimed] == ["kept"]


def test_concurrent_claims_never_hand_out_a_message_twice(store: Store, tenant: str) -> None:
    _register(store, tenant, "ep", ["*"])
    for _ in range(20):
        store.create_order(new_order(tenant, INSIDE, INSIDE))
    barrier = threading.Barrier(4)

    def claim() -> list[str]:
        barrier.wait()
        return [c.message.id for c in store.claim_webhook_messages(10.0, limit=50, lease_s=60.0)]

    with ThreadPoolExecutor(4) as pool:
        claimed = [i for ids in pool.map(lambda _: claim(), range(4)) for i in ids]
    assert len(claimed) == len(set(claimed)) == 20


def test_payment_events_fan_out_keyed_by_intent(store: Store, tenant: str) -> None:
    _register(store, tenant, "pay", ["payment.*"])
    order, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    created = create_intent(
        order, PaymentMethod.CASH_ON_DELIVERY, "cash", intent_id="pay-1", at=1500.0
    )
    store.save_payment(created)
    (message,) = store.pending_outbox(tenant)
    assert (message.endpoint_id, message.event_type, message.ordering_key) == (
        "pay",
        "payment.pending",
        "payment:pay-1",
    )


def test_prune_deletes_old_deliveries_and_attempts_only(store: Store, tenant: str) -> None:
    _three_events(store, tenant)
    (first,) = store.claim_webhook_messages(3000.0, limit=10, lease_s=30.0)
    _record(store, first, ok=True, now=3000.0)
    (second,) = store.claim_webhook_messages(3000.0, limit=10, lease_s=30.0)
    _record(store, second, ok=False, now=3000.0)
    (again,) = store.claim_webhook_messages(3400.0, limit=10, lease_s=30.0)
    _record(store, again, ok=True, now=3500.0)
    assert store.prune_webhook_history(100.0, now=3050.0) == (0, 0)
    assert store.prune_webhook_history(100.0, now=3200.0) == (1, 2)
    assert [(a.number, a.at) for a in store.webhook_attempts(tenant)] == [(2, 3500.0)]
    assert [m.sequence for m in store.pending_outbox(tenant)] == [3]
    # Undelivered messages stay whatever their age, and their queue carries on.
    assert store.prune_webhook_history(0.0, now=10_000.0) == (1, 1)
    assert [m.sequence for m in store.pending_outbox(tenant)] == [3]
    (third,) = store.claim_webhook_messages(10_000.0, limit=10, lease_s=30.0)
    assert third.message.sequence == 3
