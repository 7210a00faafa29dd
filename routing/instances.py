"""Readers for Solomon (VRPTW) and Li & Lim (PDPTW) benchmark files, format detected from content."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from routing.errors import InvalidInstance
from routing.model import Job, Problem, Shipment, Stop, Vehicle
from routing.travel_time import EuclideanTravelTime

Format = Literal["solomon", "li_lim"]


@dataclass(frozen=True)
class Instance:
    """A benchmark instance as a routing problem; location ``i`` is node ``i`` of the file."""

    name: str
    format: Format
    problem: Problem
    x: np.ndarray
    y: np.ndarray


def _numbers(path: str, line_no: int, text: str, count: int, field: str) -> list[float]:
    parts = text.split()
    if len(parts) != count:
        raise InvalidInstance(path, line_no, field, text.strip(), f"need {count} numbers")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidInstance(path, line_no, field, text.strip(), "not all numbers") from None
    if not all(np.isfinite(values)):
        raise InvalidInstance(path, line_no, field, text.strip(), "not all finite")
    return values


def detect_format(text: str) -> Format | None:
    """``"solomon"`` when the text has a VEHICLE section, ``"li_lim"`` when its first line is
    three numbers, else ``None``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if any(ln.strip().upper() == "VEHICLE" for ln in lines[:5]):
        return "solomon"
    if lines:
        try:
            if len([float(p) for p in lines[0].split()]) == 3:
                return "li_lim"
        except ValueError:
            return None
    return None


def read_instance(path: str | Path) -> Instance:
    """Read a Solomon or Li & Lim file, whichever it is.

    Raises
    ------
    InvalidInstance
        Naming the file, line, field and value of the first malformed item.
    """
    p = Path(path)
    text = p.read_text()
    fmt = detect_format(text)
    if fmt == "solomon":
        return _read_solomon(str(p), p.stem, text)
    if fmt == "li_lim":
        return _read_li_lim(str(p), p.stem, text)
    raise InvalidInstance(str(p), 1, "format", text[:40], "neither Solomon nor Li & Lim")


def _rows(path: str, lines: list[tuple[int, str]], width: int) -> np.ndarray:
    rows = [_numbers(path, no, ln, width, "row") for no, ln in lines]
    if len(rows) < 2:
        raise InvalidInstance(
            path, lines[0][0] if lines else 1, "rows", len(rows), "need a depot and a customer"
        )
    table = np.array(rows)
    for col, name in ((0, "id"),):
        if not np.array_equal(table[:, col], np.arange(len(rows))):
            bad = int(np.flatnonzero(table[:, col] != np.arange(len(rows)))[0])
            raise InvalidInstance(path, lines[bad][0], name, table[bad, col], f"expected {bad}")
    for col, name in ((3, "demand"), (4, "earliest"), (5, "latest"), (6, "service")):
        values = np.abs(table[:, col]) if name == "demand" else table[:, col]
        if (values < 0).any():
            bad = int(np.flatnonzero(values < 0)[0])
            raise InvalidInstance(path, lines[bad][0], name, table[bad, col], "negative")
    late = np.flatnonzero(table[:, 4] > table[:, 5])
    if late.size:
        bad = int(late[0])
        raise InvalidInstance(path, lines[bad][0], "latest", table[bad, 5], "before earliest")
    return table


def _instance(
    name: str,
    fmt: Format,
    table: np.ndarray,
    vehicles: int,
    capacity: float,
    shipments: tuple[Shipment, ...],
    jobs: tuple[Job, ...],
) -> Instance:
    x, y = table[:, 1].copy(), table[:, 2].copy()
    travel = EuclideanTravelTime().matrix(y, x)
    shift = (float(table[0, 4]), float(table[0, 5]))
    fleet = tuple(Vehicle(f"v{k}", 0, 0, (capacity,), shift) for k in range(vehicles))
    problem = Problem(vehicles=fleet, travel=travel, shipments=shipments, jobs=jobs)
    return Instance(name, fmt, problem, x, y)


def _stop(row: np.ndarray) -> Stop:
    return Stop(int(row[0]), float(row[6]), (float(row[4]), float(row[5])))


def _read_solomon(path: str, name: str, text: str) -> Instance:
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    heads = [
        k
        for k, (_, ln) in enumerate(lines)
        if ln.strip().upper().startswith(("VEHICLE", "CUSTOMER"))
    ]
    if len(heads) != 2:
        raise InvalidInstance(path, 1, "sections", len(heads), "need VEHICLE and CUSTOMER sections")
    v_at, c_at = heads
    if c_at - v_at != 3:
        no = lines[v_at][0]
        raise InvalidInstance(path, no, "VEHICLE", c_at - v_at - 1, "need a header and one row")
    count, capacity = _numbers(path, lines[v_at + 2][0], lines[v_at + 2][1], 2, "vehicles")
    if count < 1 or not count.is_integer() or capacity <= 0:
        raise InvalidInstance(
            path,
            lines[v_at + 2][0],
            "vehicles",
            (count, capacity),
            "need >= 1 vehicle, capacity > 0",
        )
    table = _rows(path, lines[c_at + 2 :], 7)
    jobs = tuple(Job(str(int(r[0])), _stop(r), (float(r[3]),), kind="delivery") for r in table[1:])
    return _instance(name, "solomon", table, int(count), capacity, (), jobs)


def _read_li_lim(path: str, name: str, text: str) -> Instance:
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    count, capacity, speed = _numbers(path, lines[0][0], lines[0][1], 3, "header")
    if count < 1 or not count.is_integer() or capacity <= 0 or speed < 0:
        raise InvalidInstance(
            path,
            lines[0][0],
            "header",
            (count, capacity, speed),
            "need >= 1 vehicle, capacity > 0, speed >= 0",
        )
    table = _rows(path, lines[1:], 9)
    n = len(table)
    shipments = []
    for k in range(1, n):
        row = table[k]
        pick, drop = int(row[7]), int(row[8])
        no = lines[1 + k][0]
        if (pick > 0) == (drop > 0):
            raise InvalidInstance(
                path, no, "pickup_index/delivery_index", (pick, drop), "exactly one must be > 0"
            )
        other = drop or pick
        if not 0 < other < n or int(table[other, 7 if drop else 8]) != k:
            raise InvalidInstance(
                path,
                no,
                "delivery_index" if drop else "pickup_index",
                other,
                "no matching partner row",
            )
        if drop:
            if row[3] != -table[drop, 3]:
                raise InvalidInstance(
                    path, no, "demand", row[3], "partner's demand is not its negative"
                )
            shipments.append(
                Shipment(f"{k}-{drop}", _stop(row), _stop(table[drop]), (float(row[3]),))
            )
    # The speed column is 0 in some files and ignored in the literature: travel time = distance.
    return _instance(name, "li_lim", table, int(count), capacity, tuple(shipments), ())
