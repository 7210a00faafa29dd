"""`make demo`: the API under uvicorn on loopback, with a simulated fleet feeding its runtime, so
the console at /console/ moves within seconds; stops after its duration or on Ctrl-C."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace

import uvicorn

from api.app import create_app
from api.settings import Settings
from sims.config import SimConfig
from sims.engine import LocalEngine
from sims.simulation import Simulation
from store.memory import MemoryStore

DEMO = SimConfig(couriers=300, orders_per_s=0.3, duration_s=1800.0, ping_interval_s=2.0)
"""A fleet the console draws smoothly and a demand it keeps up with."""


def free_port(preferred: int) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = s.getsockname()[1]
            return chosen
    raise OSError("no free port on 127.0.0.1")


async def serve_with_fleet(
    config: SimConfig,
    *,
    port: int,
    announce: Callable[[str, str], None],
    tick_s: float = 0.5,
) -> dict[str, int]:
    """Serve the API on ``127.0.0.1:port`` and step the simulation on the wall clock in the
    same event loop until ``config.duration_s`` has passed or the server is asked to stop;
    ``announce(console_url, api_key)`` once it is up. The final order counts."""
    key = "hdk_demo_" + secrets.token_urlsafe(18)
    settings = Settings(bootstrap_api_key=key, dispatch_auto=False)
    store = MemoryStore()
    app = create_app(settings, store=store)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # start-up failed: raise its error
            raise RuntimeError("uvicorn stopped during start-up")
        await asyncio.sleep(0.05)
    tenant = store.tenant_for_api_key(key)
    assert tenant is not None  # the lifespan created it from bootstrap_api_key
    engine = LocalEngine(app.state.runtime, tenant.id, publish=True)
    now = time.time()
    sim = Simulation(replace(config, start_at=now), engine, now)
    announce(f"http://127.0.0.1:{port}/console/?api_key={key}", key)
    try:
        while not sim.finished and not server.should_exit:
            await asyncio.sleep(tick_s)
            sim.step(time.time())
    finally:
        server.should_exit = True
        await serving
    return sim.rec.order_counts(sim.now)


def run_live_demo(config: SimConfig = DEMO, port: int = 8000) -> dict[str, int]:
    """`serve_with_fleet` on a new event loop, printing the console URL and the API key."""
    from rich.console import Console

    console = Console()

    def announce(url: str, key: str) -> None:
        console.print(
            f"[bold]hexdispatch demo[/bold]: {config.couriers} simulated couriers, "
            f"{config.orders_per_s} orders/s, for {_span(config.duration_s)} (Ctrl-C stops)\n"
            f"  console  {url}\n  API key  {key}",
            soft_wrap=True,
        )

    counts = asyncio.run(serve_with_fleet(config, port=free_port(port), announce=announce))
    console.print(f"demo over: {counts}")
    return counts


def _span(seconds: float) -> str:
    """``90`` -> ``1 min 30 s``: how long the demo runs, for people."""
    minutes, secs = divmod(round(seconds), 60)
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
