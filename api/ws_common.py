"""What both websocket endpoints share: credentials, frame limits, the hub writer loop."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import Receive, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.outbound import encode
from api.runtime import Runtime
from tracking.hub import CLOSE_SLOW_CONSUMER, Subscriber

CLOSE_UNAUTHORIZED = 4401
"""Missing, forged or expired credentials (sent right after the handshake)."""
CLOSE_TOO_BIG = 1009
"""A frame above ``ws_max_message_bytes``."""


def bearer(ws: WebSocket, query_name: str) -> str | None:
    """The credential from ``Authorization: Bearer`` or, for browsers, a query parameter."""
    header = ws.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return ws.query_params.get(query_name)


async def receive_frame(
    ws: WebSocket, limit: int, receive: Receive | None = None
) -> bytes | str | None:
    """The next text or binary frame; None once the client has gone or the frame was too big
    (the connection is then closed).

    ``receive`` is the connection's ASGI receive, for a caller that owns it (the driver
    endpoint's hot path skips Starlette's per-message state checks); by default ``ws.receive``.
    """
    message = await (receive or ws.receive)()
    if message["type"] == "websocket.disconnect":
        return None
    data: bytes | str | None = message.get("text")
    if data is None:
        data = message.get("bytes") or b""
    if len(data) > limit:
        await ws.close(CLOSE_TOO_BIG, f"message over {limit} bytes")
        return None
    return data


def next_tick(now: float, interval_s: float) -> float:
    """The next multiple of the interval at least half an interval after ``now``.

    Every writer sleeps to these ticks of the loop's clock, so consoles watching the same cells
    drain the same updates in the same loop iteration and share one encoded frame
    (`api.frame_encoder.FrameEncoder.delta_text`), and two frames to one client stay at least
    half an interval apart.
    """
    tick = now - now % interval_s + interval_s
    return tick + interval_s if tick - now < interval_s / 2 else tick


class Writer:
    """Sends what the hub holds for one subscriber, at most once per interval (coalescing).

    Every text frame of the connection goes through `send_text` under ``send_lock``; ``send``
    is the connection's ASGI send when the caller owns it (by default ``ws.send``).
    """

    def __init__(
        self, ws: WebSocket, runtime: Runtime, interval_s: float, send: Send | None = None
    ) -> None:
        self.ws = ws
        self._send = send or ws.send
        self.runtime = runtime
        self.interval_s = interval_s
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self._wake_scheduled = False
        self.sub: Subscriber | None = None
        self.send_lock = asyncio.Lock()

    def wakeup(self) -> None:
        """Called by publishers, possibly from another thread."""
        # once per tick, not once per publication: call_soon_threadsafe writes to the loop's
        # self-pipe, which at thousands of pings per second was most of the server's time
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self.loop.call_soon_threadsafe(self._set_wake)

    def _set_wake(self) -> None:
        self._wake_scheduled = False
        self.wake.set()

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self._send({"type": "websocket.send", "text": text})

    async def send(self, payload: object) -> None:
        await self.send_text(encode(payload).decode())

    async def send_raw(self, data: bytes) -> None:
        await self.send_text(data.decode())

    async def run(self) -> None:
        assert self.sub is not None
        sub = self.sub
        # OSError: the server's send on a connection the client has closed (a raw send is
        # not translated to WebSocketDisconnect by Starlette)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                await self.wake.wait()
                self.wake.clear()
                if sub.overflowed:
                    self.runtime.metrics.inc("hexdispatch_ws_slow_consumer_closes_total")
                    await self.ws.close(CLOSE_SLOW_CONSUMER, "too far behind")
                    return
                batch = self.runtime.hub.drain(sub)
                if batch:
                    await self.send_text(self.runtime.frames.delta_text(batch))
                now = self.loop.time()
                await asyncio.sleep(next_tick(now, self.interval_s) - now)
