"""`/v1/ws/driver`: a driver app streams its pings and gets acks, offers and order updates."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from api import order_flow
from api.messages import (
    AcceptMessage,
    DeliverMessage,
    MessageError,
    PickUpMessage,
    PingsMessage,
    RejectMessage,
    decode_driver,
)
from api.outbound import (
    AckMessage,
    EtaMessage,
    OfferMessage,
    OrderAckMessage,
    OrderMessage,
    encode_error,
)
from api.problems import problem_for
from api.runtime import Runtime, order_message
from api.tokens import InvalidToken, verify_driver_token
from api.ws_common import CLOSE_UNAUTHORIZED, Writer, bearer, receive_frame
from orders.model import ProofKind, ProofOfDelivery

router = APIRouter()

T = TypeVar("T")

DRIVER_TYPES = (OfferMessage, OrderMessage, EtaMessage)
"""What a driver hears about its courier (not its own positions or fence events)."""


async def _off_loop_in_scaleout(scaleout: object, call: Callable[[], T]) -> T:
    """Run ``call`` here, or on a thread in scale-out, where it makes blocking requests to the
    shards (docs/scaling.md)."""
    return call() if scaleout is None else await asyncio.to_thread(call)


class DriverSocket:
    """The endpoint as a plain ASGI app rather than a FastAPI websocket function.

    Starlette's `WebSocket` still accepts, authenticates, closes and carries the offers'
    writer, but the per-message path (receive, decode, ingest, ack) uses the connection's own
    ASGI ``receive`` and ``send``: at thousands of one-ping messages per second, the
    wrapper's state checks and send hooks were a measurable share of the server's time
    (benchmarks/RESULTS.md, issue 6, third round).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await driver_socket(WebSocket(scope, receive, send), receive, send)


router.routes.append(WebSocketRoute("/v1/ws/driver", DriverSocket(), name="driver_socket"))


async def driver_socket(ws: WebSocket, receive: Receive, send: Send) -> None:
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
    writer = Writer(ws, runtime, runtime.settings.coalesce_interval_s, send)
    writer.sub = runtime.hub.subscribe(
        claims.tenant, wakeup=writer.wakeup, accept=lambda m: isinstance(m, DRIVER_TYPES)
    )
    runtime.hub.set_topics(writer.sub, [("courier", claims.courier_id)])
    scaleout = ws.app.state.scaleout
    if scaleout is not None:  # its offers come from the shard that dispatches (docs/scaling.md)
        await scaleout.watch_courier(writer.sub, claims.courier_id)
    task = asyncio.create_task(writer.run())
    runtime.metrics.inc("hexdispatch_ws_connections_total", endpoint="driver")
    limit = runtime.settings.ws_max_message_bytes
    try:
        while True:
            raw = await receive_frame(ws, limit, receive)
            if raw is None:
                return
            try:
                msg = decode_driver(raw)
            except MessageError as exc:
                await writer.send_raw(encode_error(exc.reason))
                continue
            try:
                if isinstance(msg, PingsMessage):
                    results = await runtime.pings.ingest(
                        claims.tenant, claims.courier_id, msg.pings
                    )
                    await writer.send(AckMessage(id=msg.id, results=results))
                elif isinstance(msg, AcceptMessage | RejectMessage):
                    answer = functools.partial(
                        runtime.answer_offer,
                        claims.tenant,
                        claims.courier_id,
                        msg.offer_id,
                        accept=isinstance(msg, AcceptMessage),
                        id=msg.id,
                    )
                    await writer.send(await _off_loop_in_scaleout(scaleout, answer))
                elif isinstance(msg, PickUpMessage):
                    pick_up = functools.partial(
                        order_flow.pick_up, runtime, claims.tenant, msg.order_id, claims.courier_id
                    )
                    order = await _off_loop_in_scaleout(scaleout, pick_up)
                    await writer.send(
                        OrderAckMessage(action="pick_up", order=order_message(order), id=msg.id)
                    )
                elif isinstance(msg, DeliverMessage):
                    proof = ProofOfDelivery(
                        ProofKind(msg.proof.kind), msg.proof.reference, msg.proof.pin
                    )
                    deliver = functools.partial(
                        order_flow.deliver,
                        runtime,
                        claims.tenant,
                        msg.order_id,
                        claims.courier_id,
                        proof,
                    )
                    order = await _off_loop_in_scaleout(scaleout, deliver)
                    await writer.send(
                        OrderAckMessage(action="deliver", order=order_message(order), id=msg.id)
                    )
            except Exception as exc:
                # A refused request (any error the problem table maps) answers this message;
                # anything else is a bug and ends the connection.
                if problem_for(exc) is None:
                    raise
                field = getattr(exc, "field", None)
                await writer.send_raw(
                    encode_error(
                        str(exc),
                        type(exc).__name__,
                        msg.id,
                        field if isinstance(field, str) else None,
                    )
                )
    except (WebSocketDisconnect, OSError):  # OSError: an ack to a client that has gone
        return
    finally:
        runtime.hub.unsubscribe(writer.sub)
        if scaleout is not None:
            await scaleout.unwatch(writer.sub)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
