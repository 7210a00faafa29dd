"""`/v1/ws/console`: a dispatcher console gets a snapshot of its viewport, then deltas."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from api.messages import MessageError, SubscribeMessage, decode_console
from api.outbound import encode, encode_error
from api.runtime import Runtime, parse_bbox
from api.ws_common import CLOSE_UNAUTHORIZED, Writer, bearer, receive_frame
from geo.cells import check_resolution, parent_cells

router = APIRouter()

MAX_CELLS = 5000


def _cells(runtime: Runtime, msg: SubscribeMessage) -> list[int]:
    if msg.bbox is not None:
        return runtime.cells_for_bbox(parse_bbox(msg.bbox))
    wanted: set[int] = set()
    for text in msg.cells or []:
        try:
            cell = int(text, 16)
            res = check_resolution(int((cell >> 52) & 0xF), "cells")
        except ValueError:
            raise MessageError(f"cells: {text!r} is not an H3 cell") from None
        if res < runtime.console_resolution:
            raise MessageError(
                f"cells: {text!r} is coarser than the console resolution "
                f"{runtime.console_resolution}; send a bbox or finer cells"
            )
        wanted.add(int(parent_cells([cell], runtime.console_resolution)[0]))
    return sorted(wanted)


@router.websocket("/v1/ws/console")
async def console_socket(ws: WebSocket) -> None:
    """API key in ``Authorization: Bearer`` or ``?api_key=``; subscribe by bbox or H3 cells."""
    runtime: Runtime = ws.app.state.runtime
    await ws.accept()
    tenant = runtime.store.tenant_for_api_key(bearer(ws, "api_key") or "")
    if tenant is None:
        await ws.close(CLOSE_UNAUTHORIZED, "unknown or revoked API key")
        return
    writer = Writer(ws, runtime, runtime.settings.coalesce_interval_s)
    sub = writer.sub = runtime.hub.subscribe(tenant.id, wakeup=writer.wakeup)
    task = asyncio.create_task(writer.run())
    runtime.metrics.inc("hexdispatch_ws_connections_total", endpoint="console")
    try:
        while True:
            raw = await receive_frame(ws, runtime.settings.ws_max_message_bytes)
            if raw is None:
                return
            try:
                msg = decode_console(raw)
                cells = _cells(runtime, msg)
                if len(cells) > MAX_CELLS:
                    raise MessageError(
                        f"subscription covers {len(cells)} cells; at most {MAX_CELLS}"
                    )
            except (MessageError, ValueError) as exc:
                await writer.send_raw(encode_error(str(exc)))
                continue
            topics: list[tuple[str, Hashable]] = [("cell", c) for c in cells]
            topics += [("fences", "*"), ("offers", "*")]
            scaleout = ws.app.state.scaleout
            async with writer.send_lock:
                runtime.hub.set_topics(sub, topics)
                if scaleout is not None:  # the couriers live in the shards (docs/scaling.md)
                    await scaleout.watch(sub, cells)
                runtime.hub.drain(sub)  # older than the snapshot that follows
                snapshot = runtime.console_snapshot(tenant.id, cells, msg.id)
                if scaleout is not None:
                    snapshot.couriers = await scaleout.couriers_in_cells(tenant.id, cells)
                await ws.send_text(encode(snapshot).decode())
    except WebSocketDisconnect:
        return
    finally:
        runtime.hub.unsubscribe(sub)
        if ws.app.state.scaleout is not None:
            await ws.app.state.scaleout.unwatch(sub)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
