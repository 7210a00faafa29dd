"""The console in headless chromium against a real uvicorn server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.server import LiveServer

pytestmark = pytest.mark.browser

ZONE = {
    "type": "Polygon",
    "coordinates": [[[36.6, -1.45], [37.05, -1.45], [37.05, -1.15], [36.6, -1.15], [36.6, -1.45]]],
}
CENTRE = (-1.2864, 36.8172)


class Page:
    """A console tab with every console error and uncaught exception collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg: Any = None) -> None:
        self.page.wait_for_function(expression, arg=arg, timeout=10_000)


@pytest.fixture
def key(server: LiveServer) -> str:
    key = server.tenant_key(f"console-{time.monotonic_ns()}")
    server.ok(
        "POST", "/v1/geofences", key, {"kind": "service_zone", "name": "Nairobi", "geometry": ZONE}
    )
    return key


@pytest.fixture
def console(browser: Any, server: LiveServer, key: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = Page(context.new_page())
    page.page.goto(f"{server.url}/console/?api_key={key}&center={CENTRE[0]},{CENTRE[1]}&zoom=13")
    page.wait("window.hexConsole && window.hexConsole.synced()")
    yield page
    context.close()


def ping(
    server: LiveServer,
    key: str,
    courier: str,
    lat: float,
    lng: float,
    heading: float,
    age_s: float = 0,
) -> None:
    out = server.ok(
        "POST",
        f"/v1/couriers/{courier}/pings",
        key,
        {
            "pings": [
                {"lat": lat, "lng": lng, "ts": time.time() - age_s, "heading": heading, "speed": 5}
            ]
        },
    )
    assert out["accepted"] == 1, out


def add_couriers(server: LiveServer, key: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        cid = f"c{i:02d}"
        server.ok("POST", "/v1/couriers", key, {"id": cid, "vehicle": "bike"})
        ping(
            server,
            key,
            cid,
            CENTRE[0] + 0.008 * (i % 5 - 2),
            CENTRE[1] + 0.012 * (i // 5 - 1),
            (45 * i) % 360,
        )
        ids.append(cid)
    return ids


def add_order(
    server: LiveServer, key: str, pickup: tuple[float, float], dropoff: tuple[float, float]
) -> str:
    body = {
        "pickup": {"type": "Point", "coordinates": [pickup[1], pickup[0]]},
        "dropoff": {"type": "Point", "coordinates": [dropoff[1], dropoff[0]]},
    }
    order: dict[str, Any] = server.ok("POST", "/v1/orders", key, body)
    return str(order["id"])


def test_page_loads_clean_and_draws_live_layers(
    console: Page, server: LiveServer, key: str, artifacts: Path
) -> None:
    add_couriers(server, key, 12)
    server.ok("POST", "/v1/couriers/c03/status", key, {"status": "busy"})
    offered = add_order(server, key, (-1.283, 36.835), (-1.27, 36.845))
    offers = server.ok("POST", "/v1/dispatch/run", key, {})["offers"]
    assert [o["order_id"] for o in offers] == [offered]
    order = add_order(server, key, (-1.28, 36.81), (-1.295, 36.83))
    console.wait("window.hexConsole.courierCount() === 12")
    console.wait("id => window.hexConsole.order(id) !== null", order)
    console.wait("window.hexConsole.supplyCount() > 0 && window.hexConsole.lineCount() === 1")
    console.page.wait_for_selector(f"#orders li[data-id='{order}']")
    console.page.fill("#courier-search", "c1")
    console.wait("document.querySelectorAll('#couriers li').length === 2")  # c10, c11
    assert console.js("document.querySelector('#conn').textContent") == "live"
    console.page.screenshot(path=str(artifacts / "console.png"))
    assert console.errors == []


def test_couriers_appear_and_move_when_pings_arrive(
    console: Page, server: LiveServer, key: str
) -> None:
    server.ok("POST", "/v1/couriers", key, {"id": "mover"})
    ping(server, key, "mover", -1.29, 36.82, 90, age_s=120)
    console.wait("window.hexConsole.courier('mover') !== null")
    ping(server, key, "mover", -1.289, 36.823, 80)
    console.wait("window.hexConsole.courier('mover').lng > 36.8225")
    moved = console.js("window.hexConsole.courier('mover')")
    assert (moved["lat"], moved["lng"], moved["heading"]) == pytest.approx((-1.289, 36.823, 80))
    # The drawn canvas changed too: one redraw per delta frame, not per message.
    assert console.js("window.hexConsole.stats.draws") >= 2
    assert console.errors == []


def test_reconnects_and_resyncs_from_the_snapshot(
    console: Page, server: LiveServer, key: str
) -> None:
    server.ok("POST", "/v1/couriers", key, {"id": "r1"})
    ping(server, key, "r1", -1.29, 36.82, 0)
    console.wait("window.hexConsole.courier('r1') !== null")
    console.js("window.hexConsole.reconnect()")
    console.wait("window.hexConsole.stats.connects >= 2 && window.hexConsole.synced()")
    assert console.js("window.hexConsole.courier('r1') !== null")
    # The subscription follows the viewport: far away the courier is not in the snapshot.
    console.js("window.hexConsole.map.setView([-4.05, 39.66], 13)")  # Mombasa
    console.wait("window.hexConsole.courier('r1') === null")
    console.js("window.hexConsole.map.setView([-1.29, 36.82], 13)")
    console.wait("window.hexConsole.courier('r1') !== null")
    assert console.errors == []


def test_a_fence_drawn_in_the_ui_exists_through_the_api(
    console: Page, server: LiveServer, key: str
) -> None:
    page = console.page
    page.click("#draw-fence")
    box = page.locator("#map").bounding_box()
    assert box is not None
    corners = [(300, 250), (500, 250), (500, 420), (300, 420)]
    expected = []
    for x, y in corners:
        page.mouse.click(box["x"] + x, box["y"] + y)
        ll = console.js("([x, y]) => window.hexConsole.map.containerPointToLatLng([x, y])", [x, y])
        expected.append([ll["lng"], ll["lat"]])
    page.fill("#fence-name", "drawn by test")
    page.select_option("#fence-kind", "restricted")
    page.click("#fence-save")
    console.wait("window.hexConsole.fenceCount() === 2")
    fences = server.ok("GET", "/v1/geofences?kind=restricted", key)["features"]
    assert [f["properties"]["name"] for f in fences] == ["drawn by test"]
    ring = fences[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    for got, want in zip(ring[:-1], expected, strict=True):
        assert got == pytest.approx(want, abs=1e-6)

    # Edit it: open its popup, drag the first vertex, rename, save (PATCH).
    page.mouse.click(box["x"] + 400, box["y"] + 330)
    page.click(".edit-fence")
    page.wait_for_selector(".vertex-icon")
    page.mouse.move(box["x"] + 300, box["y"] + 250)
    page.mouse.down()
    page.mouse.move(box["x"] + 290, box["y"] + 240, steps=4)
    page.mouse.move(box["x"] + 260, box["y"] + 210, steps=4)
    page.mouse.up()
    moved = console.js(
        "([x, y]) => window.hexConsole.map.containerPointToLatLng([x, y])", [260, 210]
    )
    page.fill("#fence-name", "edited by test")
    page.click("#fence-save")
    page.wait_for_selector("#fence-editor", state="hidden")
    fence = server.ok("GET", f"/v1/geofences/{fences[0]['id']}", key)
    assert fence["properties"]["name"] == "edited by test"
    first = fence["geometry"]["coordinates"][0][0]
    assert first == pytest.approx([moved["lng"], moved["lat"]], abs=2e-5)
    assert console.errors == []


def test_an_assignment_draws_its_line(console: Page, server: LiveServer, key: str) -> None:
    server.ok("POST", "/v1/couriers", key, {"id": "rider"})
    ping(server, key, "rider", -1.292, 36.815, 30)
    order = add_order(server, key, (-1.291, 36.816), (-1.295, 36.83))
    console.wait("id => window.hexConsole.order(id) !== null", order)
    assert console.js("window.hexConsole.lineCount()") == 0
    (offer,) = server.ok("POST", "/v1/dispatch/run", key, {})["offers"]
    assert (offer["order_id"], offer["courier_id"]) == (order, "rider")
    console.wait("id => window.hexConsole.order(id).state === 'offered'", order)
    assert console.js("window.hexConsole.lineCount()") == 1
    server.ok("POST", f"/v1/offers/{offer['offer_id']}/accept", key, {})
    console.wait("id => window.hexConsole.order(id).state === 'assigned'", order)
    assert console.js("window.hexConsole.lineCount()") == 1
    feed = console.js("document.querySelector('#events').textContent")
    assert f"order {order}: offered to rider" in feed
    assert f"order {order}: assigned to rider" in feed
    assert console.errors == []


def test_dispatcher_buttons_call_the_api(console: Page, server: LiveServer, key: str) -> None:
    page = console.page
    for cid, (lat, lng) in {"hand": (-1.29, 36.82), "disp": (-1.275, 36.80)}.items():
        server.ok("POST", "/v1/couriers", key, {"id": cid})
        ping(server, key, cid, lat, lng, 0)
    by_hand = add_order(server, key, (-1.2905, 36.8205), (-1.295, 36.83))
    page.wait_for_selector(f"#orders li[data-id='{by_hand}'] .assign")
    page.click(f"#orders li[data-id='{by_hand}'] .assign")
    page.click("#couriers li[data-id='hand']")
    console.wait("id => window.hexConsole.order(id).courier_id === 'hand'", by_hand)
    console.wait("window.hexConsole.lineCount() === 1")
    assert server.ok("GET", f"/v1/orders/{by_hand}", key)["courier_id"] == "hand"

    dispatched = add_order(server, key, (-1.2752, 36.8002), (-1.28, 36.79))
    console.wait("id => window.hexConsole.order(id) !== null", dispatched)
    page.click("#run-dispatch")
    console.wait("id => window.hexConsole.order(id).state === 'offered'", dispatched)
    assert console.js("id => window.hexConsole.order(id).courier_id", dispatched) == "disp"
    console.wait("window.hexConsole.lineCount() === 2")

    other = add_order(server, key, (-1.281, 36.811), (-1.295, 36.83))
    page.wait_for_selector(f"#orders li[data-id='{other}'] .cancel")
    page.click(f"#orders li[data-id='{other}'] .cancel")
    console.wait("id => window.hexConsole.order(id).state === 'cancelled'", other)
    assert server.ok("GET", f"/v1/orders/{other}", key)["state"] == "cancelled"
    assert console.errors == []
