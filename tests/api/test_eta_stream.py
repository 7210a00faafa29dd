"""ETAs refreshed from pings: throttled per courier, published as ``eta`` messages on the
driver's stream, written to the store off the ping path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo.distance import great_circle_m
from routing.travel_time import DEFAULT_SPEEDS_MPS
from store.interface import Store
from tests.api.conftest import NAIROBI, Clock, Tenant

PICKUP = (-1.29, 36.82)
DROPOFF = (-1.28, 36.84)
ORDER = {
    "pickup": {"type": "Point", "coordinates": [PICKUP[1], PICKUP[0]]},
    "dropoff": {"type": "Point", "coordinates": [DROPOFF[1], DROPOFF[0]]},
}


def _ping(client: TestClient, t: Tenant, clock: Clock, lat: float, lng: float) -> None:
    r = client.post(
        "/v1/couriers/c1/pings",
        json={"pings": [{"lat": lat, "lng": lng, "ts": clock.now}]},
        headers=t.auth,
    )
    assert r.json()["accepted"] == 1, r.text


def _next_eta(ws: Any) -> dict[str, Any]:
    while True:
        msg = json.loads(ws.receive_text())
        for m in msg.get("messages", []):
            if m["type"] == "eta":
                return dict(m)


def test_pings_refresh_etas_on_the_drivers_stream(
    client: TestClient, api_store: Store, tenant_a: Tenant, clock: Clock
) -> None:
    a = tenant_a.auth
    client.post("/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=a)
    client.post("/v1/couriers", json={"id": "c1", "vehicle": "car"}, headers=a)
    start = (-1.30, 36.80)
    _ping(client, tenant_a, clock, *start)
    order_id = client.post("/v1/orders", json=ORDER, headers=a).json()["id"]
    token = client.post("/v1/couriers/c1/token", headers=a).json()["token"]
    with client.websocket_connect(f"/v1/ws/driver?token={token}") as ws:
        r = client.post(f"/v1/orders/{order_id}/assign", json={"courier_id": "c1"}, headers=a)
        assert r.status_code == 200
        clock.now += 1
        _ping(client, tenant_a, clock, *start)
        eta = _next_eta(ws)
        speed = DEFAULT_SPEEDS_MPS["car"]
        to_pickup = great_circle_m(*start, *PICKUP) / speed
        to_drop = great_circle_m(*PICKUP, *DROPOFF) / speed
        assert eta["order_id"] == order_id and eta["courier_id"] == "c1"
        assert eta["pickup_eta"] == pytest.approx(clock.now + to_pickup, abs=1)
        assert eta["dropoff_eta"] == pytest.approx(clock.now + to_pickup + to_drop, abs=1)
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.etas.flush() == 1
        events = client.get(f"/v1/orders/{order_id}/events", headers=a).json()["events"]
        assert events[-1]["type"] == "order.eta_updated"
        # Within the refresh interval a ping refreshes nothing, though every ETA moved.
        runtime.etas.threshold_s = 0.0
        clock.now += 10
        _ping(client, tenant_a, clock, *start)
        assert runtime.etas.flush() == 0
        # After it, the courier at the pickup gets a new ETA.
        clock.now += 400
        _ping(client, tenant_a, clock, *PICKUP)
        eta = _next_eta(ws)
        assert eta["pickup_eta"] == pytest.approx(clock.now, abs=1)
    # A pending ETA that loses the race with a pick-up is dropped; the pick-up wins.
    picked = client.post(f"/v1/orders/{order_id}/pick_up", headers=a)
    assert picked.status_code == 200 and picked.json()["state"] == "picked_up"
    assert runtime.etas.flush() == 0
    # The route changed (picked up): the next ping refreshes at once, throttle or not.
    runtime.etas.threshold_s = 0.0
    clock.now += 1
    _ping(client, tenant_a, clock, *PICKUP)
    assert runtime.etas.flush() == 1
    events = client.get(f"/v1/orders/{order_id}/events", headers=a).json()["events"]
    assert events[-1]["type"] == "order.eta_updated" and events[-1]["to_state"] == "picked_up"
    order = client.get(f"/v1/orders/{order_id}", headers=a).json()
    assert order["state"] == "picked_up"


def test_couriers_without_orders_cost_a_lookup(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    client.post("/v1/couriers", json={"id": "c1"}, headers=tenant_a.auth)
    _ping(client, tenant_a, clock, -1.3, 36.8)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.etas.flush() == 0
