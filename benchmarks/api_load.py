"""Load test of the API over real websockets: driver pings in, console deltas out.

Starts the server (uvicorn, uvloop + httptools, one worker, embedded store) in a subprocess on a
free loopback port, drives it from separate client processes and reports accepted pings/s (from
acks) and ping-to-console latency (console receipt time minus the ping's ``ts``, which is the
wall-clock time the driver sent it).

    python -m benchmarks.api_load --couriers 2000 --seconds 20 --batch 1 --consoles 20 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
import numpy as np

CITY_BBOX = (36.70, -1.35, 36.95, -1.20)
"""Nairobi, GeoJSON order ``[w, s, e, n]``: couriers start inside it, consoles subscribe to it."""
SPEED_DEG_S = 9e-5
"""About 10 m/s: positions are a function of send time, so no ping is ever implausibly fast."""
HIST_STEP_MS = 0.1
HIST_BINS = 200_000
"""Latency histogram: 0.1 ms bins up to 20 s (larger values land in the last bin)."""


@dataclass(frozen=True)
class LoadConfig:
    port: int
    couriers: list[str]
    token_secret: str
    api_key: str
    batch: int
    window: int
    rate: float


@dataclass(frozen=True)
class Timing:
    """Wall-clock times, set once every client is connected."""

    start_at: float
    measure_from: float
    measure_to: float


async def _started(ready: Any, go: Any, timing: Any) -> Timing:
    """Tell the parent this process is connected, then wait for the common start."""
    ready.put(os.getpid())
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    return Timing(*timing[:])


# ---------------------------------------------------------------------------- drivers


class _Ack(msgspec.Struct):
    type: str
    results: list[dict[str, Any]] = []


def _position(seed: int, t: float) -> tuple[float, float]:
    w, s, e, n = CITY_BBOX
    lat0 = s + (n - s - 0.03) * ((seed * 7919) % 1000) / 1000
    lng0 = w + (e - w) * ((seed * 104729) % 1000) / 1000
    # back and forth along a meridian: continuous, so never faster than SPEED_DEG_S
    return lat0 + SPEED_DEG_S * (300 - abs(t % 600 - 300)), lng0


def _connect(url: str) -> Any:
    from websockets.asyncio.client import connect

    return connect(url, compression=None, max_size=None, ping_interval=None, open_timeout=60)


async def _drive(
    cfg: LoadConfig, seed: int, ws: Any, started: asyncio.Future[Timing], counts: dict[str, int]
) -> None:
    decoder = msgspec.json.Decoder(_Ack)
    encoder = msgspec.json.Encoder()
    interval = cfg.batch * len(cfg.couriers) / cfg.rate if cfg.rate > 0 else 0.0
    t = await started
    inflight = asyncio.Semaphore(cfg.window)

    async def acks() -> None:
        async for raw in ws:
            ack = decoder.decode(raw)
            if ack.type != "ack":
                continue
            inflight.release()
            now = time.time()
            if t.measure_from <= now < t.measure_to:
                ok = sum(1 for r in ack.results if r.get("accepted"))
                counts["accepted"] += ok
                counts["rejected"] += len(ack.results) - ok
                counts["messages"] += 1

    reader = asyncio.create_task(acks())
    await asyncio.sleep(max(0.0, t.start_at - time.time()) + interval * (seed % 97) / 97)
    next_at = time.time()
    last_ts = 0.0
    msg_id = 0
    try:
        while time.time() < t.measure_to:
            await inflight.acquire()
            if interval:
                next_at += interval
                delay = next_at - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            now = time.time()
            pings = []
            for i in range(cfg.batch):
                ts = max(now - (cfg.batch - 1 - i) * 1e-4, last_ts + 1e-6)
                last_ts = ts
                lat, lng = _position(seed, ts)
                pings.append({"lat": lat, "lng": lng, "ts": ts})
            msg_id += 1
            await ws.send(encoder.encode({"type": "pings", "id": msg_id, "pings": pings}))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _drivers_main(
    cfg: LoadConfig, offset: int, ready: Any, go: Any, timing: Any
) -> dict[str, int]:
    from api.tokens import issue_driver_token

    counts = {"accepted": 0, "rejected": 0, "messages": 0, "errors": 0}
    started: asyncio.Future[Timing] = asyncio.get_running_loop().create_future()
    connected: list[asyncio.Future[None]] = []
    opening = asyncio.Semaphore(50)  # the server's accept backlog is finite

    async def one(i: int, cid: str, done: asyncio.Future[None]) -> None:
        token = issue_driver_token(cfg.token_secret, cid, "bench", time.time() + 3600)
        try:
            async with opening:
                ws = await _connect(f"ws://127.0.0.1:{cfg.port}/v1/ws/driver?token={token}")
            done.set_result(None)
            async with ws:
                await _drive(cfg, offset + i, ws, started, counts)
        except Exception:  # a dropped connection counts, the run goes on
            counts["errors"] += 1
            if not done.done():
                done.set_result(None)

    tasks = []
    for i, cid in enumerate(cfg.couriers):
        connected.append(asyncio.get_running_loop().create_future())
        tasks.append(asyncio.create_task(one(i, cid, connected[-1])))
    await asyncio.gather(*connected)
    started.set_result(await _started(ready, go, timing))
    await asyncio.gather(*tasks)
    return counts


def _drivers_process(
    cfg: LoadConfig, offset: int, ready: Any, go: Any, timing: Any, out: Any
) -> None:
    import uvloop

    out.put(("drivers", uvloop.run(_drivers_main(cfg, offset, ready, go, timing))))


# ---------------------------------------------------------------------------- consoles


class _Update(msgspec.Struct):
    type: str
    ts: float | None = None


class _Frame(msgspec.Struct):
    type: str
    messages: list[_Update] = []


async def _console(
    cfg: LoadConfig,
    hist: np.ndarray,
    counts: dict[str, int],
    subscribed: asyncio.Event,
    started: asyncio.Future[Timing],
) -> None:
    url = f"ws://127.0.0.1:{cfg.port}/v1/ws/console?api_key={cfg.api_key}"
    decoder = msgspec.json.Decoder(_Frame)
    async with _connect(url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "bbox": list(CITY_BBOX), "id": 1}))
        while decoder.decode(await ws.recv()).type != "snapshot":
            pass
        subscribed.set()
        t = await started
        while True:
            remaining = t.measure_to + 1.0 - time.time()
            if remaining <= 0:
                return
            try:
                raw = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                return
            received = time.time()
            frame = decoder.decode(raw)
            ts = np.array(
                [m.ts for m in frame.messages if m.type == "courier" and m.ts is not None]
            )
            ts = ts[(ts >= t.measure_from) & (ts < t.measure_to)]
            if ts.size:
                bins = np.clip(((received - ts) * 1000 / HIST_STEP_MS).astype(np.int64), 0, None)
                np.add.at(hist, np.minimum(bins, HIST_BINS - 1), 1)
                counts["updates"] += int(ts.size)
            counts["frames"] += 1


async def _consoles_main(
    cfg: LoadConfig, n: int, ready: Any, go: Any, timing: Any
) -> tuple[np.ndarray, dict[str, int]]:
    hist = np.zeros(HIST_BINS, dtype=np.int64)
    counts = {"updates": 0, "frames": 0, "errors": 0}
    events = [asyncio.Event() for _ in range(n)]
    started: asyncio.Future[Timing] = asyncio.get_running_loop().create_future()

    async def one(i: int) -> None:
        try:
            await _console(cfg, hist, counts, events[i], started)
        except Exception:
            counts["errors"] += 1
            events[i].set()

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    for event in events:
        await event.wait()
    started.set_result(await _started(ready, go, timing))
    await asyncio.gather(*tasks)
    return hist, counts


def _consoles_process(cfg: LoadConfig, n: int, ready: Any, go: Any, timing: Any, out: Any) -> None:
    import uvloop

    out.put(("consoles", uvloop.run(_consoles_main(cfg, n, ready, go, timing))))


# ---------------------------------------------------------------------------- the run


@dataclass
class LoadResult:
    batch: int
    couriers: int
    consoles: int
    driver_processes: int
    seconds: float
    target_rate: float
    coalesce_s: float
    gc: str
    ws: str
    app: str
    pinned: bool
    pings_per_s: float
    messages_per_s: float
    rejected: int
    driver_errors: int
    console_errors: int
    console_updates_per_s: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    server_cpu: float | None
    """Cores the server used in the window (process CPU time / wall time)."""
    server_cpu_s_per_1000_pings: float | None
    """Server CPU seconds (user + system, /proc/<pid>/stat, every thread) per 1000 accepted pings
    in the window: independent of how much of a core the machine left the server; capacity on one
    dedicated core is 1000 / this pings/s."""
    loop_lag_p99_ms: float | None
    """How late the server's 10 ms loop timer fired, 99th percentile over the window."""
    late_on_cpu: float | None
    """Of the time the loop timer was more than 10 ms late, the share the server spent on CPU
    (near 1: its own work stalled the loop; near 0: it was waiting for a core)."""
    gc_collections: int
    gc_full_collections: int
    gc_pause_max_ms: float
    """Longest garbage collection in the window (every collection is timed by a gc callback)."""
    gc_pause_total_ms: float
    load_average: float
    cpu_model: str
    cpus: int
    date: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _loop_stats(path: str, since: float, until: float) -> dict[str, float | None]:
    """Server CPU and event-loop lag in the window, from `benchmarks.api_server`'s ticks."""
    with open(path) as f:
        watched = json.load(f)
    ticks = np.array([t for t in watched["ticks"] if since <= t[0] < until]).reshape(-1, 3)
    pauses = [p for p in watched["gc"] if since <= p[0] < until]
    gc_stats = {
        "gc_collections": len(pauses),
        "gc_full_collections": sum(1 for p in pauses if p[1] == 2),
        "gc_pause_max_ms": round(max((p[2] for p in pauses), default=0.0) * 1000, 1),
        "gc_pause_total_ms": round(sum(p[2] for p in pauses) * 1000, 1),
    }
    if not len(ticks):
        return {"server_cpu": None, "loop_lag_p99_ms": None, "late_on_cpu": None, **gc_stats}
    lag, cpu = ticks[:, 1], ticks[:, 2]
    late = lag > 0.010
    late_wall = float((lag[late] + 0.010).sum())
    return {
        "server_cpu": round(float(cpu.sum()) / (until - since), 2),
        "loop_lag_p99_ms": round(float(np.percentile(lag, 99)) * 1000, 1),
        "late_on_cpu": round(float(cpu[late].sum()) / late_wall, 2) if late_wall else None,
        **gc_stats,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the command name: state is field 3, utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def _percentile(hist: np.ndarray, q: float) -> float | None:
    total = int(hist.sum())
    if not total:
        return None
    idx = int(np.searchsorted(np.cumsum(hist), math.ceil(q * total)))
    return round((idx + 1) * HIST_STEP_MS, 1)


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _pinned_cpus() -> tuple[set[int], set[int]]:
    """The server's CPU (the first this process may use) and the clients' (the others)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError("--pin needs at least 2 CPUs")
    return {cpus[0]}, set(cpus[1:])


@contextlib.contextmanager
def _server(
    args: argparse.Namespace,
    port: int,
    secret: str,
    key: str,
    pin: tuple[set[int], set[int]] | None,
) -> Iterator[int]:
    cmd = [
        sys.executable, "-m", "benchmarks.api_server", "--port", str(port),
        "--couriers", str(args.couriers), "--api-key", key, "--token-secret", secret,
        "--coalesce", str(args.coalesce),
    ]  # fmt: skip
    if args.cprofile:
        cmd += ["--cprofile", args.cprofile]
    if args.lag_file:
        cmd += ["--lag-file", args.lag_file]
    cmd += ["--gc", args.gc, "--ws", args.ws, "--app", args.app]

    def on_its_cpu() -> None:  # in the child, before exec: every thread it starts inherits
        if pin is not None:
            os.sched_setaffinity(0, pin[0])

    proc = subprocess.Popen(
        cmd, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, preexec_fn=on_its_cpu
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.2)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args: argparse.Namespace) -> LoadResult:
    """One bounded run: server up, consoles subscribed, drivers for ``args.seconds``."""
    secret, key = secrets.token_urlsafe(32), "hxd_bench_" + secrets.token_urlsafe(16)
    port = _free_port()
    own_cpus = os.sched_getaffinity(0)
    pin = _pinned_cpus() if args.pin else None
    if pin is not None:  # this process and the clients it starts stay off the server's CPU
        os.sched_setaffinity(0, pin[1])
    try:
        return _run_pinned(args, port, secret, key, pin)
    finally:
        os.sched_setaffinity(0, own_cpus)


def _run_pinned(
    args: argparse.Namespace,
    port: int,
    secret: str,
    key: str,
    pin: tuple[set[int], set[int]] | None,
) -> LoadResult:
    from benchmarks.api_server import courier_ids

    ctx = mp.get_context("spawn")
    ids = courier_ids(args.couriers)
    own_lag_file = args.lag_file is None
    if own_lag_file:
        fd, args.lag_file = tempfile.mkstemp(suffix=".json")
        os.close(fd)
    with _server(args, port, secret, key, pin) as pid:
        if args.pid_file:
            with open(args.pid_file, "w") as f:
                f.write(str(pid))
        out, ready, go, timing = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Array("d", 3)
        shared = (ready, go, timing, out)
        base = dict(
            port=port, token_secret=secret, api_key=key, batch=args.batch, window=args.window
        )
        cfg = LoadConfig(couriers=[], rate=0.0, **base)  # type: ignore[arg-type]
        procs = [ctx.Process(target=_consoles_process, args=(cfg, args.consoles, *shared))]
        n = args.driver_processes
        for p in range(n):
            part = ids[p::n]
            rate = args.rate * len(part) / len(ids)
            dcfg = LoadConfig(couriers=part, rate=rate, **base)  # type: ignore[arg-type]
            procs.append(ctx.Process(target=_drivers_process, args=(dcfg, p * 100_000, *shared)))
        try:
            for proc in procs:
                proc.start()
            for _ in procs:
                ready.get(timeout=300)  # every client connected (and every console subscribed)
            t0 = time.time() + 0.5
            timing[:] = [t0, t0 + args.warmup, t0 + args.warmup + args.seconds]
            go.set()
            _sleep_until(timing[1])
            cpu_from = _cpu_seconds(pid)
            _sleep_until(timing[2])
            cpu_used = _cpu_seconds(pid) - cpu_from
            results = [out.get(timeout=args.warmup + args.seconds + 120) for _ in procs]
        finally:
            for proc in procs:
                proc.join(30 if go.is_set() else 0)
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
    loop = _loop_stats(args.lag_file, timing[1], timing[2])
    if own_lag_file:
        os.unlink(args.lag_file)
        args.lag_file = None
    drivers = [r for kind, r in results if kind == "drivers"]
    hist, ccounts = next(r for kind, r in results if kind == "consoles")
    accepted = sum(d["accepted"] for d in drivers)
    return LoadResult(
        batch=args.batch,
        couriers=args.couriers,
        consoles=args.consoles,
        driver_processes=n,
        seconds=args.seconds,
        target_rate=args.rate,
        coalesce_s=args.coalesce,
        gc=args.gc,
        ws=args.ws,
        app=args.app,
        pinned=args.pin,
        pings_per_s=round(accepted / args.seconds, 1),
        messages_per_s=round(sum(d["messages"] for d in drivers) / args.seconds, 1),
        rejected=sum(d["rejected"] for d in drivers),
        driver_errors=sum(d["errors"] for d in drivers),
        console_errors=ccounts["errors"],
        console_updates_per_s=round(ccounts["updates"] / args.seconds, 1),
        latency_p50_ms=_percentile(hist, 0.50),
        latency_p99_ms=_percentile(hist, 0.99),
        latency_max_ms=_percentile(hist, 1.0),
        server_cpu=loop["server_cpu"],
        server_cpu_s_per_1000_pings=round(cpu_used / accepted * 1000, 4) if accepted else None,
        loop_lag_p99_ms=loop["loop_lag_p99_ms"],
        late_on_cpu=loop["late_on_cpu"],
        gc_collections=int(loop["gc_collections"] or 0),
        gc_full_collections=int(loop["gc_full_collections"] or 0),
        gc_pause_max_ms=float(loop["gc_pause_max_ms"] or 0.0),
        gc_pause_total_ms=float(loop["gc_pause_total_ms"] or 0.0),
        load_average=round(os.getloadavg()[0], 1),
        cpu_model=_cpu_model(),
        cpus=os.cpu_count() or 0,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--couriers", type=int, default=2000, help="driver connections")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    p.add_argument("--batch", type=int, default=1, help="pings per driver message")
    p.add_argument("--window", type=int, default=2, help="unacked messages per driver")
    p.add_argument("--rate", type=float, default=0.0, help="offered pings/s in all (0: max)")
    p.add_argument("--consoles", type=int, default=20)
    p.add_argument("--driver-processes", type=int, default=2)
    p.add_argument("--coalesce", type=float, default=0.05, help="server console tick, seconds")
    p.add_argument("--cprofile", help="write a cProfile of the server here")
    p.add_argument(
        "--gc",
        choices=["default", "tuned", "off"],
        default="tuned",
        help="the server's garbage collector (tuned: as `hexdispatch serve` sets it)",
    )
    p.add_argument(
        "--ws",
        choices=["websockets-sansio", "websockets", "wsproto"],
        default="websockets-sansio",
        help="uvicorn's websocket implementation in the server",
    )
    p.add_argument(
        "--app",
        choices=["hexdispatch", "floor"],
        default="hexdispatch",
        help="floor: a bare ASGI app that only acks (benchmarks.api_floor), for comparison",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="the server alone on the first CPU, the clients on the others (sched_setaffinity)",
    )
    p.add_argument("--pid-file", help="write the server pid here (for py-spy)")
    p.add_argument("--lag-file", help="keep the server's event-loop ticks here (JSON)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: list[str] | None = None) -> None:
    result = run(parser().parse_args(argv))
    if "--json" in (argv if argv is not None else sys.argv):
        print(json.dumps(asdict(result), indent=2))
    else:
        for k, v in asdict(result).items():
            print(f"{k:>22}: {v}")


if __name__ == "__main__":
    main()
