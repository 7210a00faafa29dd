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


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, float | int | None]:
    """Share at the best-known vehicle count, mean gap there, share as good as VROOM."""
    with_bks = [r for r in rows if r["bks_vehicles"] is not None]
    at_bks = [r for r in with_bks if r["vehicles"] <= r["bks_vehicles"] and r["unassigned"] == 0]
    gaps = [gap(r["vehicles"], r["distance"], r["bks_vehicles"], r["bks_distance"]) for r in at_bks]
    peer = [r for r in rows if r["vroom_vehicles"] is not None]
    as_good = [
        r
        for r in peer
        if (r["unassigned"], r["vehicles"], r["distance"])
        <= (0, r["vroom_vehicles"], r["vroom_distance"] + 1e-6)
    ]
    return {
        "instances": len(rows),
        "at_bks_vehicles": len(at_bks),
        "share_at_bks_vehicles": len(at_bks) / len(with_bks) if with_bks else None,
        "mean_gap_pct": sum(g for g in gaps if g is not None) / len(gaps) if gaps else None,
        "as_good_as_vroom": len(as_good),
        "share_as_good_as_vroom": len(as_good) / len(peer) if peer else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every instance, print the table or the JSON list."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.routing", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", choices=SUITES)
    source.add_argument("--files", nargs="+", type=Path, help="Solomon or Li & Lim files")
    parser.add_argument("--seconds", type=float, required=True, help="time limit per instance")
    parser.add_argument("--instances", help="comma-separated instance names within the suite")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead")
    parser.add_argument("--no-peer", action="store_true", help="skip VROOM")
    args = parser.parse_args(argv)
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
