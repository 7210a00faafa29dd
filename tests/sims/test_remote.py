"""--url mode against a real uvicorn server on loopback: sockets, pings, orders, offers."""

from __future__ import annotations

from api.settings import Settings
from sims import remote
from sims.city import City
from sims.config import SimConfig
from tests.console.server import live_server

CONFIG = SimConfig(
    couriers=16,
    orders_per_s=2.0,
    duration_s=8.0,
    seed=5,
    ping_interval_s=0.25,
    pings_per_message=2,
    tick_s=0.1,
    city=City("tiny", -1.2864, 36.8172, 120.0, 120.0),
    hotspots=2,
    hotspot_spread_m=20.0,
    dropoff_median_m=30.0,
    gps_noise_m=2.0,
    pickup_service_s=(0.1, 0.3),
    dropoff_service_s=(0.1, 0.3),
    accept_probability=1.0,
    accept_delay_s=(0.05, 0.2),
    glitch_probability=0.0,
)


def test_remote_run_streams_pings_and_gets_orders_assigned() -> None:
    settings = Settings(token_secret="s" * 40, dispatch_window_s=0.5, coalesce_interval_s=0.05)
    with live_server(settings) as server:
        key = server.tenant_key("simulated")
        report = remote.run(server.url, CONFIG, api_key=key)
        tenant = server.store.tenant_for_api_key(key)
        assert tenant is not None
        stored = server.store.list_orders(tenant.id, limit=1000)
        ledger = server.store.journal_entries(tenant.id)
    wall = report["wall"]
    assert wall["connect_errors"] == 0
    pings = report["pings"]
    # 16 couriers, a fix every 0.25 s for 8 s, two per message: about 512 pings.
    assert 300 <= pings["sent"] <= 600
    assert pings["accepted"] == pings["sent"] and pings["rejected"] == 0
    assert wall["pings_per_s"] > 0
    # every message acked, but those still in flight when the run stopped
    assert wall["messages"] - CONFIG.couriers <= wall["ack_rtt_ms"]["count"] <= wall["messages"]
    assert wall["ack_rtt_ms"]["p99"] is not None and wall["rest_ms"]["count"] == report["created"]
    assert report["created"] == len(stored) > 0
    assert report["offers"]["made"] > 0
    assigned = report["assignment_latency_s"]["count"]
    served = {"assigned", "picked_up", "delivered"}
    assert 0 < assigned == sum(o.state in served for o in stored)
    # pick_up and deliver went over the driver sockets; each ack the drivers got is a stored
    # transition (an ack still in flight at the end is missing from the report, not the store).
    counts = report["orders"]
    on_server = {state: sum(o.state == state for o in stored) for state in served}
    assert counts["picked_up"] + counts["delivered"] > 0
    assert counts["delivered"] <= on_server["delivered"]
    assert (
        counts["picked_up"] + counts["delivered"] <= on_server["picked_up"] + on_server["delivered"]
    )
    assert len({e.order_id for e in ledger if e.order_id}) >= counts["delivered"]
    assert report["payments"] is None and report["source"] == "remote"
