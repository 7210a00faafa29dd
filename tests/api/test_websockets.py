import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from api.settings import Settings
from store.interface import Store
from tests.api.conftest import NAIROBI, Clock, Tenant, make_tenant
from tracking.hub import CLOSE_SLOW_CONSUMER

BBOX = [36.6, -1.45, 37.05, -1.15]


@pytest.fixture
def slow_client(api_store: Store, clock: Clock) -> Iterator[TestClient]:
    settings = Settings(
        token_secret="k" * 40, coalesce_interval_s=1.0, ws_send_queue=3, dispatch_auto=False
    )
    with TestClient(create_app(settings, store=api_store, clock=clock)) as c:
        yield c


def _courier_token(client: TestClient, t: Tenant, courier_id: str) -> str:
    assert client.post("/v1/couriers", json={"id": courier_id}, headers=t.auth).status_code == 201
    return client.post(f"/v1/couriers/{courier_id}/token", headers=t.auth).json()["token"]


def _pings(clock: Clock, *points: tuple[float, float], start: float = -60) -> dict[str, Any]:
    return {
        "type": "pings",
        "id": 1,
        "pings": [
            {"lat": lat, "lng": lng, "ts": clock.now + start + i}
            for i, (lat, lng) in enumerate(points)
        ],
    }


def _recv(ws: Any) -> dict[str, Any]:
    return json.loads(ws.receive_text())


def test_driver_with_bad_token_is_closed(client: TestClient) -> None:
    with (
        client.websocket_connect("/v1/ws/driver?token=forged.token") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 4401


def test_driver_pings_are_acked_per_ping(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    token = _courier_token(client, tenant_a, "c1")
    with client.websocket_connect(
        "/v1/ws/driver", headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        ws.send_text(json.dumps(_pings(clock, (-1.29, 36.82), (-1.29, 36.82))))
        ack = _recv(ws)
        assert ack["type"] == "ack" and ack["id"] == 1
        assert [r["accepted"] for r in ack["results"]] == [True, True]
        ws.send_text("{not json")
        assert _recv(ws)["type"] == "error"
        ws.send_text('{"type":"pings","pings":[{"lat":"x","lng":1,"ts":1}]}')
        assert _recv(ws)["code"] == "invalid_message"
        ws.send_text(json.dumps(_pings(clock, (91.0, 36.82), start=-1)))
        assert _recv(ws)["results"] == [{"accepted": False, "reason": "invalid_coordinate"}]
    state = client.get("/v1/couriers/c1", headers=tenant_a.auth).json()
    assert state["position"]["coordinates"] == [36.82, -1.29]


def test_oversize_frame_closes_with_1009(client: TestClient, tenant_a: Tenant) -> None:
    token = _courier_token(client, tenant_a, "c1")
    with client.websocket_connect(f"/v1/ws/driver?token={token}") as ws:
        ws.send_text("x" * (64 * 1024 + 1))
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 1009


def test_console_snapshot_then_deltas_and_isolation(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant, clock: Clock
) -> None:
    client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=tenant_a.auth
    )
    token = _courier_token(client, tenant_a, "c1")
    client.post(
        "/v1/couriers/c1/pings",
        json={"pings": [{"lat": -1.29, "lng": 36.82, "ts": clock.now - 100}]},
        headers=tenant_a.auth,
    )
    with (
        client.websocket_connect(f"/v1/ws/console?api_key={tenant_a.key}") as console,
        client.websocket_connect("/v1/ws/console", headers=tenant_b.auth) as other,
    ):
        console.send_text(json.dumps({"type": "subscribe", "bbox": BBOX, "id": "s1"}))
        other.send_text(json.dumps({"type": "subscribe", "bbox": BBOX}))
        snap = _recv(console)
        assert snap["type"] == "snapshot" and snap["id"] == "s1"
        assert [c["id"] for c in snap["couriers"]] == ["c1"]
        assert len(snap["fences"]) == 1
        other_snap = _recv(other)
        assert other_snap["couriers"] == [] and other_snap["fences"] == []
        with client.websocket_connect(f"/v1/ws/driver?token={token}") as driver:
            driver.send_text(json.dumps(_pings(clock, (-1.28, 36.83), start=-50)))
            _recv(driver)
        delta = _recv(console)
        assert delta["type"] == "delta"
        positions = [m for m in delta["messages"] if m["type"] == "courier"]
        assert positions[-1]["lat"] == -1.28
        # Tenant B's console sees nothing of tenant A: its next frame is its own re-snapshot.
        other.send_text(json.dumps({"type": "subscribe", "bbox": BBOX, "id": "again"}))
        assert _recv(other)["id"] == "again"


def test_console_positions_are_coalesced(
    slow_client: TestClient, api_store: Store, clock: Clock
) -> None:
    tenant = make_tenant(api_store, "A")
    token = _courier_token(slow_client, tenant, "c1")
    with slow_client.websocket_connect(f"/v1/ws/console?api_key={tenant.key}") as console:
        console.send_text(json.dumps({"type": "subscribe", "bbox": BBOX}))
        assert _recv(console)["type"] == "snapshot"
        with slow_client.websocket_connect(f"/v1/ws/driver?token={token}") as driver:
            for i in range(6):
                # 0.0002 degrees a second: about 22 m/s, under the implied-speed limit.
                point = (-1.29 + i * 0.0002, 36.82)
                driver.send_text(json.dumps(_pings(clock, point, start=-60 + i)))
                assert _recv(driver)["results"] == [{"accepted": True}]
        final = pytest.approx(-1.29 + 5 * 0.0002)
        seen: list[dict[str, Any]] = []
        for _ in range(6):  # each frame holds at least one position; six would mean no coalescing
            seen += [m for m in _recv(console)["messages"] if m["type"] == "courier"]
            if seen[-1]["lat"] == final:
                break
        assert seen[-1]["lat"] == final
        assert len(seen) < 6


def test_slow_console_is_dropped(slow_client: TestClient, api_store: Store) -> None:
    tenant = make_tenant(api_store, "A")
    runtime = slow_client.app.state.runtime  # type: ignore[attr-defined]
    with slow_client.websocket_connect(f"/v1/ws/console?api_key={tenant.key}") as console:
        console.send_text(json.dumps({"type": "subscribe", "cells": ["867a6e42fffffff"]}))
        assert _recv(console)["type"] == "snapshot"
        cell = int("867a6e42fffffff", 16)
        for i in range(10):
            runtime.hub.publish_event(tenant.id, [("cell", cell)], {"type": "order", "i": i})
        with pytest.raises(WebSocketDisconnect) as info:
            while True:
                console.receive_text()
    assert info.value.code == CLOSE_SLOW_CONSUMER


def test_console_bad_key_and_bad_subscription(client: TestClient, tenant_a: Tenant) -> None:
    with (
        client.websocket_connect("/v1/ws/console?api_key=nope") as ws,
        pytest.raises(WebSocketDisconnect) as info,
    ):
        ws.receive_text()
    assert info.value.code == 4401
    with client.websocket_connect("/v1/ws/console", headers=tenant_a.auth) as ws:
        ws.send_text(json.dumps({"type": "subscribe", "bbox": [1, 2, 3]}))
        assert _recv(ws)["type"] == "error"
        ws.send_text(json.dumps({"type": "subscribe", "cells": ["zz"]}))
        assert _recv(ws)["type"] == "error"
        ws.send_text(json.dumps({"type": "subscribe", "bbox": [0, 0, 1, 1]}))
        assert _recv(ws)["type"] == "snapshot"


def test_driver_that_leaves_before_its_ack_ends_cleanly(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    # The driver endpoint acks on the connection's raw ASGI send: a client gone by then ends
    # the session without an error, its pings still count, and the courier can reconnect.
    token = _courier_token(client, tenant_a, "c1")
    with client.websocket_connect(f"/v1/ws/driver?token={token}") as ws:
        ws.send_text(json.dumps(_pings(clock, (-1.29, 36.82))))
        ws.close()
    with client.websocket_connect(f"/v1/ws/driver?token={token}") as ws:
        ws.send_text(json.dumps(_pings(clock, (-1.28, 36.83), start=-30)))
        assert _recv(ws)["results"] == [{"accepted": True}]
    state = client.get("/v1/couriers/c1", headers=tenant_a.auth).json()
    assert state["position"]["coordinates"] == [36.83, -1.28]
