"""Scale-out load benchmark: the API load generator against one API worker in front of 1 and 2
shard processes over a throwaway Redis, with the embedded engine (no Redis) as the peer, in
the same run. Reports accepted pings/s (acks) and ping-to-console latency.

    python -m benchmarks.scaleout --couriers 1000 --seconds 15 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from shapely.geometry import box

from benchmarks import api_load
from geo.cells import polygon_cover
from scaling.shard_map import ShardMap, balanced, save
from scaling.throwaway_redis import throwaway_redis

SHARD_RESOLUTION = 5
"""Resolution-5 cells (about 250 km²): the benchmark city spans several, so 2 shards split it."""


def city_map(shards: int) -> ShardMap:
    interior, boundary = polygon_cover(box(*api_load.CITY_BBOX), SHARD_RESOLUTION)
    return balanced([*interior.tolist(), *boundary.tolist()], shards, SHARD_RESOLUTION)


@contextlib.contextmanager
def shard_processes(url: str, shards: int) -> Iterator[None]:
    procs = []
    try:
        for s in range(shards):
            cmd = [sys.executable, "-c", "from api.cli import main; main()"]
            cmd += ["shard", "--id", str(s), "--redis", url]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            assert proc.stdout is not None
            if "ready" not in proc.stdout.readline():
                raise RuntimeError(f"shard {s} did not start")
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


async def _write_map(url: str, shard_map: ShardMap) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.flushall()
        await save(client, shard_map)
    finally:
        await client.aclose()


def run_one(load_args: list[str], shards: int) -> dict[str, Any]:
    """One load run; ``shards`` 0 is the embedded engine (no Redis)."""
    args = api_load.parser().parse_args(load_args)
    if shards == 0:
        os.environ.pop("HEXDISPATCH_REDIS_URL", None)
        return {"setup": "embedded", **asdict(api_load.run(args))}
    with throwaway_redis() as server:
        asyncio.run(_write_map(server.url, city_map(shards)))
        with shard_processes(server.url, shards):
            os.environ["HEXDISPATCH_REDIS_URL"] = server.url  # the API server inherits it
            try:
                result = api_load.run(args)
            finally:
                os.environ.pop("HEXDISPATCH_REDIS_URL", None)
    return {"setup": f"{shards} shard(s)", **asdict(result)}


async def _drain(url: str, entries: int, couriers: int) -> dict[str, Any]:
    """Fill one shard's stream with ``entries`` one-ping messages, then time a shard process
    applying all of them (read, index update, snapshot, publish, XACK): its throughput alone."""
    import time

    from redis.asyncio import Redis

    from scaling import codec, keys
    from scaling.codec import Pings

    client = Redis.from_url(url)
    await client.flushall()
    await save(client, city_map(1))
    w, s, e, n = api_load.CITY_BBOX
    t0 = time.time() - entries / couriers - 10
    pipe = client.pipeline(transaction=False)
    for i in range(entries):
        c, step = i % couriers, i // couriers
        lat = s + (n - s) * ((c * 7919) % couriers) / couriers
        lng = w + (e - w) * c / couriers + step * 1e-5
        entry = Pings("bench", f"cou{c:06d}", "bike", 1, [(lat, lng, t0 + step, None, None, None)])
        pipe.xadd(keys.stream(0), {codec.ENTRY_FIELD: codec.encode(entry)})
        if len(pipe) >= 5000:
            await pipe.execute()
    await pipe.execute()
    start = time.perf_counter()
    with shard_processes(url, 1):
        while True:
            pending = await client.xpending(keys.stream(0), keys.GROUP)
            (group,) = await client.xinfo_groups(keys.stream(0))
            if not pending["pending"] and not group.get("lag"):
                break
            await asyncio.sleep(0.01)
        took = time.perf_counter() - start
    applied = await client.hlen(keys.last_positions(0))
    await client.aclose()
    return {
        "setup": "one shard draining its stream (start-up included)",
        "entries": entries,
        "couriers": couriers,
        "seconds": round(took, 2),
        "entries_per_s": round(entries / took, 1),
        "couriers_in_snapshot": applied,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--couriers", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--consoles", type=int, default=5)
    p.add_argument("--rate", type=float, default=0.0, help="offered pings/s (0: as fast as acks)")
    p.add_argument("--batch", type=int, default=1, help="pings per driver message")
    p.add_argument("--shards", default="0,1,2", help="0 is the embedded peer")
    p.add_argument("--drain", type=int, default=0, help="entries for the shard drain benchmark")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.drain:
        with throwaway_redis() as server:
            result = asyncio.run(_drain(server.url, args.drain, args.couriers))
        print(json.dumps(result, indent=2))
        return
    load = ["--couriers", str(args.couriers), "--seconds", str(args.seconds)]
    load += ["--consoles", str(args.consoles), "--rate", str(args.rate), "--gc", "tuned"]
    load += ["--batch", str(args.batch)]
    results = [run_one(load, int(s)) for s in args.shards.split(",")]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    keys = ("setup", "pings_per_s", "latency_p50_ms", "latency_p99_ms", "rejected", "driver_errors")
    for r in results:
        print("  ".join(f"{k}={r[k]}" for k in keys))


if __name__ == "__main__":
    main()
