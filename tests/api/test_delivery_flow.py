"""Pick-up and delivery over the driver websocket and REST: one path, PIN limits, billing and
cash collected in the delivery's transaction."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from payments.ledger import AccountKind, balances, totals_per_currency
from store.interface import Store
from store.postgis import PostgisStore
from tests.api.conftest import NAIROBI, Clock, Tenant, make_tenant
from tests.store.conftest import reset_database

ORDER = {
    "pickup": {"type": "Point", "coordinates": [36.82, -1.29]},
    "dropoff": {"type": "Point", "coordinates": [36.84, -1.28]},
    "amount_minor": 50_000,
    "currency": "KES",
}


def _assigned_order(client: TestClient, t: Tenant, courier: str, **extra: Any) -> str:
    if client.get(f"/v1/couriers/{courier}", headers=t.auth).status_code == 404:
        assert client.post("/v1/couriers", json={"id": courier}, headers=t.auth).status_code == 201
    order = client.post("/v1/orders", json=ORDER | extra, headers=t.auth)
    assert order.status_code == 201, order.text
    order_id: str = order.json()["id"]
    r = client.post(f"/v1/orders/{order_id}/assign", json={"courier_id": courier}, headers=t.auth)
    assert r.status_code == 200, r.text
    return order_id


def _zone(client: TestClient, t: Tenant) -> None:
    r = client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=t.auth
    )
    assert r.status_code == 201


def _reply(ws: Any) -> dict[str, Any]:
    """The next message that is not a delta."""
    while True:
        msg: dict[str, Any] = json.loads(ws.receive_text())
        if msg["type"] != "delta":
            return msg


def test_driver_picks_up_and_delivers_with_a_pin_over_the_websocket(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock
) -> None:
    _zone(client, tenant_a)
    order_id = _assigned_order(client, tenant_a, "c1", pin="4821")
    other = _assigned_order(client, tenant_a, "c2")
    token = client.post("/v1/couriers/c1/token", headers=tenant_a.auth).json()["token"]
    with client.websocket_connect(f"/v1/ws/driver?token={token}") as ws:
        ws.send_text(json.dumps({"type": "pick_up", "order_id": other, "id": 1}))
        error = _reply(ws)
        assert (error["type"], error["code"], error["field"], error["id"]) == (
            "error",
            "WrongCourier",
            "courier_id",
            1,
        )
        deliver = {"type": "deliver", "order_id": order_id, "proof": {"kind": "pin", "pin": "4821"}}
        ws.send_text(json.dumps(deliver | {"id": 2}))
        assert _reply(ws)["code"] == "IllegalTransition"  # not picked up yet
        ws.send_text(json.dumps({"type": "pick_up", "order_id": order_id, "id": 3}))
        ack = _reply(ws)
        assert ack["type"] == "order_ack" and ack["action"] == "pick_up" and ack["id"] == 3
        assert ack["order"]["state"] == "picked_up"
        ws.send_text(json.dumps(deliver | {"proof": {"kind": "photo", "reference": "p.jpg"}}))
        assert _reply(ws)["field"] == "kind"  # a PIN order needs its PIN
        ws.send_text(json.dumps(deliver | {"proof": {"kind": "pin", "pin": "0000"}, "id": 4}))
        wrong = _reply(ws)
        assert (wrong["code"], wrong["field"]) == ("ProofOfDeliveryRejected", "pin")
        assert "0000" not in json.dumps(wrong)
        ws.send_text(json.dumps(deliver | {"id": 5}))
        done = _reply(ws)
        assert done["action"] == "deliver" and done["order"]["state"] == "delivered"
    order = client.get(f"/v1/orders/{order_id}", headers=tenant_a.auth).json()
    assert order["state"] == "delivered"
    events = client.get(f"/v1/orders/{order_id}/events", headers=tenant_a.auth).json()["events"]
    assert [e["to_state"] for e in events][-2:] == ["picked_up", "delivered"]
    assert events[-1]["actor"] == {"kind": "courier", "id": "c1"}
    (billing,) = api_store.journal_entries(tenant_a.id, order_id=order_id)
    assert billing.kind == "billing" and billing.meta["courier_id"] == "c1"


def test_five_wrong_pins_lock_the_order(client: TestClient, tenant_a: Tenant) -> None:
    _zone(client, tenant_a)
    order_id = _assigned_order(client, tenant_a, "c1", pin="4821")
    path = f"/v1/orders/{order_id}"
    assert client.post(f"{path}/pick_up", headers=tenant_a.auth).json()["state"] == "picked_up"
    for _ in range(5):
        r = client.post(
            f"{path}/deliver", json={"proof": {"kind": "pin", "pin": "1111"}}, headers=tenant_a.auth
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pin"
    r = client.post(
        f"{path}/deliver", json={"proof": {"kind": "pin", "pin": "4821"}}, headers=tenant_a.auth
    )
    assert r.status_code == 423, r.text
    assert r.json()["errors"][0] == {
        "field": "pin",
        "value": "<redacted>",
        "reason": "locked after 5 wrong PINs",
    }
    assert client.get(path, headers=tenant_a.auth).json()["state"] == "picked_up"


@pytest.mark.postgis
def test_the_pin_lock_holds_across_api_instances_sharing_a_store(postgis_url: str) -> None:
    """Two workers on one database: five wrong PINs in all, not five per worker."""
    reset_database(postgis_url)
    stores = [PostgisStore(postgis_url, pool_size=2, start_flusher=False) for _ in range(2)]
    settings = Settings(token_secret="k" * 40, dispatch_auto=False)
    try:
        with (
            TestClient(create_app(settings, store=stores[0], clock=Clock())) as one,
            TestClient(create_app(settings, store=stores[1], clock=Clock())) as two,
        ):
            tenant = make_tenant(stores[0], "A")
            _zone(one, tenant)
            order_id = _assigned_order(one, tenant, "c1", pin="4821")
            path = f"/v1/orders/{order_id}"
            assert one.post(f"{path}/pick_up", headers=tenant.auth).status_code == 200
            wrong = {"proof": {"kind": "pin", "pin": "1111"}}
            for client in (one, two, one, two, one):
                r = client.post(f"{path}/deliver", json=wrong, headers=tenant.auth)
                assert r.status_code == 422, r.text
            right = {"proof": {"kind": "pin", "pin": "4821"}}
            for client in (one, two):
                r = client.post(f"{path}/deliver", json=right, headers=tenant.auth)
                assert r.status_code == 423, r.text
                assert r.json()["errors"][0]["reason"] == "locked after 5 wrong PINs"
    finally:
        for s in stores:
            s.close()


def test_cash_on_delivery_settles_when_delivered(
    client: TestClient, api_store: Store, tenant_a: Tenant
) -> None:
    _zone(client, tenant_a)
    order_id = _assigned_order(client, tenant_a, "c1")
    r = client.post(
        f"/v1/orders/{order_id}/payments", json={"method": "cash"}, headers=tenant_a.auth
    )
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["state"] == "pending" and payment["amount_minor"] == 50_000
    client.post(f"/v1/orders/{order_id}/pick_up", headers=tenant_a.auth)
    r = client.post(
        f"/v1/orders/{order_id}/deliver",
        json={"proof": {"kind": "signature", "reference": "sig-1"}},
        headers=tenant_a.auth,
    )
    assert r.status_code == 200, r.text
    paid = client.get(f"/v1/payments/{payment['id']}", headers=tenant_a.auth).json()
    assert paid["state"] == "succeeded" and paid["captured_minor"] == 50_000
    entries = api_store.journal_entries(tenant_a.id, order_id=order_id)
    assert sorted(e.kind for e in entries) == ["billing", "receipt"]
    assert all(v == 0 for v in totals_per_currency(entries).values())
    held = {
        acc.holder: amount
        for (acc, _), amount in balances(entries).items()
        if acc.kind is AccountKind.CASH_HELD_BY_COURIER
    }
    assert held == {"c1": 50_000}
