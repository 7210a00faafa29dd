from fastapi.testclient import TestClient

from tests.api.conftest import Tenant


def _shipment(
    sid: str, a: tuple[float, float], b: tuple[float, float], **extra: object
) -> dict[str, object]:
    return {"id": sid, "pickup": {"location": list(a)}, "delivery": {"location": list(b)}, **extra}


def test_solve_routes_pickup_before_delivery(client: TestClient, tenant_a: Tenant) -> None:
    body = {
        "vehicles": [{"id": "v1", "start": [36.82, -1.29], "capacity": [2]}],
        "shipments": [
            _shipment("s1", (36.83, -1.29), (36.85, -1.28)),
            _shipment("s2", (36.84, -1.30), (36.86, -1.27)),
            _shipment("big", (36.84, -1.30), (36.86, -1.27), amount=[5]),
        ],
        "time_limit_s": 1,
    }
    r = client.post("/v1/routes/solve", json=body, headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["vehicles_used"] == 1
    order = [(s["kind"], s["id"]) for s in out["routes"][0]["stops"] if s["id"]]
    for sid in ("s1", "s2"):
        assert order.index(("pickup", sid)) < order.index(("delivery", sid))
    assert [u["id"] for u in out["unassigned"]] == ["big"]
    times = [s["arrival"] for s in out["routes"][0]["stops"]]
    assert times == sorted(times)


def test_solve_routes_needs_auth_and_valid_body(client: TestClient, tenant_a: Tenant) -> None:
    assert client.post("/v1/routes/solve", json={}).status_code == 401
    r = client.post(
        "/v1/routes/solve", json={"vehicles": [], "shipments": []}, headers=tenant_a.auth
    )
    assert r.status_code == 422

    bad = {
        "vehicles": [{"id": "v", "start": [36.8, 95.0]}],
        "shipments": [_shipment("s", (0, 0), (0, 1))],
    }
    r = client.post("/v1/routes/solve", json=bad, headers=tenant_a.auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lat[0]"
