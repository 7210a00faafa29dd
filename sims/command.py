"""`hexdispatch sim`: the command's work, behind the typer options in `api.cli`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from sims.config import SimConfig
from sims.errors import InvalidSimConfig
from sims.in_process import report_of, simulate
from sims.output import plot_simulation, write_json
from sims.progress import LiveProgress


@dataclass(frozen=True)
class Outputs:
    """Where results go; progress on stderr unless ``quiet``."""

    json_path: Path | None = None
    plots_dir: Path | None = None
    quiet: bool = False


def run_local(config: SimConfig, outputs: Outputs, *, compare: bool = False) -> dict[str, Any]:
    """In-process run (or both modes with ``compare``): progress, JSON, plots, summary."""
    console = Console(stderr=True, quiet=outputs.quiet)
    modes = ("optimal", "nearest") if compare else (config.mode,)
    reports: dict[str, Any] = {}
    for mode in modes:
        run_config = replace(config, mode=mode)
        title = f"hexdispatch sim · in process · {mode} · {config.couriers} couriers"
        with LiveProgress(title, console) as progress:
            sim = simulate(run_config, progress.update if not outputs.quiet else None)
        reports[mode] = report_of(sim)
        if outputs.plots_dir is not None:
            plot_dir = outputs.plots_dir / mode if compare else outputs.plots_dir
            for path in plot_simulation(sim, reports[mode], plot_dir):
                console.print(f"plot {path}")
    result = reports if compare else reports[config.mode]
    if outputs.json_path is not None:
        console.print(f"report {write_json(result, outputs.json_path)}")
    print_summary(console, reports)
    return result


def run_remote(
    url: str, api_key: str | None, config: SimConfig, outputs: Outputs, *, processes: int
) -> dict[str, Any]:
    """A run against a server on loopback: JSON report and a summary (no live progress and
    no plots: the drivers live in their own event loop, possibly in other processes)."""
    from sims import remote

    endpoint = remote.loopback_endpoint(url)
    if not api_key:
        raise InvalidSimConfig(
            [("api_key", None, "--url needs the tenant API key (--api-key or HEXDISPATCH_API_KEY)")]
        )
    console = Console(stderr=True, quiet=outputs.quiet)
    console.print(
        f"driving {endpoint.http}: {config.couriers} driver sockets in {processes} process(es), "
        f"{config.orders_per_s} orders/s, for {config.duration_s:g} s"
    )
    report = remote.run(url, config, api_key=api_key, processes=processes)
    if outputs.json_path is not None:
        console.print(f"report {write_json(report, outputs.json_path)}")
    if outputs.plots_dir is not None:
        console.print("plots are drawn for in-process runs only")
    wall = report["wall"]
    console.print(
        f"{wall['pings_per_s']:,} pings/s accepted, ack round trip p50 {wall['ack_rtt_ms']['p50']} ms "
        f"p99 {wall['ack_rtt_ms']['p99']} ms; REST p99 {wall['rest_ms']['p99']} ms"
    )
    print_summary(console, {"remote": report})
    return report


def print_summary(console: Console, reports: dict[str, dict[str, Any]]) -> None:
    for mode, r in reports.items():
        wall = r.get("wall", {})
        console.print(
            f"[bold]{mode}[/bold]: {r['delivered']} delivered of {r['created']} created, "
            f"on time {r['on_time_pct']} %, mean pickup wait {r['mean_pickup_wait_s']} s "
            f"(p90 {r['p90_pickup_wait_s']} s), utilisation {r['courier_utilisation']}, "
            f"pings {r['pings']['accepted']} accepted / {r['pings']['rejected']} rejected"
            + (f", {wall['speedup_achieved']}× real time" if wall.get("speedup_achieved") else "")
        )
