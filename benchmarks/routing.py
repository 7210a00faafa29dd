"""Benchmark CLI: hexdispatch routing against VROOM on Solomon and Li & Lim instances.

Usage: ``python -m benchmarks.routing (--suite solomon|li_lim_100 | --files PATH...) --seconds S
[--instances a,b,...] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.routing_peer import solve_with_vroom
from routing.instances import read_instance
from routing.solver import solve

SUITES = ("solomon", "li_lim_100")


def benchmarks_dir() -> Path:
    """``$HEXDISPATCH_BENCHMARKS_DIR``, else ``<repository root>/../shared/benchmarks``."""
    env = os.environ.get("HEXDISPATCH_BENCHMARKS_DIR")
    return (
        Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
    )


def suite_files(suite: str, names: Sequence[str] | None = None) -> list[Path]:
    """Instance files of a suite, sorted, optionally only the named ones (case-insensitive)."""
    folder = benchmarks_dir() / suite
    files = sorted(p for p in folder.glob("*.txt"))
    if names:
        wanted = {n.lower() for n in names}
        files = [p for p in files if p.stem.lower() in wanted]
        missing = wanted - {p.stem.lower() for p in files}
        if missing:
            raise SystemExit(f"unknown instances in {folder}: {sorted(missing)}")
    return files


def best_known(path: Path) -> tuple[int | None, float | None]:
    """Best-known (vehicles, distance) from the ``BKS.json`` beside the file, if any."""
    table = path.parent / "BKS.json"
    if not table.exists():
        return None, None
    row = json.loads(table.read_text()).get(path.stem)
    if row is None:
        return None, None
    return int(row["solved_with_vehicles"]), float(row["best_known_cost"])


def run_one(path: Path, seconds: float, peer: bool = True) -> dict[str, Any]:
    """Solve one instance with hexdispatch and (optionally) VROOM; one result row."""
    instance = read_instance(path)
    began = time.perf_counter()
    solution = solve(instance.problem, time_limit_s=seconds)
    took = time.perf_counter() - began
    bks_vehicles, bks_distance = best_known(path)
    row: dict[str, Any] = {
        "instance": instance.name,
        "vehicles": solution.vehicles_used,
        "distance": round(solution.distance, 3),
        "seconds": round(took, 2),
        "unassigned": len(solution.unassigned),
        "bks_vehicles": bks_vehicles,
        "bks_distance": bks_distance,
        "vroom_vehicles": None,
        "vroom_distance": None,
        "vroom_seconds": None,
    }
    if peer:
        result = solve_with_vroom(instance.problem)
        row["vroom_vehicles"] = result.vehicles
        row["vroom_distance"] = round(result.distance, 3)
        row["vroom_seconds"] = round(result.seconds, 2)
    return row


def gap(
    vehicles: int, distance: float, bks_vehicles: int | None, bks: float | None
) -> float | None:
    """Distance gap to the best known in percent, only when no more vehicles than it."""
    if bks is None or bks_vehicles is None or vehicles > bks_vehicles:
        return None
    return 100.0 * (distance / bks - 1.0)


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


HEADER = (
    f"{'instance':<10} {'veh':>4} {'distance':>10} {'gap%':>6} {'s':>5} {'unas':>4} | "
    f"{'bks':>3} {'bks dist':>9} | {'vroom':>5} {'distance':>10} {'gap%':>6} {'s':>5}"
)


def format_row(r: dict[str, Any]) -> str:
    """One human-readable line of a result row."""
    ours = gap(r["vehicles"], r["distance"], r["bks_vehicles"], r["bks_distance"])
    theirs = None
    if r["vroom_vehicles"] is not None:
        theirs = gap(r["vroom_vehicles"], r["vroom_distance"], r["bks_vehicles"], r["bks_distance"])
    return (
        f"{r['instance']:<10} {r['vehicles']:>4} {r['distance']:>10.2f} {_cell(ours, '+6.2f'):>6} "
        f"{r['seconds']:>5.1f} {r['unassigned']:>4} | {_cell(r['bks_vehicles'], 'd'):>3} "
        f"{_cell(r['bks_distance'], '9.2f'):>9} | {_cell(r['vroom_vehicles'], 'd'):>5} "
        f"{_cell(r['vroom_distance'], '10.2f'):>10} {_cell(theirs, '+6.2f'):>6} "
        f"{_cell(r['vroom_seconds'], '5.1f'):>5}"
    )


def versus(r: dict[str, Any]) -> str | None:
    """``better``, ``equal`` or ``worse`` than VROOM: unassigned, then vehicles, then distance."""
    if r["vroom_vehicles"] is None:
        return None
    ours = (r["unassigned"], r["vehicles"])
    theirs = (0, r["vroom_vehicles"])
    if ours == theirs and abs(r["distance"] - r["vroom_distance"]) <= 1e-6 * r["distance"]:
        return "equal"
    return "better" if (*ours, r["distance"]) < (*theirs, r["vroom_distance"]) else "worse"


def _at_bks(rows: Sequence[dict[str, Any]], prefix: str) -> tuple[int, float | None]:
    hits = [
        r
        for r in rows
        if r["bks_vehicles"] is not None
        and r[f"{prefix}vehicles"] is not None
        and r[f"{prefix}vehicles"] <= r["bks_vehicles"]
        and (prefix or r["unassigned"] == 0)
    ]
    gaps = [100.0 * (r[f"{prefix}distance"] / r["bks_distance"] - 1.0) for r in hits]
    return len(hits), (sum(gaps) / len(gaps) if gaps else None)


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, float | int | None]:
    """Share at the best-known vehicle count, mean gap there, share as good as VROOM."""
    with_bks = [r for r in rows if r["bks_vehicles"] is not None]
    at_bks, mean_gap = _at_bks(rows, "")
    vroom_at_bks, vroom_gap = _at_bks(rows, "vroom_")
    verdicts = [versus(r) for r in rows if versus(r) is not None]
    as_good = sum(1 for v in verdicts if v in ("better", "equal"))
    return {
        "instances": len(rows),
        "at_bks_vehicles": at_bks,
        "share_at_bks_vehicles": at_bks / len(with_bks) if with_bks else None,
        "mean_gap_pct": mean_gap,
        "as_good_as_vroom": as_good,
        "better_than_vroom": sum(1 for v in verdicts if v == "better"),
        "share_as_good_as_vroom": as_good / len(verdicts) if verdicts else None,
        "vroom_at_bks_vehicles": vroom_at_bks,
        "vroom_mean_gap_pct": vroom_gap,
    }


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of result rows with the summary figures below it (for RESULTS.md)."""

    def num(value: float | None, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    lines = [
        "| instance | vehicles | distance | gap % | s | unassigned | BKS veh | BKS dist "
        "| VROOM veh | VROOM dist | VROOM gap % | VROOM s | vs VROOM |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        ours = gap(r["vehicles"], r["distance"], r["bks_vehicles"], r["bks_distance"])
        theirs = None
        verdict = "–"
        if r["vroom_vehicles"] is not None:
            theirs = gap(
                r["vroom_vehicles"], r["vroom_distance"], r["bks_vehicles"], r["bks_distance"]
            )
            a = (r["unassigned"], r["vehicles"], round(r["distance"], 2))
            b = (0, r["vroom_vehicles"], round(r["vroom_distance"], 2))
            verdict = "better" if a < b else "equal" if a == b else "worse"
        lines.append(
            f"| {r['instance']} | {r['vehicles']} | {r['distance']:.2f} | {num(ours, '+.2f')} "
            f"| {r['seconds']:.1f} | {r['unassigned']} | {num(r['bks_vehicles'], 'd')} "
            f"| {num(r['bks_distance'], '.2f')} | {num(r['vroom_vehicles'], 'd')} "
            f"| {num(r['vroom_distance'], '.2f')} | {num(theirs, '+.2f')} "
            f"| {num(r['vroom_seconds'], '.1f')} | {verdict} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every instance, print the table or the JSON list."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.routing", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", choices=SUITES)
    source.add_argument("--files", nargs="+", type=Path, help="Solomon or Li & Lim files")
    source.add_argument(
        "--report", nargs="+", type=Path, help="render saved --json output as Markdown"
    )
    parser.add_argument("--seconds", type=float, help="time limit per instance (required to solve)")
    parser.add_argument("--instances", help="comma-separated instance names within the suite")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead")
    parser.add_argument("--no-peer", action="store_true", help="skip VROOM")
    args = parser.parse_args(argv)
    if args.report:
        for path in args.report:
            rows = json.loads(path.read_text())
            print(f"\n{path.stem}\n\n{markdown(rows)}\n\n{json.dumps(summary(rows))}")
        return 0
    if args.seconds is None:
        parser.error("--seconds is required to solve")
    names = [n for n in (args.instances or "").split(",") if n]
    files = args.files if args.files else suite_files(args.suite, names)
    rows = []
    if not args.json:
        print(HEADER)
    for path in files:
        rows.append(run_one(path, args.seconds, peer=not args.no_peer))
        if not args.json:
            print(format_row(rows[-1]), flush=True)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        print(json.dumps(summary(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
