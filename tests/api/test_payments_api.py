"""Payments over REST with the bundled sandboxes: signed callbacks (duplicated, late, out of
order), capture, refunds, the ledger balanced, and the courier statement."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.payment_flow import deliver_sandbox_callbacks
from payments.intents import IntentState
from payments.ledger import totals_per_currency
from payments.providers.base import Sandbox
from store.interface import Store
from tests.api.conftest import NAIROBI, Clock, Tenant

ORDER = {
    "pickup": {"type": "Point", "coordinates": [36.82, -1.29]},
    "dropoff": {"type": "Point", "coordinates": [36.84, -1.28]},
    "amount_minor": 80_000,
    "currency": "KES",
}


def _order(client: TestClient, t: Tenant) -> str:
    if not client.get("/v1/geofences", headers=t.auth).json()["features"]:
        client.post(
            "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=t.auth
        )
    r = client.post("/v1/orders", json=ORDER, headers=t.auth)
    assert r.status_code == 201, r.text
    order_id: str = r.json()["id"]
    return order_id


def _sandbox(client: TestClient, name: str) -> Sandbox:
    provider = client.app.state.runtime.providers[name]  # type: ignore[attr-defined]
    assert isinstance(provider, Sandbox)
    return provider


def _pump(client: TestClient, clock: Clock, name: str, seconds: float = 120.0) -> list[Any]:
    """Move the clock on and POST every callback the sandbox sends meanwhile, twice each."""
    sandbox = _sandbox(client, name)
    answers = []
    end = clock.now + seconds
    while clock.now < end:
        clock.now += 1.0
        for cb in sandbox.due_callbacks():
            for _ in range(2):  # a redelivery of the same callback changes nothing
                r = client.post(
                    f"/v1/payments/callbacks/{name}", content=cb.body, headers=dict(cb.headers)
                )
                assert r.status_code == 200, r.text
                answers.append(r.json())
    return answers


def _balanced(store: Store, tenant: str) -> None:
    assert all(v == 0 for v in totals_per_currency(store.journal_entries(tenant)).values())


def test_mobile_money_confirmed_by_signed_callbacks_once(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock
) -> None:
    order_id = _order(client, tenant_a)
    r = client.post(
        f"/v1/orders/{order_id}/payments",
        json={"method": "mobile_money", "payer": "254700000000"},
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    pay = r.json()
    assert pay["state"] == "pending" and pay["provider"] == "mpesa_sandbox"
    again = client.post(
        f"/v1/orders/{order_id}/payments", json={"method": "card"}, headers=tenant_a.auth
    )
    assert again.status_code == 409  # one live payment per order
    answers = _pump(client, clock, "mpesa_sandbox")
    assert any(a["applied"] for a in answers) and any(a["note"] == "duplicate" for a in answers)
    paid = client.get(f"/v1/payments/{pay['id']}", headers=tenant_a.auth).json()
    assert paid["state"] == "succeeded" and paid["captured_minor"] == 80_000
    receipts = [e for e in api_store.journal_entries(tenant_a.id) if e.kind == "receipt"]
    assert len(receipts) == 1
    # A partial then a full refund, confirmed by callbacks.
    r = client.post(
        f"/v1/payments/{pay['id']}/refund",
        json={"amount_minor": 30_000, "refund_id": "rf-1"},
        headers=tenant_a.auth,
    )
    assert r.status_code == 200 and r.json()["refunding_minor"] == 30_000, r.text
    _pump(client, clock, "mpesa_sandbox")
    view = client.get(f"/v1/payments/{pay['id']}", headers=tenant_a.auth).json()
    assert (view["state"], view["refunded_minor"]) == ("partially_refunded", 30_000)
    client.post(f"/v1/payments/{pay['id']}/refund", headers=tenant_a.auth)
    _pump(client, clock, "mpesa_sandbox")
    view = client.get(f"/v1/payments/{pay['id']}", headers=tenant_a.auth).json()
    assert (view["state"], view["refunded_minor"]) == ("refunded", 80_000)
    too_much = client.post(
        f"/v1/payments/{pay['id']}/refund", json={"amount_minor": 1}, headers=tenant_a.auth
    )
    assert too_much.status_code == 422
    _balanced(api_store, tenant_a.id)


def test_card_capture_and_callbacks_out_of_order(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock
) -> None:
    order_id = _order(client, tenant_a)
    pay = client.post(
        f"/v1/orders/{order_id}/payments", json={"method": "card"}, headers=tenant_a.auth
    ).json()
    assert pay["state"] == "authorized"
    captured = client.post(
        f"/v1/payments/{pay['id']}/capture", json={"amount_minor": 60_000}, headers=tenant_a.auth
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["state"] == "succeeded"
    assert captured.json()["captured_minor"] == 60_000
    again = client.post(f"/v1/payments/{pay['id']}/capture", headers=tenant_a.auth)
    assert again.status_code == 409  # the sandbox refuses a second capture
    # The capture webhook arrives after the synchronous answer: a no-op.
    _pump(client, clock, "card_sandbox")
    assert len([e for e in api_store.journal_entries(tenant_a.id) if e.kind == "receipt"]) == 1
    events = api_store.list_payment_events(tenant_a.id, pay["id"])
    assert [e.to_state for e in events] == [
        IntentState.REQUIRES_ACTION,
        IntentState.AUTHORIZED,
        IntentState.SUCCEEDED,
    ]
    _balanced(api_store, tenant_a.id)


def test_callbacks_with_bad_signatures_or_unknown_providers_are_refused(
    client: TestClient, clock: Clock
) -> None:
    sandbox = _sandbox(client, "card_sandbox")
    r = client.post(
        "/v1/payments/callbacks/card_sandbox",
        content=b'{"id": "evt_1"}',
        headers={sandbox.signature_header: f"t={int(clock.now)},v1=00"},
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "signature"
    assert client.post("/v1/payments/callbacks/card_sandbox", content=b"{}").status_code == 400
    assert client.post("/v1/payments/callbacks/nope", content=b"{}").status_code == 404
    assert client.post("/v1/payments/callbacks/cash", content=b"{}").status_code == 409


def test_cancelled_order_cancels_its_open_payment(
    client: TestClient, api_store: Store, tenant_a: Tenant
) -> None:
    order_id = _order(client, tenant_a)
    pay = client.post(
        f"/v1/orders/{order_id}/payments", json={"method": "cash"}, headers=tenant_a.auth
    ).json()
    assert client.post(f"/v1/orders/{order_id}/cancel", headers=tenant_a.auth).status_code == 200
    view = client.get(f"/v1/payments/{pay['id']}", headers=tenant_a.auth).json()
    assert view["state"] == "cancelled"
    listed = client.get(f"/v1/orders/{order_id}/payments", headers=tenant_a.auth).json()
    assert [p["id"] for p in listed["payments"]] == [pay["id"]]


def test_courier_statement_lists_delivered_orders_earnings(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    assert client.post("/v1/couriers", json={"id": "c9"}, headers=tenant_a.auth).status_code == 201
    start = clock.now
    for _ in range(2):
        order_id = _order(client, tenant_a)
        client.post(
            f"/v1/orders/{order_id}/assign", json={"courier_id": "c9"}, headers=tenant_a.auth
        )
        client.post(f"/v1/orders/{order_id}/pick_up", headers=tenant_a.auth)
        r = client.post(
            f"/v1/orders/{order_id}/deliver",
            json={"proof": {"kind": "photo", "reference": "p.jpg"}},
            headers=tenant_a.auth,
        )
        assert r.status_code == 200, r.text
        clock.now += 60
    st = client.get(
        f"/v1/couriers/c9/statement?from={start}&to={clock.now}", headers=tenant_a.auth
    ).json()
    assert len(st["deliveries"]) == 2
    line = st["deliveries"][0]
    assert line["base_minor"] == 10_000 and line["distance_m"] > 2000
    assert line["total_minor"] == line["base_minor"] + line["distance_minor"]
    assert st["total_minor"] == sum(d["total_minor"] for d in st["deliveries"])
    empty = client.get(
        f"/v1/couriers/c9/statement?from={clock.now}&to={clock.now + 10}", headers=tenant_a.auth
    ).json()
    assert empty["deliveries"] == [] and empty["total_minor"] == 0


def test_failed_order_refunds_a_captured_card_payment(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock
) -> None:
    a = tenant_a.auth
    client.post("/v1/couriers", json={"id": "c5"}, headers=a)
    order_id = _order(client, tenant_a)
    pay = client.post(f"/v1/orders/{order_id}/payments", json={"method": "card"}, headers=a)
    client.post(f"/v1/payments/{pay.json()['id']}/capture", headers=a)
    client.post(f"/v1/orders/{order_id}/assign", json={"courier_id": "c5"}, headers=a)
    r = client.post(f"/v1/orders/{order_id}/fail", json={"reason": "no access"}, headers=a)
    assert r.status_code == 200 and r.json()["state"] == "failed", r.text
    view = client.get(f"/v1/payments/{pay.json()['id']}", headers=a).json()
    assert view["refunding_minor"] == 80_000  # asked of the provider, confirmed by callback
    _pump(client, clock, "card_sandbox")
    view = client.get(f"/v1/payments/{pay.json()['id']}", headers=a).json()
    assert (view["state"], view["refunded_minor"]) == ("refunded", 80_000)
    _balanced(api_store, tenant_a.id)
    assert (
        client.post(f"/v1/orders/{order_id}/fail", json={"reason": "x"}, headers=a).status_code
        == 409
    )


def test_cancelling_voids_an_authorized_card(client: TestClient, tenant_a: Tenant) -> None:
    order_id = _order(client, tenant_a)
    pay = client.post(
        f"/v1/orders/{order_id}/payments", json={"method": "card"}, headers=tenant_a.auth
    ).json()
    client.post(f"/v1/orders/{order_id}/cancel", headers=tenant_a.auth)
    view = client.get(f"/v1/payments/{pay['id']}", headers=tenant_a.auth).json()
    assert view["state"] == "cancelled"
    late = client.post(f"/v1/payments/{pay['id']}/capture", headers=tenant_a.auth)
    assert late.status_code == 409  # voided at the provider


def test_sandbox_callbacks_delivered_in_process(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    order_id = _order(client, tenant_a)
    pay = client.post(
        f"/v1/orders/{order_id}/payments",
        json={"method": "mobile_money", "payer": "254711110000"},
        headers=tenant_a.auth,
    ).json()
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    clock.now += 600
    assert deliver_sandbox_callbacks(runtime) >= 1
    view = client.get(f"/v1/payments/{pay['id']}", headers=tenant_a.auth).json()
    assert view["state"] == "succeeded"


def test_a_refund_the_provider_refuses_is_not_left_reserved(
    client: TestClient, tenant_a: Tenant
) -> None:
    order_id = _order(client, tenant_a)
    pay = client.post(
        f"/v1/orders/{order_id}/payments", json={"method": "card"}, headers=tenant_a.auth
    ).json()
    client.post(f"/v1/payments/{pay['id']}/capture", headers=tenant_a.auth)
    sandbox = _sandbox(client, "card_sandbox")
    sandbox._charges[pay["provider_ref"]].status = "voided"  # the provider disagrees
    r = client.post(f"/v1/payments/{pay['id']}/refund", headers=tenant_a.auth)
    assert r.status_code == 409, r.text
    view = client.get(f"/v1/payments/{pay['id']}", headers=tenant_a.auth).json()
    assert view["refunding_minor"] == 0 and view["state"] == "succeeded"
