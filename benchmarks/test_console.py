"""Console under load (issue 8): 5,000 couriers moving at 1 Hz; frame times in headless chromium
(requestAnimationFrame deltas) for the console's canvas layer and, in the same run, for the peer
(one Leaflet circleMarker per courier, setLatLng per message)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.runtime import Runtime
from tests.console.server import CHROMIUM, CHROMIUM_ARGS, LiveServer, chromium_missing, live_server

N = 5000
SECONDS = 20.0
CENTRE = (-1.2864, 36.8172)
PEER_JS = Path(__file__).with_name("console_peer.js")

FRAME_PROBE = """() => {
  window.__frames = [];
  let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""

pytestmark = pytest.mark.browser


class Fleet:
    """N couriers in a 30 km box, each moving and reporting once per second from a feeder thread.

    Each tick goes through the ingest path's index update and per-courier fan-out
    (``Runtime.publish_courier``), batched across couriers: ``Runtime.ingest`` one courier at a
    time cannot feed 5,000 couriers at 1 Hz from inside the server process on this machine."""

    def __init__(self, server: LiveServer, n: int) -> None:
        self.runtime: Runtime = server.app.state.runtime
        self.key = server.tenant_key(f"bench-{time.monotonic_ns()}")
        tenant = server.store.tenant_for_api_key(self.key)
        assert tenant is not None
        self.tenant = tenant.id
        rng = np.random.default_rng(8)
        self.lat = CENTRE[0] + rng.uniform(-0.13, 0.13, n)
        self.lng = CENTRE[1] + rng.uniform(-0.13, 0.13, n)
        self.heading = rng.uniform(0, 360, n)
        self.ids = [f"b{i:05d}" for i in range(n)]
        for cid in self.ids:
            server.store.create_courier(self.tenant, courier_id=cid)
        self.stop = threading.Event()
        self.ticks = 0
        self.tick()

    def tick(self) -> None:
        step = 8e-5  # ~9 m per second
        rad = np.radians(self.heading)
        self.lat += step * np.cos(rad)
        self.lng += step * np.sin(rad)
        runtime = self.runtime
        with runtime._lock:  # the lock Runtime.ingest takes around the index
            runtime.index.upsert_many(
                self.ids, self.lat, self.lng, time.time(), heading=self.heading, tenant=self.tenant
            )
        for cid in self.ids:
            runtime.publish_courier(self.tenant, cid)
        self.ticks += 1

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            self.tick()
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[LiveServer, Fleet]]:
    reason = chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    with live_server() as server:
        fleet = Fleet(server, N)
        feeder = threading.Thread(target=fleet.run, daemon=True)
        feeder.start()
        yield server, fleet
        fleet.stop.set()
        feeder.join()


def frame_stats(frames: list[float]) -> dict[str, float]:
    a = np.asarray(frames[5:])  # the first frames include page start-up
    return {
        "frames": float(a.size),
        "fps": float(a.size / (a.sum() / 1000.0)),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
    }


def measure(loaded: tuple[LiveServer, Fleet], peer: bool) -> dict[str, float]:
    server, fleet = loaded
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        if peer:
            page.goto(server.url + "/console/config.json")
            page.set_content("<html><body></body></html>")
            page.add_style_tag(url=server.url + "/console/vendor/leaflet/leaflet.css")
            page.add_script_tag(url=server.url + "/console/vendor/leaflet/leaflet.js")
            page.add_script_tag(path=str(PEER_JS))
            ws = server.url.replace("http", "ws") + f"/v1/ws/console?api_key={fleet.key}"
            page.evaluate("([u, c]) => window.startPeer(u, c, 11)", [ws, list(CENTRE)])
            count = "window.peerCount()"
        else:
            page.goto(
                f"{server.url}/console/?api_key={fleet.key}&center={CENTRE[0]},{CENTRE[1]}&zoom=11"
            )
            count = "window.hexConsole && window.hexConsole.courierCount()"
        page.wait_for_function(f"{count} >= {N}", timeout=60_000)
        page.evaluate(FRAME_PROBE)
        ticks = fleet.ticks
        time.sleep(SECONDS)
        stats = frame_stats(page.evaluate("window.__frames"))
        stats["couriers_drawn"] = float(page.evaluate(count))
        stats["fleet_updates_per_courier_per_s"] = (fleet.ticks - ticks) / SECONDS
        if not peer:
            js = page.evaluate("window.hexConsole.stats")
            stats["deltas"] = float(js["deltas"])
            for name, (calls, total, worst) in js["ms"].items():
                stats[f"{name}_mean_ms"] = total / calls
                stats[f"{name}_max_ms"] = worst
        browser.close()
    return stats


@pytest.mark.parametrize("renderer", ["console", "peer_circlemarkers"])
def test_console_frame_time_5000_couriers_1hz(
    benchmark: Any, loaded: tuple[LiveServer, Fleet], renderer: str
) -> None:
    stats = benchmark.pedantic(
        measure, args=(loaded, renderer != "console"), rounds=1, iterations=1
    )
    benchmark.extra_info.update(stats)
    print(f"\n{renderer}: " + ", ".join(f"{k}={v:.1f}" for k, v in stats.items()))
    assert stats["couriers_drawn"] >= N
