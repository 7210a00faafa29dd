"""`/v1/ws/driver`: a driver app streams its pings and gets acks, offers and order updates."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from api.messages import (
    AcceptMessage,
    MessageError,
    PingsMessage,
    RejectMessage,
    decode_driver,
    error_message,
)
from api.runtime import Runtime
from api.tokens import InvalidToken, verify_driver_token
from api.ws_common import CLOSE_UNAUTHORIZED, Writer, bearer, receive_frame

router = APIRouter()

DRIVER_TYPES = frozenset({"offer", "order"})
"""What a driver hears about its courier (not its own positions or fence events)."""


@router.websocket("/v1/ws/driver")
async def driver_socket(ws: WebSocket) -> None:
    """Driver token in ``Authorization: Bearer`` or ``?token=``; one ack per message."""
    runtime: Runtime = ws.app.state.runtime
    await ws.accept()
    try:
        claims = verify_driver_token(
            runtime.settings.token_secret.get_secret_value(),
            bearer(ws, "token") or "",
            runtime.clock(),
        )
    except InvalidToken as exc:
        await ws.close(CLOSE_UNAUTHORIZED, exc.reason)
        return
    writer = Writer(ws, runtime, runtime.settings.coalesce_interval_s)
    writer.sub = runtime.hub.subscribe(
        claims.tenant, wakeup=writer.wakeup, accept=lambda m: m.get("type") in DRIVER_TYPES
    )
    runtime.hub.set_topics(writer.sub, [("courier", claims.courier_id)])
    task = asyncio.create_task(writer.run())
    runtime.metrics.inc("hexdispatch_ws_connections_total", endpoint="driver")
    try:
        while True:
            raw = await receive_frame(ws, runtime.settings.ws_max_message_bytes)
            if raw is None:
                return
            try:
                msg = decode_driver(raw)
            except MessageError as exc:
                await writer.send_raw(error_message(exc.reason))
                continue
            try:
                if isinstance(msg, PingsMessage):
                    results = runtime.ingest(claims.tenant, claims.courier_id, msg.pings)
                    await writer.send({"type": "ack", "id": msg.id, "results": results})
                elif isinstance(msg, AcceptMessage | RejectMessage):
                    reply = runtime.answer_offer(
                        claims.tenant,
                        claims.courier_id,
                        msg.offer_id,
                        accept=isinstance(msg, AcceptMessage),
                    )
                    await writer.send({**reply, "id": msg.id})
            except (ValueError, LookupError, PermissionError) as exc:
                await writer.send_raw(error_message(str(exc), type(exc).__name__, msg.id))
    except WebSocketDisconnect:
        return
    finally:
        runtime.hub.unsubscribe(writer.sub)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
