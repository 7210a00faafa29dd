"""In-process runs: determinism, report fields and their consistency."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sims.city import City
from sims.config import SimConfig
from sims.errors import InvalidSimConfig
from sims.in_process import report_of, run_in_process, simulate
from sims.report import without_wall

SMALL = SimConfig(
    couriers=80,
    orders_per_s=0.15,
    duration_s=900.0,
    seed=11,
    city=City("small", -1.2864, 36.8172, 8000.0, 8000.0),
    hotspots=4,
    patience_s=300.0,
)


@pytest.fixture(scope="module")
def small_run() -> tuple[dict[str, Any], Any]:
    sim = simulate(SMALL)
    return report_of(sim), sim


def test_same_seed_gives_the_same_report_apart_from_wall_time(
    small_run: tuple[dict[str, Any], Any],
) -> None:
    report, _ = small_run
    again = run_in_process(SMALL)
    assert without_wall(again) == without_wall(report)
    other = run_in_process(replace(SMALL, seed=12))
    assert without_wall(other) != without_wall(report)


def test_report_has_the_documented_fields(small_run: tuple[dict[str, Any], Any]) -> None:
    report, _ = small_run
    for key in (
        "delivered", "on_time_pct", "mean_pickup_wait_s", "p90_pickup_wait_s", "eta_error_s",
        "courier_utilisation", "pings", "assignment_latency_s", "payments", "timeline", "wall",
    ):  # fmt: skip
        assert key in report, key
    assert set(report["pings"]) >= {"accepted", "rejected", "rejected_by_reason"}
    assert {"p50", "p99"} <= set(report["assignment_latency_s"])
    assert report["wall"]["elapsed_s"] > 0


def test_report_numbers_are_consistent(small_run: tuple[dict[str, Any], Any]) -> None:
    report, sim = small_run
    orders = report["orders"]
    assert report["created"] == orders["created"] > 0
    assert 0 < report["delivered"] <= report["created"]
    parts = ("waiting", "assigned", "picked_up", "delivered", "cancelled")
    assert sum(orders[k] for k in parts) == orders["created"]
    pings = report["pings"]
    assert pings["accepted"] + pings["rejected"] == pings["sent"] > 0
    assert sum(pings["rejected_by_reason"].values()) == pings["rejected"]
    # GPS glitches report a poor accuracy: the index refuses them for that reason.
    assert set(pings["rejected_by_reason"]) <= {"low_accuracy"}
    pay = report["payments"]
    assert pay["settled"] == pay["delivered_cash_orders"] == report["delivered"]
    assert pay["intents"] == report["created"]
    assert 0.0 < report["courier_utilisation"] <= 1.0
    assert 0.0 <= report["on_time_pct"] <= 100.0
    assert report["offers"]["accepted"] <= report["offers"]["made"]
    assert report["pickup_wait_s"]["p50"] <= report["p90_pickup_wait_s"]
    # The engine's store agrees with the report: one billing and one cash receipt per delivery.
    store, tenant = sim.engine.store, sim.engine.tenant_id
    delivered = store.list_orders(tenant, state="delivered", limit=100_000)
    assert len(delivered) == report["delivered"]
    settled = [p for o in delivered for p in store.payments_of_order(tenant, o.id)]
    assert all(p.state == "succeeded" and p.captured_minor == p.amount_minor for p in settled)
    assert len(store.journal_entries(tenant)) == pay["ledger_entries"]


def test_order_limit_stops_the_run_early() -> None:
    config = replace(SMALL, max_orders=5, duration_s=3600.0, couriers=40)
    report = run_in_process(config)
    assert report["created"] == 5
    assert report["delivered"] == 5
    assert report["sim_seconds"] < 3600.0


def test_invalid_settings_are_all_reported_at_once() -> None:
    with pytest.raises(InvalidSimConfig) as err:
        SimConfig(couriers=0, duration_s=-1.0, accept_probability=1.5, mode="fastest")  # type: ignore[arg-type]
    fields = {f for f, _, _ in err.value.problems}
    assert fields == {"couriers", "duration_s", "accept_probability", "mode"}
