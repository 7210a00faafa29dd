from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from store.interface import Store
from tests.api.conftest import NAIROBI, Clock, Tenant, make_tenant

PROBLEM = "application/problem+json"


def _zone(client: TestClient, t: Tenant) -> dict[str, Any]:
    r = client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=t.auth
    )
    assert r.status_code == 201, r.text
    return r.json()


def _order_body(lat: float = -1.29, lng: float = 36.82) -> dict[str, Any]:
    return {
        "pickup": {"type": "Point", "coordinates": [lng, lat]},
        "dropoff": {"type": "Point", "coordinates": [lng + 0.02, lat + 0.01]},
        "amount_minor": 50000,
        "currency": "KES",
    }


def test_health_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    text = client.get("/metrics").text
    assert "hexdispatch_couriers_indexed 0" in text


def test_missing_and_wrong_keys_are_401_problems(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer hdk_nope"}, {"Authorization": "Basic x"}):
        r = client.get("/v1/couriers", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["status"] == 401


def test_courier_lifecycle_and_pings(client: TestClient, tenant_a: Tenant, clock: Clock) -> None:
    r = client.post(
        "/v1/couriers",
        json={"id": "c1", "vehicle": "motorbike", "capacity": 2},
        headers=tenant_a.auth,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "offline" and r.json()["position"] is None
    now = clock.now
    r = client.post(
        "/v1/couriers/c1/pings",
        json={
            "pings": [
                {"lat": -1.29, "lng": 36.82, "ts": now - 10},
                {"lat": -1.2901, "lng": 36.8201, "ts": now - 10},
                {"lat": 95.0, "lng": 36.82, "ts": now - 5},
                {"lat": -1.2902, "lng": 36.8202, "ts": now + 3600},
                {"lat": -1.2903, "lng": 36.8203, "ts": "not a time"},
            ]
        },
        headers=tenant_a.auth,
    )
    assert r.status_code == 200, r.text
    reasons = [x.get("reason") for x in r.json()["results"]]
    assert reasons == [
        None,
        "duplicate",
        "invalid_coordinate",
        "future_timestamp",
        "invalid_timestamp",
    ]
    view = client.get("/v1/couriers/c1", headers=tenant_a.auth).json()
    assert view["position"]["coordinates"] == [36.82, -1.29]
    assert view["status"] == "idle"
    inside = client.get(
        "/v1/couriers", params={"bbox": "36.8,-1.3,36.9,-1.2"}, headers=tenant_a.auth
    ).json()
    outside = client.get(
        "/v1/couriers", params={"bbox": "36.0,-1.3,36.1,-1.2"}, headers=tenant_a.auth
    ).json()
    assert [c["id"] for c in inside["couriers"]] == ["c1"]
    assert outside["couriers"] == []
    r = client.post("/v1/couriers/c1/status", json={"status": "busy"}, headers=tenant_a.auth)
    assert r.json()["status"] == "busy"
    assert "hexdispatch_pings_rejected_total" in client.get("/metrics").text


def test_bad_bbox_is_a_named_problem(client: TestClient, tenant_a: Tenant) -> None:
    r = client.get("/v1/couriers", params={"bbox": "1,2,3"}, headers=tenant_a.auth)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "bbox"


def test_tenant_isolation_on_couriers(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant, clock: Clock
) -> None:
    client.post("/v1/couriers", json={"id": "ca"}, headers=tenant_a.auth)
    for method, path, body in [
        ("get", "/v1/couriers/ca", None),
        ("post", "/v1/couriers/ca/status", {"status": "idle"}),
        ("post", "/v1/couriers/ca/token", None),
        ("post", "/v1/couriers/ca/pings", {"pings": [{"lat": 0, "lng": 0, "ts": clock.now}]}),
    ]:
        r = client.request(method, path, json=body, headers=tenant_b.auth)
        assert r.status_code == 404, (path, r.text)
    assert client.get("/v1/couriers", headers=tenant_b.auth).json()["couriers"] == []


def test_geofence_crud_and_validation(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    fence = _zone(client, tenant_a)
    fid = fence["id"]
    assert fence["properties"]["kind"] == "service_zone"
    assert client.get(f"/v1/geofences/{fid}", headers=tenant_b.auth).status_code == 404
    r = client.patch(f"/v1/geofences/{fid}", json={"name": "CBD"}, headers=tenant_a.auth)
    assert r.json()["properties"]["name"] == "CBD"
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    r = client.post(
        "/v1/geofences", json={"kind": "restricted", "geometry": bowtie}, headers=tenant_a.auth
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["errors"]
    assert client.delete(f"/v1/geofences/{fid}", headers=tenant_b.auth).status_code == 404
    assert client.delete(f"/v1/geofences/{fid}", headers=tenant_a.auth).status_code == 204
    assert client.get("/v1/geofences", headers=tenant_a.auth).json()["features"] == []


def test_orders_zone_idempotency_cancel(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    r = client.post("/v1/orders", json=_order_body(), headers=tenant_a.auth)
    assert r.status_code == 422, r.text  # no service zone yet
    _zone(client, tenant_a)
    key = {**tenant_a.auth, "Idempotency-Key": "k1"}
    first = client.post("/v1/orders", json=_order_body(), headers=key)
    assert first.status_code == 201, first.text
    again = client.post("/v1/orders", json=_order_body(), headers=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    clash = client.post("/v1/orders", json=_order_body(lat=-1.3), headers=key)
    assert clash.status_code == 409, clash.text
    oid = first.json()["id"]
    assert client.get(f"/v1/orders/{oid}", headers=tenant_b.auth).status_code == 404
    assert client.post(f"/v1/orders/{oid}/cancel", headers=tenant_b.auth).status_code == 404
    r = client.post(f"/v1/orders/{oid}/cancel", json={"reason": "customer"}, headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = client.post(f"/v1/orders/{oid}/cancel", headers=tenant_a.auth)
    assert r.status_code == 409, r.text
    events = client.get(f"/v1/orders/{oid}/events", headers=tenant_a.auth).json()["events"]
    assert [e["type"] for e in events] == ["order.created", "order.cancelled"]
    listed = client.get("/v1/orders", params={"state": "cancelled"}, headers=tenant_a.auth)
    assert [o["id"] for o in listed.json()["orders"]] == [oid]


def test_malformed_bodies_are_422_problems(client: TestClient, tenant_a: Tenant) -> None:
    r = client.post(
        "/v1/couriers/c1/pings",
        content=b"{not json",
        headers={**tenant_a.auth, "content-type": "application/json"},
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    r = client.post("/v1/couriers", json={"capacity": -1}, headers=tenant_a.auth)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "capacity"


def test_restart_reloads_fences_from_the_store(api_store: Store, clock: Clock) -> None:
    tenant = make_tenant(api_store, "A")
    fence = api_store.create_geofence(tenant.id, "restricted", NAIROBI)
    app = create_app(
        Settings(token_secret="k" * 40, dispatch_auto=False), store=api_store, clock=clock
    )
    with TestClient(app) as fresh:
        assert fresh.app.state.runtime.index.has_fence(fence.id)  # type: ignore[attr-defined]
