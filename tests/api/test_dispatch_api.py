import json
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import NAIROBI, Clock, Tenant


def _setup(
    client: TestClient, t: Tenant, clock: Clock, couriers: dict[str, tuple[float, float]]
) -> None:
    r = client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=t.auth
    )
    assert r.status_code == 201
    for cid, (lat, lng) in couriers.items():
        assert (
            client.post("/v1/couriers", json={"id": cid, "capacity": 1}, headers=t.auth).status_code
            == 201
        )
        r = client.post(
            f"/v1/couriers/{cid}/pings",
            json={"pings": [{"lat": lat, "lng": lng, "ts": clock.now - 5}]},
            headers=t.auth,
        )
        assert r.json()["accepted"] == 1


def _order(client: TestClient, t: Tenant, lat: float = -1.29, lng: float = 36.82) -> str:
    r = client.post(
        "/v1/orders",
        json={
            "pickup": {"type": "Point", "coordinates": [lng, lat]},
            "dropoff": {"type": "Point", "coordinates": [lng + 0.01, lat]},
        },
        headers=t.auth,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _state(client: TestClient, t: Tenant, oid: str) -> dict[str, Any]:
    return client.get(f"/v1/orders/{oid}", headers=t.auth).json()


def test_run_offers_nearest_idle_courier_and_driver_accepts(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    _setup(client, tenant_a, clock, {"near": (-1.291, 36.821), "far": (-1.35, 36.9)})
    oid = _order(client, tenant_a)
    token = client.post("/v1/couriers/near/token", headers=tenant_a.auth).json()["token"]
    with client.websocket_connect(f"/v1/ws/driver?token={token}") as driver:
        run = client.post("/v1/dispatch/run", headers=tenant_a.auth).json()
        assert [(o["order_id"], o["courier_id"]) for o in run["offers"]] == [(oid, "near")]
        assert _state(client, tenant_a, oid)["state"] == "offered"
        frames = []
        while not any(m["type"] == "offer" for f in frames for m in f.get("messages", [])):
            frames.append(json.loads(driver.receive_text()))
        offer = next(m for f in frames for m in f.get("messages", []) if m["type"] == "offer")
        driver.send_text(json.dumps({"type": "accept", "offer_id": offer["offer_id"], "id": 9}))
        reply = json.loads(driver.receive_text())
        while reply["type"] != "answered":
            reply = json.loads(driver.receive_text())
        assert reply["id"] == 9 and reply["order"]["state"] == "assigned"
    order = _state(client, tenant_a, oid)
    assert order["state"] == "assigned" and order["courier_id"] == "near"
    assert client.get("/v1/couriers/near", headers=tenant_a.auth).json()["status"] == "busy"
    kinds = [
        e["type"]
        for e in client.get(f"/v1/orders/{oid}/events", headers=tenant_a.auth).json()["events"]
    ]
    assert kinds == ["order.created", "order.offered", "order.assigned"]


def test_reject_excludes_courier_and_reports_reason(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant, clock: Clock
) -> None:
    _setup(client, tenant_a, clock, {"only": (-1.291, 36.821)})
    oid = _order(client, tenant_a)
    offer = client.post("/v1/dispatch/run", headers=tenant_a.auth).json()["offers"][0]
    assert (
        client.post(f"/v1/offers/{offer['offer_id']}/reject", headers=tenant_b.auth).status_code
        == 404
    )
    r = client.post(f"/v1/offers/{offer['offer_id']}/reject", headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["state"] == "created"
    again = client.post("/v1/dispatch/run", headers=tenant_a.auth).json()
    assert again["offers"] == []
    assert again["unassigned"] == {oid: "no_candidate_in_radius"}
    assert (
        client.post(f"/v1/offers/{offer['offer_id']}/accept", headers=tenant_a.auth).status_code
        == 404
    )


def test_offer_timeout_returns_order_to_pool(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    _setup(client, tenant_a, clock, {"slow": (-1.291, 36.821)})
    oid = _order(client, tenant_a)
    assert client.post("/v1/dispatch/run", headers=tenant_a.auth).json()["offers"]
    clock.now += 31
    client.post(
        "/v1/couriers/slow/pings",
        json={"pings": [{"lat": -1.291, "lng": 36.821, "ts": clock.now}]},
        headers=tenant_a.auth,
    )
    run = client.post("/v1/dispatch/run", headers=tenant_a.auth).json()
    assert run["offers"] == []
    order = _state(client, tenant_a, oid)
    assert order["state"] == "created" and order["courier_id"] is None


def test_driver_cannot_take_another_couriers_offer(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    _setup(client, tenant_a, clock, {"a": (-1.291, 36.821), "b": (-1.35, 36.95)})
    _order(client, tenant_a)
    offer = client.post("/v1/dispatch/run", headers=tenant_a.auth).json()["offers"][0]
    assert offer["courier_id"] == "a"
    token_b = client.post("/v1/couriers/b/token", headers=tenant_a.auth).json()["token"]
    with client.websocket_connect(f"/v1/ws/driver?token={token_b}") as driver:
        driver.send_text(json.dumps({"type": "accept", "offer_id": offer["offer_id"]}))
        reply = json.loads(driver.receive_text())
        assert reply["type"] == "error" and reply["code"] == "OfferNotYours"


def test_assign_by_hand_and_cancel_withdraws(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant, clock: Clock
) -> None:
    _setup(client, tenant_a, clock, {"a": (-1.291, 36.821)})
    client.post("/v1/couriers", json={"id": "b_courier"}, headers=tenant_b.auth)
    oid = _order(client, tenant_a)
    assert (
        client.post(
            f"/v1/orders/{oid}/assign", json={"courier_id": "b_courier"}, headers=tenant_a.auth
        ).status_code
        == 404
    )
    r = client.post(f"/v1/orders/{oid}/assign", json={"courier_id": "a"}, headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["state"] == "assigned"
    assert client.post("/v1/dispatch/run", headers=tenant_a.auth).json()["offers"] == []
    other = _order(client, tenant_a)
    assert (
        client.post(f"/v1/orders/{other}/cancel", headers=tenant_a.auth).json()["state"]
        == "cancelled"
    )
    assert client.post("/v1/dispatch/run", headers=tenant_a.auth).json()["unassigned"] == {}
