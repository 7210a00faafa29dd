"""docs/websockets.md against the code: every example decodes with its model, every model and
close code is documented, and the live endpoints send what the models describe."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api import messages, outbound
from api.ws_common import CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED
from tests.api.conftest import NAIROBI, Clock, Tenant
from tracking.hub import CLOSE_SLOW_CONSUMER

DOC = Path(__file__).resolve().parents[2] / "docs" / "websockets.md"
EXAMPLE = re.compile(r"```json (\w+)\n(.*?)```", re.S)

MODELS: dict[str, type[msgspec.Struct]] = {
    cls.__name__: cls
    for cls in (
        *typing.get_args(messages.DriverMessage),
        messages.SubscribeMessage,
        *typing.get_args(outbound.OutboundMessage),
    )
}
"""Every message a client sends or receives (the unions the decoders and encoders use)."""


def _examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(DOC.read_text())


def test_every_message_model_has_a_documented_example() -> None:
    documented = {name for name, _ in _examples()}
    assert set(MODELS) - documented == set()
    assert documented - set(MODELS) == set()


@pytest.mark.parametrize(
    ("name", "text"), _examples(), ids=[f"{i}-{n}" for i, (n, _) in enumerate(_examples())]
)
def test_documented_example_decodes_with_its_model(name: str, text: str) -> None:
    model = MODELS[name]
    decoded = msgspec.json.decode(text, type=model, strict=True)  # unknown fields refused
    assert msgspec.json.decode(msgspec.json.encode(decoded), type=model) == decoded


def test_inbound_examples_pass_the_endpoint_decoders() -> None:
    for name, text in _examples():
        if name == "SubscribeMessage":
            assert isinstance(messages.decode_console(text), messages.SubscribeMessage)
        elif name in ("PingsMessage", "AcceptMessage", "RejectMessage"):
            assert type(messages.decode_driver(text)).__name__ == name


def test_close_codes_are_documented() -> None:
    text = DOC.read_text()
    for code in (CLOSE_UNAUTHORIZED, CLOSE_SLOW_CONSUMER, CLOSE_TOO_BIG):
        assert re.search(rf"^\| {code} \|", text, re.M), code


# ---------------------------------------------------------------- the live endpoints


def _recv(ws: Any) -> dict[str, Any]:
    return json.loads(ws.receive_text())


def _reply(ws: Any) -> dict[str, Any]:
    """The next frame that is not a delta (deltas may interleave with replies)."""
    frame = _recv(ws)
    while frame["type"] == "delta":
        frame = _recv(ws)
    return frame


def _driver_token(client: TestClient, t: Tenant) -> str:
    client.post("/v1/couriers", json={"id": "c1"}, headers=t.auth)
    token: str = client.post("/v1/couriers/c1/token", headers=t.auth).json()["token"]
    return token


def _ping(clock: Clock, lat: Any = -1.29, lng: Any = 36.82, ts: Any = None) -> str:
    ts = clock.now - 10 if ts is None else ts
    return f'{{"type":"pings","id":5,"pings":[{{"lat":{lat},"lng":{lng},"ts":{ts}}}]}}'


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "[]",
        '"pings"',
        '{"type":"teleport"}',
        '{"pings":[]}',
        '{"type":"pings","pings":{"lat":1}}',
        '{"type":"pings","pings":[{"lat":"-1.29","lng":36.82,"ts":1}]}',
        '{"type":"pings","pings":[{"lat":-1.29,"lng":36.82}]}',
        '{"type":"pings","pings":[{"lat":true,"lng":36.82,"ts":1}]}',
        '{"type":"pings","pings":[{"lat":NaN,"lng":36.82,"ts":1}]}',
        '{"type":"pings","pings":[{"lat":-1.29,"lng":Infinity,"ts":1}]}',
        '{"type":"pings","pings":[{"lat":-1.29,"lng":36.82,"ts":1e999}]}',
        '{"type":"accept"}',
        '{"type":"accept","offer_id":7}',
        '{"type":"subscribe","bbox":[0,0,1,1]}',
        "\x00\xff",
    ],
)
def test_malformed_driver_frames_get_an_error_and_the_connection_stays(
    client: TestClient, tenant_a: Tenant, clock: Clock, frame: str
) -> None:
    with client.websocket_connect(f"/v1/ws/driver?token={_driver_token(client, tenant_a)}") as ws:
        ws.send_text(frame)
        error = msgspec.convert(_reply(ws), outbound.ErrorMessage)
        assert error.code == "invalid_message"
        ws.send_text(_ping(clock))
        ack = msgspec.convert(_reply(ws), outbound.AckMessage)
        assert ack.id == 5 and ack.results == [outbound.PingResult(accepted=True)]


@pytest.mark.parametrize(
    ("lat", "lng"), [(90.5, 36.82), (-90.01, 36.82), (-1.29, 180.5), (-1.29, -181), (1e308, 0)]
)
def test_out_of_range_coordinates_are_refused_per_ping(
    client: TestClient, tenant_a: Tenant, clock: Clock, lat: float, lng: float
) -> None:
    with client.websocket_connect(f"/v1/ws/driver?token={_driver_token(client, tenant_a)}") as ws:
        ws.send_text(_ping(clock, lat, lng))
        ack = msgspec.convert(_reply(ws), outbound.AckMessage)
        assert ack.results == [outbound.PingResult(accepted=False, reason="invalid_coordinate")]
    assert client.get("/v1/couriers/c1", headers=tenant_a.auth).json()["position"] is None


def test_binary_frames_and_the_size_limit(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    limit = client.app.state.runtime.settings.ws_max_message_bytes  # type: ignore[attr-defined]
    with client.websocket_connect(f"/v1/ws/driver?token={_driver_token(client, tenant_a)}") as ws:
        ws.send_bytes(_ping(clock).encode())
        assert _reply(ws)["type"] == "ack"
        padded = _ping(clock, ts=clock.now - 9).ljust(limit)  # exactly at the limit: accepted
        ws.send_text(padded)
        assert _reply(ws)["type"] == "ack"
        ws.send_bytes(b" " * (limit + 1))
        with pytest.raises(WebSocketDisconnect) as info:
            _reply(ws)
    assert info.value.code == CLOSE_TOO_BIG


def test_console_frames_match_the_models(
    client: TestClient, tenant_a: Tenant, clock: Clock
) -> None:
    client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=tenant_a.auth
    )
    token = _driver_token(client, tenant_a)
    with client.websocket_connect("/v1/ws/console", headers=tenant_a.auth) as console:
        for frame in ('{"type":"subscribe","bbox":[0,0,NaN,1]}', '{"type":"subscribe","x":1}'):
            console.send_text(frame)
            assert msgspec.convert(_recv(console), outbound.ErrorMessage).code == "invalid_message"
        console.send_text('{"type":"subscribe","bbox":[36.6,-1.45,37.05,-1.15],"id":"v"}')
        snap = msgspec.convert(_recv(console), outbound.SnapshotMessage)
        assert snap.id == "v" and len(snap.fences) == 1
        with client.websocket_connect(f"/v1/ws/driver?token={token}") as driver:
            driver.send_text(_ping(clock))
            assert _reply(driver)["type"] == "ack"
        delta = msgspec.convert(_recv(console), outbound.DeltaMessage)
        # Events first (entering the service zone), then the latest position.
        enter, position = delta.messages
        assert isinstance(enter, outbound.FenceEventMessage) and enter.event == "enter"
        assert isinstance(position, outbound.CourierMessage)
        assert position.id == "c1" and position.lat == -1.29
