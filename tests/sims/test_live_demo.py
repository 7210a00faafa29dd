"""`make demo`: the server and a simulated fleet in one event loop; a console sees it move."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from websockets.asyncio.client import connect

from sims.live_demo import DEMO, free_port, serve_with_fleet


def test_console_of_the_demo_server_receives_moving_couriers() -> None:
    config = replace(DEMO, couriers=40, orders_per_s=0.5, duration_s=4.0, ping_interval_s=0.5)
    port = free_port(0)
    seen: dict[str, set[tuple[float, float]]] = {}
    announced: list[str] = []

    async def console(url: str, key: str) -> None:
        ws_url = f"ws://127.0.0.1:{port}/v1/ws/console?api_key={key}"
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "bbox": [36.4, -1.5, 37.2, -1.0]}))
            while True:
                msg = json.loads(await ws.recv())
                for m in msg.get("messages", msg.get("couriers", [])):
                    if m.get("type") == "courier":
                        seen.setdefault(m["id"], set()).add((m["lat"], m["lng"]))

    async def main() -> dict[str, int]:
        def announce(url: str, key: str) -> None:
            announced.append(url)
            watching.append(asyncio.ensure_future(console(url, key)))

        watching: list[asyncio.Future[None]] = []
        counts = await serve_with_fleet(config, port=port, announce=announce, tick_s=0.1)
        for task in watching:
            task.cancel()
        await asyncio.gather(*watching, return_exceptions=True)
        return counts

    counts = asyncio.run(main())
    assert announced and announced[0].startswith(f"http://127.0.0.1:{port}/console/?api_key=")
    assert counts["created"] > 0
    moved = [cid for cid, positions in seen.items() if len(positions) > 1]
    assert len(moved) >= 10, f"{len(seen)} couriers seen, {len(moved)} moving"
