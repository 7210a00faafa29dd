"""GET /v1/supply: idle couriers against waiting orders per H3 cell, tenant-scoped."""

from __future__ import annotations

import h3
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

from api.app import create_app
from api.settings import Settings
from store.memory import MemoryStore
from tests.api.conftest import NAIROBI, Clock, Tenant

SPOTS = [(-1.29, 36.82), (-1.2901, 36.8201), (-1.25, 36.90)]


def _setup(client: TestClient, tenant: Tenant, clock: Clock) -> None:
    client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=tenant.auth
    )
    for i, (lat, lng) in enumerate(SPOTS):
        client.post("/v1/couriers", json={"id": f"s{i}"}, headers=tenant.auth)
        r = client.post(
            f"/v1/couriers/s{i}/pings",
            json={"pings": [{"lat": lat, "lng": lng, "ts": clock.now - 1}]},
            headers=tenant.auth,
        )
        assert r.json()["accepted"] == 1
    client.post("/v1/couriers/s1/status", json={"status": "busy"}, headers=tenant.auth)
    for lat, lng in [SPOTS[0], SPOTS[0], (-1.20, 36.70)]:
        body = {
            "pickup": {"type": "Point", "coordinates": [lng, lat]},
            "dropoff": {"type": "Point", "coordinates": [36.85, -1.3]},
        }
        assert client.post("/v1/orders", json=body, headers=tenant.auth).status_code == 201


def test_supply_counts_idle_couriers_and_waiting_orders_per_cell(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    _setup(client, tenant_a, clock)
    r = client.get("/v1/supply", params={"resolution": 8}, headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    got = {f["properties"]["cell"]: f["properties"] for f in r.json()["features"]}
    # Oracle: h3 directly; s1 is busy so it is no supply, its cell is s0's.
    expected: dict[str, list[int]] = {}
    for lat, lng in [SPOTS[0], SPOTS[2]]:
        expected.setdefault(h3.latlng_to_cell(lat, lng, 8), [0, 0])[0] += 1
    for lat, lng in [SPOTS[0], SPOTS[0], (-1.20, 36.70)]:
        expected.setdefault(h3.latlng_to_cell(lat, lng, 8), [0, 0])[1] += 1
    assert {c: [p["idle"], p["waiting"]] for c, p in got.items()} == expected
    assert all(p["balance"] == p["idle"] - p["waiting"] for p in got.values())
    for feature in r.json()["features"]:
        lat, lng = h3.cell_to_latlng(feature["id"])
        assert shape(feature["geometry"]).contains(Point(lng, lat))


def test_supply_bbox_filter_and_tenant_isolation(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant, clock: Clock
) -> None:
    _setup(client, tenant_a, clock)
    r = client.get("/v1/supply", params={"bbox": "36.85,-1.3,36.95,-1.2"}, headers=tenant_a.auth)
    cells = [f["id"] for f in r.json()["features"]]
    assert cells == [h3.latlng_to_cell(*SPOTS[2], 8)]
    assert client.get("/v1/supply", headers=tenant_b.auth).json()["features"] == []
    bad = client.get("/v1/supply", params={"bbox": "1,2"}, headers=tenant_a.auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "bbox"
    assert client.get("/v1/supply").status_code == 401


def test_console_page_and_config_are_served(client: TestClient) -> None:
    page = client.get("/console/")
    assert page.status_code == 200 and "console.js" in page.text
    assert client.get("/console/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/console/config.json").json()["tile_url"] is None


def test_console_config_carries_the_tile_url() -> None:
    settings = Settings(token_secret="k" * 40, tile_url="https://tiles.example/{z}/{x}/{y}.png")
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        config = client.get("/console/config.json").json()
    assert config["tile_url"] == "https://tiles.example/{z}/{x}/{y}.png"
