"""Tenant isolation over every route of the app: walked from the route table, so none is skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from api.deps import get_tenant
from api.routers.couriers import CourierIn, PingsIn, StatusIn
from api.routers.dispatch import AssignIn
from api.routers.geofences import GeofenceIn, GeofencePatch
from api.routers.orders import CancelIn, DeliverIn, FailIn, OrderIn, PickUpIn
from api.routers.payments import CaptureIn, PaymentIn, RefundIn
from api.routers.routes import RoutesIn
from api.routers.webhooks import EndpointIn
from tests.api.conftest import NAIROBI, Clock, Tenant

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before included routers became routes of their own
    iter_route_contexts = None  # type: ignore[assignment]

PUBLIC = frozenset(
    {"/healthz", "/readyz", "/metrics", "/console/config.json", "/v1/payments/callbacks/{provider}"}
)
"""Routes that need no credential and show no tenant's data (process-wide counters, the
console page's tile URL and resolution; payment callbacks, whose signature is the credential)."""
STREAMS = frozenset({"/v1/ws/driver", "/v1/ws/console"})
"""Websocket routes; their isolation is tested below, one test each."""
BBOX = [36.6, -1.45, 37.05, -1.15]
PICKUP = (-1.29, 36.82)


@dataclass
class World:
    """Tenant A with one of everything, tenant B with its own courier, order and offer."""

    a: Tenant
    b: Tenant
    ids: dict[str, str]
    """A's ids by path parameter name."""
    b_ids: dict[str, str]

    def a_ids(self) -> set[str]:
        return set(self.ids.values())


def _minimal_bodies(world: World, clock: Clock) -> dict[type[BaseModel], dict[str, Any]]:
    """A valid body per body model; a body naming a courier names A's (B must not reach it)."""
    lng, lat = PICKUP[1], PICKUP[0]
    return {
        CourierIn: {},
        StatusIn: {"status": "offline"},
        PingsIn: {"pings": [{"lat": lat, "lng": lng, "ts": clock.now - 1}]},
        GeofenceIn: {"kind": "restricted", "geometry": NAIROBI},
        GeofencePatch: {"active": False},
        OrderIn: {
            "pickup": {"type": "Point", "coordinates": [lng, lat]},
            "dropoff": {"type": "Point", "coordinates": [lng + 0.01, lat]},
        },
        CancelIn: {"reason": "isolation test"},
        FailIn: {"reason": "isolation test"},
        PickUpIn: {"courier_id": world.ids["courier_id"]},
        DeliverIn: {"courier_id": world.ids["courier_id"], "proof": {"kind": "pin", "pin": "1234"}},
        PaymentIn: {"method": "cash"},
        CaptureIn: {"amount_minor": 1},
        RefundIn: {"amount_minor": 1},
        EndpointIn: {"url": "https://example.com/hook", "event_types": ["order.*"]},
        AssignIn: {"courier_id": world.ids["courier_id"]},
        RoutesIn: {
            "vehicles": [{"id": "v1", "start": [lng, lat]}],
            "shipments": [
                {
                    "id": "s1",
                    "pickup": {"location": [lng, lat]},
                    "delivery": {"location": [lng + 0.01, lat]},
                }
            ],
            "time_limit_s": 0.1,
        },
    }


ORDER = {
    "pickup": {"type": "Point", "coordinates": [PICKUP[1], PICKUP[0]]},
    "dropoff": {"type": "Point", "coordinates": [PICKUP[1] + 0.01, PICKUP[0]]},
}


def _build_tenant(client: TestClient, t: Tenant, clock: Clock, courier: str) -> dict[str, str]:
    fence = client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=t.auth
    )
    assert fence.status_code == 201, fence.text
    assert client.post("/v1/couriers", json={"id": courier}, headers=t.auth).status_code == 201
    r = client.post(
        f"/v1/couriers/{courier}/pings",
        json={"pings": [{"lat": PICKUP[0] - 0.001, "lng": PICKUP[1], "ts": clock.now - 5}]},
        headers=t.auth,
    )
    assert r.json()["accepted"] == 1
    order = client.post("/v1/orders", json=ORDER, headers=t.auth)
    assert order.status_code == 201, order.text
    offers = client.post("/v1/dispatch/run", headers=t.auth).json()["offers"]
    assert [o["courier_id"] for o in offers] == [courier]
    endpoint = client.post(
        "/v1/webhooks/endpoints", json={"url": "https://example.com/hook"}, headers=t.auth
    )
    assert endpoint.status_code == 201, endpoint.text
    payment = client.post(
        f"/v1/orders/{order.json()['id']}/payments", json={"method": "card"}, headers=t.auth
    )
    assert payment.status_code == 201, payment.text
    return {
        "payment_id": payment.json()["id"],
        "endpoint_id": endpoint.json()["id"],
        "courier_id": courier,
        "order_id": order.json()["id"],
        "fence_id": fence.json()["id"],
        "offer_id": offers[0]["offer_id"],
    }


@pytest.fixture
def world(client: TestClient, tenant_a: Tenant, tenant_b: Tenant, clock: Clock) -> World:
    ids = _build_tenant(client, tenant_a, clock, "courier-of-tenant-a")
    b_ids = _build_tenant(client, tenant_b, clock, "courier-of-tenant-b")
    return World(tenant_a, tenant_b, ids, b_ids)


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def _flat_routes(routes: list[BaseRoute]) -> Iterator[tuple[str, BaseRoute]]:
    """``(full path, route)`` for every route, through included routers (nested in FastAPI
    versions that keep an included router as one route)."""
    if iter_route_contexts is None:
        for route in routes:
            yield getattr(route, "path", ""), route
        return
    for context in iter_route_contexts(routes):
        yield context.path or "", context.original_route


@dataclass
class Scoped:
    path: str
    route: APIRoute


def _tenant_routes(client: TestClient) -> list[Scoped]:
    """Every tenant-scoped REST route; fails on a route that is neither scoped nor public."""
    scoped: list[Scoped] = []
    unclassified: list[str] = []
    for path, route in _flat_routes(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            if path not in STREAMS:
                unclassified.append(f"websocket {path}")
        elif isinstance(route, APIRoute):
            if get_tenant in _calls(route.dependant):
                scoped.append(Scoped(path, route))
            elif path not in PUBLIC:
                unclassified.append(f"{sorted(route.methods)} {path}")
    assert not unclassified, (
        f"routes neither tenant-scoped (TenantDep) nor listed as public: {unclassified}"
    )
    return scoped


def _request_parts(
    scoped: Scoped, ids: dict[str, str], bodies: dict[type[BaseModel], dict[str, Any]]
) -> tuple[str, dict[str, Any] | None]:
    route = scoped.route
    params = {p.name for p in route.dependant.path_params}
    missing = params - ids.keys()
    assert not missing, f"{scoped.path}: no tenant-A id known for path parameters {missing}"
    path = scoped.path.format(**{name: ids[name] for name in params})
    body = None
    if route.body_field is not None:
        model = route.body_field.field_info.annotation
        while model not in bodies and getattr(model, "__args__", None):
            model = next(a for a in model.__args__ if a is not type(None))  # Optional[Model]
        assert model in bodies, f"{scoped.path}: add a minimal valid body for {model}"
        body = bodies[model]
    return path, body


def _a_state(client: TestClient, world: World) -> list[Any]:
    a, ids = world.a, world.ids
    return [
        client.get(f"/v1/couriers/{ids['courier_id']}", headers=a.auth).json(),
        client.get(f"/v1/orders/{ids['order_id']}", headers=a.auth).json(),
        client.get(f"/v1/orders/{ids['order_id']}/events", headers=a.auth).json(),
        client.get(f"/v1/geofences/{ids['fence_id']}", headers=a.auth).json(),
    ]


def test_every_tenant_route_hides_tenant_a_from_tenant_b(
    client: TestClient, world: World, clock: Clock
) -> None:
    routes = _tenant_routes(client)
    assert len(routes) >= 15  # the walk found the routers (a guard against a vacuous pass)
    bodies = _minimal_bodies(world, clock)
    for model, body in bodies.items():
        model.model_validate(body)  # the table itself stays valid
    before = _a_state(client, world)
    checked = 0
    for scoped in routes:
        route = scoped.route
        path, body = _request_parts(scoped, world.ids, bodies)
        for method in sorted(route.methods):
            r = client.request(method, path, json=body, headers=world.b.auth)
            where = f"{method} {path} as tenant B: {r.status_code} {r.text[:300]}"
            assert r.status_code < 500, where
            if route.dependant.path_params:
                assert r.status_code == 404, where
                assert r.headers["content-type"] == "application/problem+json", where
            else:
                assert r.status_code in (200, 201, 204, 422), where
            leaked = [i for i in world.a_ids() if f'"{i}"' in r.text]
            assert not leaked, f"{where} leaks {leaked}"
            checked += 1
    assert checked == sum(len(s.route.methods) for s in routes)
    assert _a_state(client, world) == before
    # A's offer is still open for A: B's calls changed nothing.
    r = client.post(f"/v1/offers/{world.ids['offer_id']}/accept", headers=world.a.auth)
    assert r.status_code == 200 and r.json()["state"] == "assigned", r.text


def test_aggregates_of_b_ignore_tenant_a(client: TestClient, world: World, clock: Clock) -> None:
    """Counts carry no ids: check that A's new couriers and orders change nothing B sees."""
    aggregates = ["/v1/supply", "/v1/couriers", "/v1/orders", "/v1/geofences"]
    before = [client.get(path, headers=world.b.auth).json() for path in aggregates]
    for i in range(3):
        cid = f"more-of-a-{i}"
        client.post("/v1/couriers", json={"id": cid}, headers=world.a.auth)
        client.post(
            f"/v1/couriers/{cid}/pings",
            json={"pings": [{"lat": PICKUP[0], "lng": PICKUP[1] + i * 1e-4, "ts": clock.now}]},
            headers=world.a.auth,
        )
        assert client.post("/v1/orders", json=ORDER, headers=world.a.auth).status_code == 201
    mine = client.get("/v1/supply", headers=world.a.auth).json()
    assert sum(f["properties"]["idle"] for f in mine["features"]) >= 3
    assert [client.get(path, headers=world.b.auth).json() for path in aggregates] == before


def test_every_tenant_route_needs_a_key(client: TestClient, world: World, clock: Clock) -> None:
    bodies = _minimal_bodies(world, clock)
    driver_token = client.post(
        f"/v1/couriers/{world.ids['courier_id']}/token", headers=world.a.auth
    ).json()["token"]
    credentials: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer hdk_unknown"},
        {"Authorization": f"Bearer {driver_token}"},  # a driver token is no API key
        {"Authorization": f"Basic {world.a.key}"},
    ]
    for scoped in _tenant_routes(client):
        path, body = _request_parts(scoped, world.ids, bodies)
        for method in sorted(scoped.route.methods):
            for headers in credentials:
                r = client.request(method, path, json=body, headers=headers)
                where = f"{method} {path} with {list(headers.values())[:1]}: {r.text[:200]}"
                assert r.status_code == 401, where
                assert r.headers["content-type"] == "application/problem+json", where
                assert r.headers["www-authenticate"] == "Bearer", where


def _recv(ws: Any) -> dict[str, Any]:
    return json.loads(ws.receive_text())


def test_console_of_b_never_sees_tenant_a(client: TestClient, world: World, clock: Clock) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    a_ids = world.a_ids()
    with (
        client.websocket_connect("/v1/ws/console", headers=world.a.auth) as console_a,
        client.websocket_connect("/v1/ws/console", headers=world.b.auth) as console_b,
    ):
        for ws in (console_a, console_b):
            ws.send_text(json.dumps({"type": "subscribe", "bbox": BBOX}))
        snap_a, snap_b = _recv(console_a), _recv(console_b)
        assert snap_a["type"] == snap_b["type"] == "snapshot"
        assert world.ids["courier_id"] in json.dumps(snap_a)
        assert not [i for i in a_ids if f'"{i}"' in json.dumps(snap_b)]
        # Everything tenant A can make happen on a stream: a position, a fence event, an order
        # change, an offer and its answer.
        a = world.a.auth
        client.post(
            f"/v1/couriers/{world.ids['courier_id']}/pings",
            json={"pings": [{"lat": PICKUP[0] - 0.001, "lng": PICKUP[1], "ts": clock.now - 4}]},
            headers=a,
        )
        square = [[36.8, -1.3], [36.85, -1.3], [36.85, -1.25], [36.8, -1.25], [36.8, -1.3]]
        client.post(
            "/v1/geofences",
            json={"kind": "hub", "geometry": {"type": "Polygon", "coordinates": [square]}},
            headers=a,
        )
        client.post(f"/v1/orders/{world.ids['order_id']}/cancel", headers=a)
        assert client.post("/v1/orders", json=ORDER, headers=a).status_code == 201
        assert client.post("/v1/dispatch/run", headers=a).json()["offers"]
        seen_a: list[dict[str, Any]] = []
        while not any(m["type"] == "offer" for m in seen_a):
            seen_a += _recv(console_a)["messages"]
        kinds = {m["type"] for m in seen_a}
        assert {"courier", "fence_event", "order", "offer"} <= kinds, kinds
        # Queues are FIFO: had anything of A reached B, it would come before (or with) this.
        sentinel = {"type": "order", "id": "sentinel-of-b", "state": "created"}
        runtime.hub.publish_event(world.b.id, [("fences", "*")], sentinel)
        assert _recv(console_b) == {"type": "delta", "messages": [sentinel]}


def test_driver_publishes_only_its_own_courier(client: TestClient, world: World) -> None:
    a = world.a.auth
    other = "other-courier-of-a"
    assert client.post("/v1/couriers", json={"id": other}, headers=a).status_code == 201
    token = client.post(f"/v1/couriers/{world.ids['courier_id']}/token", headers=a).json()["token"]
    ts = client.app.state.runtime.clock() - 2  # type: ignore[attr-defined]
    ping = {"lat": PICKUP[0], "lng": PICKUP[1], "ts": ts}
    with client.websocket_connect(f"/v1/ws/driver?token={token}") as driver:
        for smuggled in (
            {"type": "pings", "courier_id": other, "pings": [ping]},
            {"type": "pings", "pings": [{**ping, "courier_id": other}]},
            {"type": "pings", "pings": [{**ping, "tenant": world.b.id}]},
        ):
            driver.send_text(json.dumps(smuggled))
            reply = _recv(driver)
            while reply["type"] == "delta":
                reply = _recv(driver)
            assert reply["type"] == "error" and reply["code"] == "invalid_message", reply
        # Tenant B's offer is not this driver's: the reply looks like an unknown offer.
        for verb in ("accept", "reject"):
            driver.send_text(json.dumps({"type": verb, "offer_id": world.b_ids["offer_id"]}))
            reply = _recv(driver)
            while reply["type"] == "delta":
                reply = _recv(driver)
            assert reply["type"] == "error" and reply["code"] == "NotFound", reply
        driver.send_text(json.dumps({"type": "pings", "id": 3, "pings": [ping]}))
        reply = _recv(driver)
        while reply["type"] == "delta":
            assert not [m for m in reply["messages"] if m.get("courier_id") == other]
            reply = _recv(driver)
        assert reply["type"] == "ack" and reply["results"] == [{"accepted": True}]
    assert client.get(f"/v1/couriers/{other}", headers=a).json()["position"] is None
    order_b = client.get(f"/v1/orders/{world.b_ids['order_id']}", headers=world.b.auth).json()
    assert order_b["state"] == "offered"
    # A driver token is not a console key.
    with (
        client.websocket_connect(f"/v1/ws/console?api_key={token}") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 4401
