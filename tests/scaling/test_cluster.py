"""Three API workers and two shard processes on loopback, driven over real websockets: a shard
is SIGKILLed mid-run and restarted, a worker stops and its drivers reconnect to another; no
acknowledged ping is lost, a console on one worker sees couriers driven through the others, and
the result equals the single-process engine's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import uvicorn
import websockets
from redis.asyncio import Redis

from api.app import create_app
from api.settings import Settings
from api.tokens import issue_driver_token
from scaling import codec, keys
from scaling.shard_map import ShardMap, save
from store.memory import MemoryStore
from tests.scaling.conftest import WEST, run_async, streams_idle, two_shards
from tracking import LiveIndex

pytestmark = pytest.mark.redis

SECRET = "s" * 40
API_KEY = "hdk_scaling_test_key"
TENANT = "t1"
COURIERS = 16
MESSAGES = 50
MOMENTS = {"kill": 15, "drop": 22, "restart": 30}
"""Message numbers (of courier 0) at which shard 1 is SIGKILLed, API worker 2 stops, and
shard 1 starts again."""


@dataclass
class Route:
    """A courier's pings: one a second along the parallel, 11 m apart, across the boundary."""

    courier: str
    start_lng: float
    step: float
    t0: float

    def ping(self, n: int) -> dict[str, float]:
        return {"lat": WEST[0], "lng": self.start_lng + n * self.step, "ts": self.t0 + n}


def routes(boundary_lng: float, seed: int) -> list[Route]:
    rng = np.random.default_rng(seed)
    t0 = time.time() - 600  # in the past: ts only has to increase, and not run ahead
    out = []
    for i in range(COURIERS):
        east = i % 2 == 0  # half go east, half west, all starting within 400 m of the line
        offset = float(rng.uniform(0.0005, 0.0035))
        start = boundary_lng - offset if east else boundary_lng + offset
        out.append(Route(f"c{i:02d}", start, 1e-4 if east else -1e-4, t0))
    return out


def boundary(shard_map: ShardMap) -> float:
    """A longitude where the owner changes along the test parallel."""
    lngs = np.arange(WEST[1], WEST[1] + 0.5, 0.001)
    owners = [shard_map.shard_of(WEST[0], float(x)) for x in lngs]
    i = next(i for i in range(len(owners) - 1) if owners[i] != owners[i + 1])
    return float(lngs[i + 1])


@contextlib.contextmanager
def shard_process(shard: int, url: str) -> Iterator[subprocess.Popen[str]]:
    cmd = [sys.executable, "-c", "from api.cli import main; main()"]
    cmd += ["shard", "--id", str(shard), "--redis", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "ready" in line, f"shard {shard} did not start: {line!r}"
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.asynccontextmanager
async def workers(
    url: str, store: MemoryStore, n: int
) -> AsyncIterator[tuple[list[int], list[uvicorn.Server]]]:
    """``n`` API workers (uvicorn on real sockets) sharing one store, each with its gateway."""
    servers, ports = [], []
    for _ in range(n):
        settings = Settings(
            token_secret=SECRET, dispatch_auto=False, redis_url=url, coalesce_interval_s=0.02
        )
        config = uvicorn.Config(
            create_app(settings, store=store), host="127.0.0.1", port=0, log_level="warning"
        )
        servers.append(uvicorn.Server(config))
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    for s in servers:
        while not s.started:
            await asyncio.sleep(0.01)
        ports.append(s.servers[0].sockets[0].getsockname()[1])
    try:
        yield ports, servers
    finally:
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks)


async def rest_post(port: int, path: str, body: object) -> tuple[int, dict[str, Any]]:
    """POST JSON with the tenant's key over a raw HTTP/1.1 connection: status and body."""
    return await rest_call(port, "POST", path, body)


async def rest_call(
    port: int, method: str, path: str, body: object = None
) -> tuple[int, dict[str, Any]]:
    """One request with the tenant's key over a raw HTTP/1.1 connection: status and body."""
    data = b"" if body is None else json.dumps(body).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + data)
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(raw.split(b" ", 2)[1]), json.loads(raw.split(b"\r\n\r\n", 1)[1])


@dataclass
class Run:
    acked: dict[str, float] = field(default_factory=dict)
    """Courier → ts of its last acknowledged ping."""
    seen_by_console: set[str] = field(default_factory=set)
    reconnected: set[str] = field(default_factory=set)


async def drive(
    ports: list[int], plan: list[Route], events: dict[str, asyncio.Event], run: Run
) -> None:
    """Each courier on worker ``i % 3``; when a worker goes away, its drivers reconnect to
    worker 1 and resend the message that had no ack."""

    async def one(i: int, route: Route) -> None:
        token = issue_driver_token(SECRET, route.courier, TENANT, time.time() + 3600)
        port, n = ports[i % len(ports)], 0
        while n < MESSAGES:
            uri = f"ws://127.0.0.1:{port}/v1/ws/driver?token={token}"
            try:
                async with websockets.connect(uri) as ws:
                    while n < MESSAGES:
                        if i == 0:
                            for name, at in MOMENTS.items():
                                if n == at:
                                    events[name].set()
                        msg = {"type": "pings", "id": n, "pings": [route.ping(n)]}
                        await ws.send(json.dumps(msg))
                        while True:
                            reply = json.loads(await ws.recv())
                            if reply["type"] == "ack":
                                break
                        assert reply["results"] == [{"accepted": True}]
                        run.acked[route.courier] = route.ping(n)["ts"]
                        n += 1
                        await asyncio.sleep(0.01)
            except (websockets.ConnectionClosed, OSError):
                run.reconnected.add(route.courier)
                port = ports[1]

    await asyncio.gather(*(one(i, r) for i, r in enumerate(plan)))


async def console(port: int, run: Run, done: asyncio.Event) -> None:
    """A console on worker 0 watching the boundary area, collecting courier ids it hears of."""
    uri = f"ws://127.0.0.1:{port}/v1/ws/console?api_key={API_KEY}"
    async with websockets.connect(uri) as ws:
        bbox = [WEST[1] - 0.1, WEST[0] - 0.05, WEST[1] + 0.5, WEST[0] + 0.05]
        await ws.send(json.dumps({"type": "subscribe", "bbox": bbox}))
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 0.1))
                for m in msg.get("messages", []):
                    if m["type"] == "courier":
                        run.seen_by_console.add(m["id"])


async def settled(redis: Redis) -> None:
    for _ in range(1000):
        if await streams_idle(redis, (0, 1)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the streams did not drain")


def single_engine(plan: list[Route]) -> dict[str, tuple[float, float, float]]:
    """The same pings through one in-process live index: the embedded engine's answer."""
    index = LiveIndex()
    for n in range(MESSAGES):
        for r in plan:
            p = r.ping(n)
            index.upsert(r.courier, p["lat"], p["lng"], p["ts"])
    last = plan[1].ping(MESSAGES)  # the REST ping
    index.upsert(plan[1].courier, last["lat"], last["lng"], last["ts"])
    return {r.courier: (s.lat, s.lng, s.ts) for r in plan for s in [index.get(r.courier)]}


def test_workers_and_shards_survive_a_shard_sigkill_and_a_worker_stop(redis_url: str) -> None:
    store = MemoryStore()
    store.create_tenant("T", tenant_id=TENANT)
    store.create_api_key(TENANT, "test", secret=API_KEY)
    shard_map = two_shards()
    plan = routes(boundary(shard_map), seed=11)
    for r in plan:
        store.create_courier(TENANT, courier_id=r.courier, vehicle="bike", capacity=2)

    async def main() -> Run:
        redis = Redis.from_url(redis_url)
        await save(redis, shard_map)
        run = Run()
        with shard_process(0, redis_url), contextlib.ExitStack() as stack:
            first = stack.enter_context(shard_process(1, redis_url))
            async with workers(redis_url, store, 3) as (ports, servers):
                events = {name: asyncio.Event() for name in MOMENTS}
                done = asyncio.Event()
                watcher = asyncio.create_task(console(ports[0], run, done))
                driving = asyncio.create_task(drive(ports, plan, events, run))
                await events["kill"].wait()
                first.send_signal(signal.SIGKILL)
                first.wait()
                await events["drop"].wait()
                servers[2].should_exit = True  # its drivers move to worker 1
                await events["restart"].wait()
                await asyncio.to_thread(stack.enter_context, shard_process(1, redis_url))
                await driving
                # a REST batch through the other worker goes the same way
                last = plan[1].ping(MESSAGES)
                path = f"/v1/couriers/{plan[1].courier}/pings"
                status, body = await rest_post(ports[0], path, {"pings": [last]})
                assert (status, body["accepted"]) == (200, 1)
                run.acked[plan[1].courier] = last["ts"]
                await settled(redis)
                await asyncio.sleep(0.3)  # the last publications reach the console
                done.set()
                await watcher
                final = await _final_states(redis)
        await redis.aclose()
        engine = single_engine(plan)
        for r in plan:
            # nothing acknowledged is lost: the last acked ping is every courier's state
            assert final[r.courier][2] == run.acked[r.courier]
            assert final[r.courier] == pytest.approx(engine[r.courier])
        return run

    run = run_async(main)
    assert len(run.acked) == COURIERS
    assert run.reconnected == {r.courier for i, r in enumerate(plan) if i % 3 == 2}
    # couriers driven through worker 1 (odd ones) and held by either shard reach worker 0
    assert run.seen_by_console >= {r.courier for r in plan}


async def _final_states(redis: Redis) -> dict[str, tuple[float, float, float]]:
    out: dict[str, tuple[float, float, float]] = {}
    for s in (0, 1):
        for courier, raw in (await redis.hgetall(keys.last_positions(s))).items():
            snap = codec.snapshot_decoder.decode(raw)
            assert courier.decode() not in out, "a courier held by two shards"
            out[courier.decode()] = (snap.lat, snap.lng, snap.ts)
    owners = await redis.hgetall(keys.OWNER)
    assert len(owners) == len(out)
    return out
