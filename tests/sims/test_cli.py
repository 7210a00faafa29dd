"""`hexdispatch sim`: flag parsing, loopback refusal, and a short run writing JSON and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.cli import app, parse_duration
from sims.errors import NotLoopback
from sims.remote import loopback_endpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800.0), ("45s", 45.0), ("2h", 7200.0), ("1.5m", 90.0)]
)
def test_durations_take_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "5x", "m", ""])
def test_durations_without_a_known_unit_are_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration(text)


@pytest.mark.parametrize(
    ("url", "http", "ws"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "ws://127.0.0.1:8000"),
        ("http://localhost:9000/", "http://localhost:9000", "ws://localhost:9000"),
        ("http://[::1]:8000", "http://[::1]:8000", "ws://[::1]:8000"),
        ("http://127.0.0.2", "http://127.0.0.2:80", "ws://127.0.0.2:80"),
    ],
)
def test_loopback_urls_are_accepted(url: str, http: str, ws: str) -> None:
    endpoint = loopback_endpoint(url)
    assert (endpoint.http, endpoint.ws) == (http, ws)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8000", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:8000"]
)
def test_other_hosts_are_refused(url: str) -> None:
    with pytest.raises(NotLoopback):
        loopback_endpoint(url)


def test_cli_refuses_a_remote_host_with_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["sim", "--url", "http://192.168.1.9:8000", "--api-key", "k"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output


def test_cli_refuses_in_process_and_url_together() -> None:
    result = CliRunner().invoke(app, ["sim", "--in-process", "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 2


def test_cli_reports_bad_settings() -> None:
    result = CliRunner().invoke(app, ["sim", "--mode", "fastest", "--duration", "1m"])
    assert result.exit_code == 2
    assert "mode" in result.output


def test_cli_run_writes_the_report_and_png_plots(tmp_path: Path) -> None:
    out, plots = tmp_path / "report.json", tmp_path / "plots"
    args = [
        "sim", "--in-process", "--couriers", "60", "--orders-per-s", "0.2", "--duration", "6m",
        "--seed", "4", "--json", str(out), "--plots", str(plots), "--quiet",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["mode"] == "optimal" and report["seed"] == 4
    assert report["config"]["duration_s"] == 360.0
    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == [
        "demand_supply_heatmap.png", "orders_over_time.png", "pickup_wait_histogram.png",
    ]  # fmt: skip
    for name in pngs:
        assert (plots / name).read_bytes()[:8] == PNG_MAGIC
