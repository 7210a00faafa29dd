"""SSRF guard on webhook URLs: refused at registration (422 naming ``url``) and again at
delivery, where a refused address is a failed attempt in the delivery log."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.webhook_targets import check_webhook_url, target_refusal
from api.webhook_worker import WebhookWorker
from orders.errors import UnsafeWebhookUrl
from orders.lifecycle import OrderDraft, create_order
from orders.model import Actor, ActorKind
from orders.webhooks import new_endpoint
from store.interface import Store
from tests.api.conftest import NAIROBI, Clock, Tenant

REFUSED = [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://10.0.0.7/hook", "private"),
    ("https://192.168.0.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("ftp://93.184.216.34/hook", "http(s)"),
]


@pytest.mark.parametrize(("url", "kind"), REFUSED)
def test_registration_refuses_internal_hosts_naming_the_url(
    client: TestClient, tenant_a: Tenant, url: str, kind: str
) -> None:
    r = client.post("/v1/webhooks/endpoints", json={"url": url}, headers=tenant_a.auth)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "url" and error["value"] == url and kind in error["reason"]
    assert client.get("/v1/webhooks/endpoints", headers=tenant_a.auth).json()["endpoints"] == []


def test_public_hosts_are_accepted(client: TestClient, tenant_a: Tenant) -> None:
    r = client.post(
        "/v1/webhooks/endpoints", json={"url": "https://93.184.216.34/h"}, headers=tenant_a.auth
    )
    assert r.status_code == 201, r.text


def test_the_setting_allows_private_hosts(api_store: Store, tenant_a: Tenant) -> None:
    settings = Settings(
        token_secret="k" * 40, dispatch_auto=False, webhook_allow_private_hosts=True
    )
    with TestClient(create_app(settings, store=api_store)) as client:
        r = client.post(
            "/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/h"}, headers=tenant_a.auth
        )
        assert r.status_code == 201, r.text


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    def rebinding(host: str) -> list[str]:
        return ["93.184.216.34", "10.0.0.1"] if host == "evil.example" else []

    with pytest.raises(UnsafeWebhookUrl) as info:
        check_webhook_url("https://evil.example/h", allow_private_hosts=False, resolve=rebinding)
    assert info.value.field == "url" and info.value.value == "https://evil.example/h"
    # A name that does not resolve yet is not refused here: delivery checks again.
    assert (
        target_refusal("https://nx.example/h", allow_private_hosts=False, resolve=rebinding) is None
    )


def test_delivery_to_a_refused_address_is_a_failed_attempt(
    api_store: Store, tenant_a: Tenant, clock: Clock
) -> None:
    """An endpoint whose host turned internal after registration (stored directly here)."""
    api_store.create_geofence(tenant_a.id, "service_zone", NAIROBI)
    endpoint = new_endpoint("ep1", tenant_a.id, "http://127.0.0.1:9/hook", "s" * 24, ["*"])
    api_store.create_webhook_endpoint(endpoint)
    api_store.create_order(
        create_order(
            OrderDraft(-1.29, 36.82, -1.28, 36.84, 1000, "KES"),
            order_id="o1",
            tenant=tenant_a.id,
            at=clock.now,
            actor=Actor(ActorKind.TENANT, tenant_a.id),
        )
    )
    worker = WebhookWorker(api_store, clock=clock)

    async def one_pass() -> None:
        try:
            await worker.run_once()
        finally:
            await worker.aclose()

    asyncio.run(one_pass())
    (attempt,) = api_store.webhook_attempts(tenant_a.id)
    assert not attempt.ok and attempt.status_code is None
    assert attempt.error is not None and attempt.error.startswith("refused: url resolves to a")
    assert "loopback" in attempt.error
    assert len(api_store.pending_outbox(tenant_a.id)) == 1  # kept, to be retried
