"""Webhooks end to end: REST registration, outbox written by state changes, the delivery worker
POSTing to a real loopback receiver that fails, is down for a simulated hour, and recovers."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.webhook_worker import WebhookWorker
from orders.webhooks import RetryPolicy
from store.interface import Store
from tests.api.conftest import NAIROBI, Clock, Tenant
from tests.api.webhook_receiver import Receiver

SECRET = "whsec_" + "x" * 24
ORDER = {
    "pickup": {"type": "Point", "coordinates": [36.82, -1.29]},
    "dropoff": {"type": "Point", "coordinates": [36.83, -1.29]},
}


@pytest.fixture
def client(api_store: Store, clock: Clock) -> Iterator[TestClient]:
    """The app with the SSRF guard off: the receiver listens on loopback."""
    settings = Settings(
        token_secret="k" * 40, dispatch_auto=False, webhook_allow_private_hosts=True
    )
    with TestClient(create_app(settings, store=api_store, clock=clock)) as c:
        yield c


@pytest.fixture
def receiver(clock: Clock) -> Iterator[Receiver]:
    r = Receiver(SECRET, clock)
    yield r
    r.stop()


def _setup(client: TestClient, t: Tenant, url: str) -> dict[str, Any]:
    r = client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=t.auth
    )
    assert r.status_code == 201, r.text
    for cid in ("c1", "c2"):
        assert client.post("/v1/couriers", json={"id": cid}, headers=t.auth).status_code == 201
    r = client.post(
        "/v1/webhooks/endpoints",
        json={"url": url, "event_types": ["order.*"], "secret": SECRET},
        headers=t.auth,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _make_events(client: TestClient, t: Tenant, n_orders: int) -> dict[str, list[int]]:
    """Orders created, assigned by hand and cancelled: four events each."""
    expected: dict[str, list[int]] = {}
    for k in range(n_orders):
        order = client.post("/v1/orders", json=ORDER, headers=t.auth).json()
        r = client.post(
            f"/v1/orders/{order['id']}/assign", json={"courier_id": f"c{k % 2 + 1}"}, headers=t.auth
        )
        assert r.status_code == 200, r.text
        assert client.post(f"/v1/orders/{order['id']}/cancel", headers=t.auth).status_code == 200
        expected[order["id"]] = [1, 2, 3, 4]
    return expected


async def _drain(worker: WebhookWorker, clock: Clock, until: float) -> None:
    """Run passes, moving the clock on to the next retry when nothing is due."""
    while clock.now < until:
        if not await worker.run_once():
            clock.now += 15.0


def _drive(worker: WebhookWorker, clock: Clock, seconds: float) -> None:
    async def main() -> None:
        try:
            await _drain(worker, clock, clock.now + seconds)
        finally:
            await worker.aclose()

    asyncio.run(main())


def _per_order(bodies: list[dict[str, Any]]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for b in bodies:
        seen.setdefault(b["data"]["order_id"], []).append(b["data"]["seq"])
    return seen


def test_failing_then_recovering_receiver_gets_each_event_once_in_order(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock, receiver: Receiver
) -> None:
    endpoint = _setup(client, tenant_a, receiver.url)
    assert endpoint["secret"] == SECRET
    receiver.start()
    receiver.fail_next = 5
    expected = _make_events(client, tenant_a, n_orders=3)
    worker = WebhookWorker(
        api_store, clock=clock, allow_private_hosts=True, rng=random.Random(7), batch=4
    )
    _drive(worker, clock, seconds=600)
    delivered = receiver.delivered()
    assert _per_order(delivered) == expected  # each once, in order per order
    assert len({b["id"] for b in delivered}) == len(delivered) == 12
    assert all(r.signature_ok for r in receiver.received)
    assert sum(r.status == 503 for r in receiver.received) == 5
    assert api_store.pending_outbox(tenant_a.id) == []
    log = client.get("/v1/webhooks/deliveries", headers=tenant_a.auth).json()["deliveries"]
    assert len(log) == len(receiver.received)
    failed = client.get("/v1/webhooks/deliveries?status=failed", headers=tenant_a.auth).json()[
        "deliveries"
    ]
    assert len(failed) == 5
    assert all(d["status_code"] == 503 and d["next_attempt_at"] > d["at"] for d in failed)
    one = next(iter(expected))
    mine = client.get(f"/v1/webhooks/deliveries?order_id={one}", headers=tenant_a.auth).json()
    assert {d["event_id"] for d in mine["deliveries"]} == {f"order:{one}:{s}" for s in range(1, 5)}


def test_receiver_down_for_an_hour_loses_nothing(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock, receiver: Receiver
) -> None:
    _setup(client, tenant_a, receiver.url)
    expected = _make_events(client, tenant_a, n_orders=2)
    worker = WebhookWorker(api_store, clock=clock, allow_private_hosts=True, rng=random.Random(3))
    _drive(worker, clock, seconds=3600)  # connection refused all along
    assert receiver.received == []
    (endpoint,) = client.get("/v1/webhooks/endpoints", headers=tenant_a.auth).json()["endpoints"]
    assert endpoint["enabled"] and endpoint["consecutive_failures"] > 5
    assert len(api_store.pending_outbox(tenant_a.id)) == 8
    receiver.start()
    _drive(
        WebhookWorker(api_store, clock=clock, allow_private_hosts=True, rng=random.Random(4)),
        clock,
        seconds=900,
    )
    assert _per_order(receiver.delivered()) == expected
    assert all(r.signature_ok for r in receiver.received)
    assert api_store.pending_outbox(tenant_a.id) == []


def test_endpoint_disabled_after_n_failures_resumes_when_re_enabled(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock, receiver: Receiver
) -> None:
    endpoint = _setup(client, tenant_a, receiver.url)
    receiver.start()
    receiver.fail_next = 1_000
    expected = _make_events(client, tenant_a, n_orders=1)
    policy = RetryPolicy(base_s=1.0, cap_s=30.0, disable_after=4)
    _drive(
        WebhookWorker(api_store, clock=clock, allow_private_hosts=True, policy=policy),
        clock,
        seconds=600,
    )
    assert len(receiver.received) == 4
    view = client.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=tenant_a.auth).json()
    assert not view["enabled"] and view["disabled_reason"] == "4 consecutive failures"
    assert "secret" not in view
    receiver.fail_next = 0
    r = client.post(f"/v1/webhooks/endpoints/{endpoint['id']}/enable", headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["enabled"]
    _drive(
        WebhookWorker(api_store, clock=clock, allow_private_hosts=True, policy=policy),
        clock,
        seconds=60,
    )
    assert _per_order(receiver.delivered()) == expected


def test_endpoint_registration_is_validated_and_deletable(
    client: TestClient, tenant_a: Tenant
) -> None:
    r = client.post(
        "/v1/webhooks/endpoints",
        json={"url": "ftp://x", "event_types": ["Order!"]},
        headers=tenant_a.auth,
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"url", "event_types"}
    made = client.post(
        "/v1/webhooks/endpoints", json={"url": "https://example.com/h"}, headers=tenant_a.auth
    ).json()
    assert made["secret"].startswith("whsec_") and made["event_types"] == ["*"]
    path = f"/v1/webhooks/endpoints/{made['id']}"
    assert client.delete(path, headers=tenant_a.auth).status_code == 204
    assert client.get(path, headers=tenant_a.auth).status_code == 404


def test_the_app_lifespan_runs_the_worker_when_enabled(api_store: Store, tenant_a: Tenant) -> None:
    receiver = Receiver(SECRET, time.time)
    receiver.start()
    try:
        settings = Settings(
            token_secret="k" * 40,
            dispatch_auto=False,
            webhook_delivery=True,
            webhook_poll_s=0.05,
            webhook_allow_private_hosts=True,
        )
        with TestClient(create_app(settings, store=api_store)) as client:
            _setup(client, tenant_a, receiver.url)
            order = client.post("/v1/orders", json=ORDER, headers=tenant_a.auth).json()
            deadline = time.monotonic() + 20
            while not receiver.delivered() and time.monotonic() < deadline:
                time.sleep(0.05)
        (body,) = receiver.delivered()
        assert body["type"] == "order.created" and body["data"]["order_id"] == order["id"]
        assert all(r.signature_ok for r in receiver.received)
    finally:
        receiver.stop()
