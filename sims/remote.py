"""Against a running server: real driver websockets and REST calls, from this process or several.

``run(url, config, api_key=...)`` sets up a service zone and the couriers over REST, connects one
driver websocket per courier, streams pings (``pings_per_message`` fixes per message), answers
offers after a delay, and creates orders over REST as a Poisson process, for
``config.duration_s`` of wall time. It reports accepted pings per second, the ping round trip
(message sent to its ack) and REST latencies, and the assignment latency (order created to
offer accepted). Couriers drive to the pickup, send ``pick_up`` after the restaurant wait, drive
to the drop-off and send ``deliver`` with a photo proof (the server bills the order, collects the
cash and frees the courier in that step); the server's ``order_ack`` confirms each.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import multiprocessing as mp
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import msgspec
import numpy as np

from sims.config import SimConfig
from sims.demand import Demand
from sims.errors import NotLoopback
from sims.fleet import Fleet, Phase, vehicle_mix
from sims.recorder import Recorder, Sample
from sims.report import build_report, percentiles

CONNECT_CONCURRENCY = 50
"""Sockets opened at once (the server's accept backlog is finite)."""
REST_CONCURRENCY = 16
CONNECT_TIMEOUT_S = 600.0
"""How long a driver process may take to open its sockets."""


@dataclass(frozen=True)
class Endpoint:
    http: str
    ws: str


def loopback_endpoint(url: str) -> Endpoint:
    """The server's HTTP and websocket bases; refuses any host but the loopback interface.

    Raises
    ------
    NotLoopback
        For any other host (the simulator is a load generator: it must not aim at others).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotLoopback(url, parts.hostname or "")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise NotLoopback(url, host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    return Endpoint(f"{parts.scheme}://{netloc}", f"{ws_scheme}://{netloc}")


# ---------------------------------------------------------------------------- drivers


@dataclass(frozen=True)
class DriverShare:
    """The couriers one driver process simulates."""

    endpoint: Endpoint
    config: SimConfig
    couriers: list[tuple[str, str, str]]
    """``(courier id, driver token, vehicle type)``."""
    part: int


@dataclass
class DriverStats:
    """What a driver process saw; plain values, so it crosses process boundaries."""

    pings_accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    ack_rtt_ms: list[float] = field(default_factory=list)
    offers: int = 0
    offers_rejected: int = 0
    answer_errors: Counter[str] = field(default_factory=Counter)
    assigned: dict[str, float] = field(default_factory=dict)
    at_pickup: dict[str, float] = field(default_factory=dict)
    picked_up: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, float] = field(default_factory=dict)
    """Confirmed by the server's ``order_ack``."""
    busy_s: float = 0.0
    online_s: float = 0.0
    connect_errors: int = 0


class _Driver:
    """One courier's socket: sends its fixes, reads acks, offers and answers."""

    def __init__(self, pool: _DriverPool, row: int, ws: Any) -> None:
        self.pool = pool
        self.row = row
        self.ws = ws
        self.sent: dict[int, float] = {}
        self.fixes: list[dict[str, float]] = []
        self.order: tuple[str, tuple[float, float], tuple[float, float]] | None = None

    async def send(self, payload: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # a closed socket: its acks will be missing
            await self.ws.send(self.pool.encode(payload))

    async def read(self) -> None:
        pool, stats = self.pool, self.pool.stats
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                msg = pool.decode(raw)
                kind = msg.get("type")
                if kind == "ack":
                    sent = self.sent.pop(msg.get("id"), None)
                    if sent is not None:
                        stats.ack_rtt_ms.append((time.time() - sent) * 1e3)
                    for r in msg.get("results", ()):
                        if r.get("accepted"):
                            stats.pings_accepted += 1
                        else:
                            stats.rejected[str(r.get("reason"))] += 1
                elif kind == "delta":
                    for m in msg.get("messages", ()):
                        if m.get("type") == "offer":
                            pool.on_offer(self, m)
                elif kind == "answered":
                    pool.on_answered(self, msg)
                elif kind == "order_ack":
                    order = msg.get("order") or {}
                    if order.get("state") == "picked_up":
                        stats.picked_up[order["id"]] = time.time()
                    elif order.get("state") == "delivered":
                        stats.delivered[order["id"]] = time.time()
                elif kind == "error":
                    stats.answer_errors[str(msg.get("code"))] += 1


class _DriverPool:
    """The couriers of one process: a fleet moved each tick, one socket each."""

    def __init__(self, share: DriverShare) -> None:
        cfg = share.config
        self.share = share
        self.cfg = cfg
        seed = np.random.SeedSequence([cfg.seed, share.part])
        self.rng = np.random.default_rng(seed)
        self.fleet = Fleet.create(
            len(share.couriers),
            cfg.city,
            self.rng,
            start_at=time.time(),
            duration_s=cfg.duration_s,
            ping_interval_s=cfg.ping_interval_s,
            online_fraction=1.0,
            vehicles=[v for _, _, v in share.couriers],
        )
        self.stats = DriverStats()
        self.encode = msgspec.json.Encoder().encode
        self.decode = msgspec.json.Decoder().decode
        self.drivers: list[_Driver | None] = [None] * len(share.couriers)
        self._msg_id = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on_offer(self, driver: _Driver, offer: dict[str, Any]) -> None:
        self.stats.offers += 1
        accept = (
            self.rng.random() < self.cfg.accept_probability
            and self.fleet.phase[driver.row] == Phase.IDLE
        )
        delay = self.rng.uniform(*self.cfg.accept_delay_s)
        kind = "accept" if accept else "reject"
        if not accept:
            self.stats.offers_rejected += 1
        payload = {"type": kind, "offer_id": offer["offer_id"], "id": f"{kind}:{offer['order_id']}"}
        # The coroutine is made when the timer fires: one made now and never started (the run
        # ended first) would be reported as never awaited.
        asyncio.get_running_loop().call_later(delay, lambda: self._spawn(driver.send(payload)))

    def on_answered(self, driver: _Driver, msg: dict[str, Any]) -> None:
        order = msg.get("order") or {}
        if order.get("state") != "assigned" or self.fleet.phase[driver.row] != Phase.IDLE:
            return
        pickup, dropoff = order["pickup"], order["dropoff"]
        driver.order = (order["id"], (pickup[1], pickup[0]), (dropoff[1], dropoff[0]))
        self.stats.assigned[order["id"]] = time.time()
        self.fleet.order[driver.row] = 0
        self.fleet.head_for(driver.row, pickup[1], pickup[0], Phase.TO_PICKUP)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        opening = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(row: int, token: str) -> None:
            try:
                async with opening:
                    ws = await connect(
                        f"{self.share.endpoint.ws}/v1/ws/driver?token={token}",
                        compression=None,
                        max_size=None,
                        ping_interval=None,
                        open_timeout=60,
                    )
            except Exception:
                self.stats.connect_errors += 1
                return
            driver = _Driver(self, row, ws)
            self.drivers[row] = driver
            self._spawn(driver.read())

        await asyncio.gather(*(one(i, tok) for i, (_, tok, _) in enumerate(self.share.couriers)))

    async def run(self, start: Callable[[], Awaitable[float]]) -> DriverStats:
        """Connect every socket, then ``await start()`` (the common wall-clock start, once
        every process is connected) and stream for the run's duration."""
        await self.connect()
        start_at = await start()
        cfg, f = self.cfg, self.fleet
        tick = min(cfg.tick_s, cfg.ping_interval_s)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        end = start_at + cfg.duration_s
        last = time.time()
        f.next_ping[:] = last + self.rng.uniform(0.0, cfg.ping_interval_s, len(f))
        while (now := time.time()) < end:
            dt = now - last
            last = now
            self._advance(now, dt)
            rows = f.due_pings(now, cfg.ping_interval_s)
            if rows.size:
                await self._ping(rows, now)
            await asyncio.sleep(max(0.0, tick - (time.time() - now)))
        for driver in self.drivers:
            if driver is not None:
                with contextlib.suppress(Exception):
                    await driver.ws.close()
        for task in list(self._tasks):
            task.cancel()
        return self.stats

    def _advance(self, now: float, dt: float) -> None:
        f, cfg, stats = self.fleet, self.cfg, self.stats
        arrived = f.move(dt, cfg.city)
        for row in arrived.tolist():
            driver = self.drivers[row]
            phase = f.phase[row]
            if phase == Phase.IDLE or driver is None or driver.order is None:
                f.new_waypoints(np.array([row]), cfg.city, self.rng)
            elif phase == Phase.TO_PICKUP:
                stats.at_pickup[driver.order[0]] = now
                f.phase[row] = Phase.AT_PICKUP
                f.until[row] = now + self.rng.uniform(*cfg.pickup_service_s)
            elif phase == Phase.TO_DROPOFF:
                f.phase[row] = Phase.AT_DROPOFF
                f.until[row] = now + self.rng.uniform(*cfg.dropoff_service_s)
        for row in np.flatnonzero(f.until <= now).tolist():
            driver = self.drivers[row]
            if driver is None or driver.order is None:
                continue
            order_id = driver.order[0]
            if f.phase[row] == Phase.AT_PICKUP:
                self._spawn(driver.send({"type": "pick_up", "order_id": order_id}))
                f.head_for(row, *driver.order[2], Phase.TO_DROPOFF)
            elif f.phase[row] == Phase.AT_DROPOFF:
                proof = {"kind": "photo", "reference": f"sim://proof/{order_id}"}
                self._spawn(driver.send({"type": "deliver", "order_id": order_id, "proof": proof}))
                driver.order = None
                f.order[row] = -1
                f.phase[row] = Phase.IDLE
                f.new_waypoints(np.array([row]), cfg.city, self.rng)
        stats.busy_s += float((f.order >= 0).sum()) * dt
        stats.online_s += float(len(f)) * dt

    async def _ping(self, rows: np.ndarray, now: float) -> None:
        f, cfg = self.fleet, self.cfg
        lats, lngs = f.gps_fix(rows, now, cfg.city, cfg.gps_noise_m, self.rng)
        speed = f.current_speed(rows)
        for k, row in enumerate(rows.tolist()):
            driver = self.drivers[row]
            if driver is None:
                continue
            driver.fixes.append(
                {"lat": float(lats[k]), "lng": float(lngs[k]), "ts": now, "speed": float(speed[k])}
            )
            if len(driver.fixes) >= cfg.pings_per_message:
                self._msg_id += 1
                driver.sent[self._msg_id] = time.time()
                fixes, driver.fixes = driver.fixes, []
                self.stats.messages += 1
                await driver.send({"type": "pings", "id": self._msg_id, "pings": fixes})


def drive_share(share: DriverShare) -> DriverStats:
    """Run one share's drivers to the end (in this process, on its own event loop), starting
    as soon as they are connected."""

    async def now() -> float:
        return time.time()

    return asyncio.run(_DriverPool(share).run(now))


def _drive_in_child(share: DriverShare, ready: Any, go: Any, start_at: Any, out: Any) -> None:
    """A driver process: connect, tell the parent, wait for the common start, stream."""
    import uvloop

    async def start() -> float:
        ready.put(share.part)
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        return float(start_at.value)

    out.put(uvloop.run(_DriverPool(share).run(start)))


# ---------------------------------------------------------------------------- REST side


class _Rest:
    def __init__(self, endpoint: Endpoint, api_key: str) -> None:
        import httpx2

        self.client = httpx2.AsyncClient(
            base_url=endpoint.http,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=60.0,
            limits=httpx2.Limits(max_connections=REST_CONCURRENCY),
        )
        self.latency_ms: list[float] = []

    async def post(self, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        started = time.perf_counter()
        response = await self.client.post(path, json=body, headers=headers or None)
        self.latency_ms.append((time.perf_counter() - started) * 1e3)
        response.raise_for_status()
        out: dict[str, Any] = response.json()
        return out

    async def close(self) -> None:
        await self.client.aclose()


async def _setup(rest: _Rest, config: SimConfig, run_id: str) -> list[tuple[str, str, str]]:
    """The service zone, the couriers and their driver tokens."""
    await rest.post(
        "/v1/geofences",
        {"kind": "service_zone", "name": f"sim {run_id}", "geometry": config.city.zone_geojson()},
    )
    vehicles = vehicle_mix(config.couriers, np.random.default_rng(config.seed)).tolist()
    gate = asyncio.Semaphore(REST_CONCURRENCY)

    async def courier(i: int) -> tuple[str, str, str]:
        cid = f"sim-{run_id}-{i:06d}"
        async with gate:
            await rest.post("/v1/couriers", {"id": cid, "vehicle": vehicles[i], "capacity": 1})
            token = await rest.post(f"/v1/couriers/{cid}/token", {})
        return cid, str(token["token"]), vehicles[i]

    return list(await asyncio.gather(*(courier(i) for i in range(config.couriers))))


async def _create_orders(
    rest: _Rest, config: SimConfig, rec: Recorder, start_at: float, ids: dict[str, int]
) -> None:
    """Poisson orders over REST until the run ends (or ``max_orders``)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1_000_000]))
    demand = Demand(
        config.city,
        rng,
        rate_per_s=config.orders_per_s,
        hotspots=config.hotspots,
        spread_m=config.hotspot_spread_m,
        dropoff_median_m=config.dropoff_median_m,
    )
    end = start_at + config.duration_s
    pending: set[asyncio.Task[None]] = set()

    async def create(pickup: tuple[float, float], dropoff: tuple[float, float]) -> None:
        key = secrets.token_urlsafe(12)
        sent_at = time.time()
        body = {
            "pickup": {"type": "Point", "coordinates": [pickup[1], pickup[0]]},
            "dropoff": {"type": "Point", "coordinates": [dropoff[1], dropoff[0]]},
            "amount_minor": int(rng.integers(300, 2500)) * 100,
        }
        try:
            order = await rest.post("/v1/orders", body, **{"Idempotency-Key": key})
        except Exception:
            rec.answer_errors["order_create_failed"] += 1
            return
        ids[order["id"]] = rec.orders.add(sent_at, *pickup, True)

    t = start_at
    while t < end and (
        config.max_orders is None or rec.orders.n + len(pending) < config.max_orders
    ):
        batch = demand.arrivals(t, t + 1.0)
        for i in range(len(batch)):
            await asyncio.sleep(max(0.0, float(batch.at[i]) - time.time()))
            if time.time() >= end:
                break
            task = asyncio.create_task(
                create(
                    (float(batch.pickup_lat[i]), float(batch.pickup_lng[i])),
                    (float(batch.dropoff_lat[i]), float(batch.dropoff_lng[i])),
                )
            )
            pending.add(task)
            task.add_done_callback(pending.discard)
        t += 1.0
        await asyncio.sleep(max(0.0, min(t, end) - time.time()))
    if pending:
        await asyncio.gather(*pending)


# ---------------------------------------------------------------------------- the run


async def run_async(
    url: str,
    config: SimConfig,
    *,
    api_key: str,
    processes: int = 1,
    rest_url: str | None = None,
) -> dict[str, Any]:
    """A bounded run against the server at ``url`` (loopback only); the JSON report.
    ``rest_url``: another server (an API worker of the same scale-out) for the REST calls,
    so orders and the drivers they are offered to meet on different workers."""
    endpoint = loopback_endpoint(url)
    run_id = secrets.token_hex(3)
    rest = _Rest(loopback_endpoint(rest_url or url), api_key)
    try:
        couriers = await _setup(rest, config, run_id)
        setup_ms = list(rest.latency_ms)
        rest.latency_ms.clear()
        shares = [
            DriverShare(endpoint, config, couriers[p::processes], p) for p in range(processes)
        ]
        ids: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        # Everyone connects first; streaming and orders start together once all have.
        procs: list[Any] = []
        if processes == 1:
            connected = asyncio.Event()
            go: asyncio.Future[float] = loop.create_future()

            async def start() -> float:
                connected.set()
                return await go

            drivers = [asyncio.ensure_future(_DriverPool(shares[0]).run(start))]
            await connected.wait()
            start_at = time.time() + 0.5
            go.set_result(start_at)
        else:
            ctx = mp.get_context("spawn")
            out, ready, go_event, shared_start = (
                ctx.Queue(),
                ctx.Queue(),
                ctx.Event(),
                ctx.Value("d"),
            )
            procs = [
                ctx.Process(target=_drive_in_child, args=(s, ready, go_event, shared_start, out))
                for s in shares
            ]
            for proc in procs:
                proc.start()
            for _ in procs:
                await loop.run_in_executor(None, ready.get, True, CONNECT_TIMEOUT_S)
            start_at = time.time() + 0.5
            shared_start.value = start_at
            go_event.set()
            drivers = [
                loop.run_in_executor(None, out.get, True, config.duration_s + 600) for _ in procs
            ]
        rec = Recorder(start_at=start_at)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        await _create_orders(rest, config, rec, start_at, ids)
        stats: list[DriverStats] = list(await asyncio.gather(*drivers))
        for proc in procs:
            proc.join(30)
        ended_at = time.time()
    finally:
        await rest.close()
    return _report(
        config, rec, ids, stats, start_at, ended_at, rest.latency_ms, setup_ms, processes
    )


def run(url: str, config: SimConfig, *, api_key: str, processes: int = 1) -> dict[str, Any]:
    """`run_async` on a new event loop (for scripts and other packages' tests)."""
    return asyncio.run(run_async(url, config, api_key=api_key, processes=processes))


def _report(
    config: SimConfig,
    rec: Recorder,
    ids: dict[str, int],
    stats: list[DriverStats],
    start_at: float,
    ended_at: float,
    rest_ms: list[float],
    setup_ms: list[float],
    processes: int,
) -> dict[str, Any]:
    for s in stats:
        rec.pings_accepted += s.pings_accepted
        rec.rejected.update(s.rejected)
        rec.pings_sent += s.pings_accepted + sum(s.rejected.values())
        rec.offers_made += s.offers
        rec.offers_rejected += s.offers_rejected
        rec.answer_errors.update(s.answer_errors)
        rec.busy_s += s.busy_s
        rec.online_s += s.online_s
        rec.ack_rtt_ms += s.ack_rtt_ms
        for name, times in (
            ("assigned", s.assigned),
            ("at_pickup", s.at_pickup),
            ("picked_up", s.picked_up),
            ("delivered", s.delivered),
        ):
            for order_id, at in times.items():
                if order_id in ids:
                    rec.orders.mark(name, ids[order_id], at)
    counts = rec.order_counts(ended_at)
    rec.samples.append(
        Sample(
            t=round(ended_at - start_at, 3),
            waiting=counts["waiting"],
            assigned=counts["assigned"],
            picked_up=counts["picked_up"],
            delivered=counts["delivered"],
            couriers_idle=0,
            couriers_busy=0,
            couriers_offline=0,
            pings_per_s=round(rec.pings_sent / config.duration_s, 1),
        )
    )
    report = build_report(
        replace(config, speedup=1.0),
        rec,
        ended_at=ended_at,
        wall={
            "elapsed_s": round(ended_at - start_at, 3),
            "pings_per_s": round(rec.pings_accepted / config.duration_s, 1),
            "messages": sum(s.messages for s in stats),
            "messages_per_s": round(sum(s.messages for s in stats) / config.duration_s, 1),
            "ack_rtt_ms": percentiles(rec.ack_rtt_ms, 2),
            "rest_ms": percentiles(rest_ms, 2),
            "setup_rest_ms": percentiles(setup_ms, 2),
            "driver_processes": processes,
            "connect_errors": sum(s.connect_errors for s in stats),
        },
    )
    report["source"] = "remote"
    report["payments"] = None  # settled on the server (see its ledger); drivers do not see it
    report["eta_error_s"] = None  # offers carry no ETA
    return report
