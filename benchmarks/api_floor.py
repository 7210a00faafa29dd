"""The load benchmark's floor: uvicorn with a bare ASGI app that acks every driver message.

No index, no hub, no console deltas: what a ping costs the server in uvicorn's websocket
protocol, the event loop and the loopback sockets alone, the part no handler change can remove.
`python -m benchmarks.api_load --app floor` runs the same clients against it.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Pings(msgspec.Struct):
    pings: list[msgspec.Raw]
    id: int | str | None = None


_decode = msgspec.json.Decoder(_Pings).decode
_ACCEPTED = b'{"accepted":true}'


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Health 200, `/v1/ws/driver` acks each message (all pings accepted), `/v1/ws/console`
    answers a subscription with an empty snapshot and sends nothing more."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    driver = scope["path"] == "/v1/ws/driver"
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if not driver:
            await send({"type": "websocket.send", "text": '{"type":"snapshot","messages":[]}'})
            continue
        msg = _decode(event.get("text") or event.get("bytes"))
        ack = b'{"type":"ack","id":%s,"results":[%s]}' % (
            msgspec.json.encode(msg.id),
            b",".join([_ACCEPTED] * len(msg.pings)),
        )
        await send({"type": "websocket.send", "text": ack.decode()})
