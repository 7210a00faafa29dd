"""The server's own cost per driver message, without sockets: the ASGI app driven in process.

`benchmarks.api_load` measures the whole server on a shared machine, where CPU per message
moves with the load (more messages per loop wake-up when saturated) and the loopback sockets'
system calls are a third of it. This drives the real app (`api.app.create_app`, its lifespan,
every middleware) through ASGI ``receive``/``send`` callables: ``connections`` driver sessions
each send one message per round and await its ack, ``consoles`` console sessions subscribed to
the city get their deltas. It reports process CPU per message and per ping: what a change to
the handler path saves, in the same run, with the socket and uvicorn costs left out.

    python -m benchmarks.driver_path --connections 2000 --consoles 20 --rounds 30 --batch 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from pydantic import SecretStr

from api.app import create_app
from api.settings import Settings
from api.tokens import issue_driver_token
from benchmarks.api_floor import floor_app
from benchmarks.api_load import CITY_BBOX, SPEED_DEG_S
from benchmarks.api_server import TENANT_ID, build_store, courier_ids


@dataclass
class PathResult:
    app: str
    connections: int
    consoles: int
    batch: int
    rounds: int
    messages: int
    console_frames: int
    cpu_us_per_message: float
    cpu_us_per_ping: float


class _Session:
    """One websocket session's ASGI side: a queue of inbound events, a count of sends."""

    def __init__(self, app: Any, path: str, query: str) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent = 0
        self.acked = asyncio.Event()
        self.inbox.put_nowait({"type": "websocket.connect"})
        scope = {
            "type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "scheme": "ws", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": query.encode(), "headers": [], "subprotocols": [],
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "state": {},
        }  # fmt: skip
        self.task = asyncio.create_task(app(scope, self.inbox.get, self._send))

    async def _send(self, event: dict[str, Any]) -> None:
        if event["type"] == "websocket.send":
            self.sent += 1
            if event.get("text", "").startswith('{"type":"ack"'):
                self.acked.set()

    def put(self, text: str) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": text})

    async def close(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await self.task


def _ping(seed: int, ts: float) -> dict[str, float]:
    w, s, e, n = CITY_BBOX
    lat = s + (n - s - 0.03) * ((seed * 7919) % 1000) / 1000 + SPEED_DEG_S * (ts % 300)
    return {"lat": lat, "lng": w + (e - w) * ((seed * 104729) % 1000) / 1000, "ts": ts}


async def _run(args: argparse.Namespace) -> PathResult:
    secret, key = "s" * 40, "hxd_path_key"
    settings = Settings(
        token_secret=SecretStr(secret),
        coalesce_interval_s=args.coalesce,
        dispatch_auto=False,
        ws_send_queue=10_000,
        gc_tuned=True,
    )
    encoder = msgspec.json.Encoder()
    app: Any
    if args.app == "floor":  # the harness's own cost and a bare ASGI ack, nothing of ours
        app, lifespan = floor_app, contextlib.nullcontext()
    else:
        app = create_app(settings, store=build_store(args.connections, key))
        lifespan = app.router.lifespan_context(app)
    async with lifespan:
        consoles = [_Session(app, "/v1/ws/console", f"api_key={key}") for _ in range(args.consoles)]
        for c in consoles:
            c.put(json.dumps({"type": "subscribe", "bbox": list(CITY_BBOX), "id": 1}))
        now = time.time()
        drivers = [
            _Session(app, "/v1/ws/driver", f"token={issue_driver_token(secret, cid, TENANT_ID, now + 3600)}")
            for cid in courier_ids(args.connections)
        ]  # fmt: skip
        cpu = 0.0
        for r in range(args.rounds + 1):  # round 0 warms up (first pings, connections)
            start = time.process_time()
            t = time.time()
            for i, d in enumerate(drivers):
                d.acked.clear()
                pings = [_ping(i, t + j * 1e-4) for j in range(args.batch)]
                d.put(encoder.encode({"type": "pings", "id": r, "pings": pings}).decode())
            for d in drivers:
                await d.acked.wait()
            await asyncio.sleep(args.coalesce)  # the consoles' tick: their frames go out
            if r:
                cpu += time.process_time() - start
        frames = sum(c.sent for c in consoles)
        for s in [*drivers, *consoles]:
            await s.close()
    messages = args.rounds * args.connections
    return PathResult(
        app=args.app,
        connections=args.connections,
        consoles=args.consoles,
        batch=args.batch,
        rounds=args.rounds,
        messages=messages,
        console_frames=frames,
        cpu_us_per_message=round(cpu / messages * 1e6, 2),
        cpu_us_per_ping=round(cpu / messages / args.batch * 1e6, 2),
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--consoles", type=int, default=20)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--batch", type=int, default=1, help="pings per driver message")
    p.add_argument(
        "--app",
        choices=["hexdispatch", "floor"],
        default="hexdispatch",
        help="floor: benchmarks.api_floor's bare ack app (the harness's own cost and ASGI)",
    )
    p.add_argument("--coalesce", type=float, default=0.05, help="console tick, seconds")
    import uvloop

    print(json.dumps(asdict(uvloop.run(_run(p.parse_args(argv))))))


if __name__ == "__main__":
    main()
