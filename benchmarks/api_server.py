"""The API load benchmark's server: embedded store, a known tenant key, couriers, real uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from api.app import create_app
from api.settings import Settings
from store.memory import MemoryStore

TENANT_ID = "bench"


def courier_ids(count: int) -> list[str]:
    """The ids the server creates and the load generator drives, in the same order."""
    return [f"cou{i:06d}" for i in range(count)]


def build_store(couriers: int, api_key: str) -> MemoryStore:
    """An in-memory store with one tenant, its API key (known to the caller) and couriers."""
    store = MemoryStore()
    store.create_tenant("bench", tenant_id=TENANT_ID)
    store.create_api_key(TENANT_ID, "bench", secret=api_key)
    for cid in courier_ids(couriers):
        store.create_courier(TENANT_ID, courier_id=cid, vehicle="bike")
    return store


LAG_TICK_S = 0.01


async def _watch_loop(ticks: list[tuple[float, float, float]]) -> None:
    """Every 10 ms: wall time, how late the loop woke, and the process CPU time since the last
    tick. Late with CPU spent: the loop was busy; late without: the process was not running."""
    last_wall, last_cpu = time.time(), time.process_time()
    while True:
        await asyncio.sleep(LAG_TICK_S)
        wall, cpu = time.time(), time.process_time()
        ticks.append((wall, wall - last_wall - LAG_TICK_S, cpu - last_cpu))
        last_wall, last_cpu = wall, cpu


class _GcPauses:
    """Every collection the server's interpreter makes: wall time, generation, duration."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(
                (time.time(), info["generation"], time.perf_counter() - self._started)
            )


class _WatchedServer(uvicorn.Server):
    """uvicorn with the loop watcher; the ticks are written on shutdown (before uvicorn
    re-raises the signal that stopped it)."""

    def __init__(self, config: uvicorn.Config, lag_file: str | None) -> None:
        super().__init__(config)
        self.lag_file = lag_file
        self.ticks: list[tuple[float, float, float]] = []
        self.gc_pauses = _GcPauses()

    async def startup(self, sockets: Any = None) -> None:
        if self.lag_file:
            self.watcher = asyncio.create_task(_watch_loop(self.ticks))
            gc.callbacks.append(self.gc_pauses)
        await super().startup(sockets)

    async def shutdown(self, sockets: Any = None) -> None:
        if self.lag_file:
            self.watcher.cancel()
            with open(self.lag_file, "w") as f:
                json.dump({"ticks": self.ticks, "gc": self.gc_pauses.pauses}, f)
        await super().shutdown(sockets)


@contextlib.contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--couriers", type=int, default=2000)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--token-secret", required=True)
    parser.add_argument("--coalesce", type=float, default=0.05, help="seconds per console tick")
    parser.add_argument("--cprofile", help="write a cProfile of the server to this path")
    parser.add_argument("--lag-file", help="write the event loop's 10 ms ticks here (JSON)")
    parser.add_argument(
        "--gc",
        choices=["default", "tuned", "off"],
        default="tuned",
        help="tuned (as `hexdispatch serve`): start-up objects frozen, full collections rarer",
    )
    parser.add_argument("--app", choices=["hexdispatch", "floor"], default="hexdispatch")
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn's websocket library")
    args = parser.parse_args(argv)
    settings = Settings(
        token_secret=args.token_secret,
        coalesce_interval_s=args.coalesce,
        dispatch_auto=False,
        ws_send_queue=10_000,
        gc_tuned=args.gc == "tuned",  # in the app's lifespan, as `hexdispatch serve` runs it
    )
    if args.app == "floor":
        from benchmarks.api_floor import floor_app

        app: Any = floor_app
    else:
        app = create_app(settings, store=build_store(args.couriers, args.api_key))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=args.ws,
        log_level="warning",
    )
    if args.gc == "off":
        gc.disable()
    with _profiled(args.cprofile):
        _WatchedServer(config, args.lag_file).run()


if __name__ == "__main__":
    main()
