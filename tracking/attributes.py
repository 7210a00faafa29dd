"""Courier attributes (status, tenant, vehicle, capacity, load, skills, idle_since) parsed per
item for batches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tracking.arrays import BoolArray, FloatArray
from tracking.errors import InvalidAttribute, InvalidPing

STATUSES: tuple[str, ...] = ("idle", "busy", "offline")
IDLE, BUSY, OFFLINE = 0, 1, 2
STATUS_CODE = {name: code for code, name in enumerate(STATUSES)}


@dataclass(frozen=True, slots=True)
class Column:
    """One attribute for a batch: values, where the caller gave one, where it is invalid."""

    values: npt.NDArray[Any]
    present: BoolArray
    bad: BoolArray


class Interner:
    """Interns tenant / vehicle names to small ints; code 0 is "none"."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.names: list[str | None] = [None]

    def code(self, name: str) -> int:
        found = self.codes.get(name)
        if found is None:
            found = self.codes[name] = len(self.names)
            self.names.append(name)
        return found

    def lookup(self, name: str) -> int:
        """The code of a known name, -1 for an unknown one (matches nothing)."""
        return self.codes.get(name, -1)


def _items(name: str, value: Any, n: int) -> list[Any]:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return [value] * n
    if len(value) != n:
        raise InvalidPing(name, f"length {len(value)}", f"need one value per courier id ({n})")
    return list(value)


def status_column(value: Any, n: int) -> Column:
    """Status per item: a name in `STATUSES`, or None to leave it unchanged."""
    items = _items("status", value, n)
    codes = np.array(
        [STATUS_CODE.get(v, -2) if isinstance(v, str) else -1 if v is None else -2 for v in items],
        dtype=np.int64,
    )
    return Column(codes, codes >= 0, codes == -2)


def name_column(name: str, value: Any, n: int, interner: Interner) -> Column:
    """Tenant or vehicle per item: a string, or None to leave it unchanged."""
    items = _items(name, value, n)
    codes = np.array(
        [interner.code(v) if isinstance(v, str) else -1 if v is None else -2 for v in items],
        dtype=np.int64,
    )
    return Column(codes, codes >= 0, codes == -2)


def count_column(name: str, value: Any, n: int) -> Column:
    """Capacity or load per item: an integer >= 0, or None to leave it unchanged."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        if value.shape != (n,):
            raise InvalidPing(name, f"shape {value.shape}", f"need one value per courier id ({n})")
        vals = value.astype(np.int64)
        return Column(vals, np.ones(n, dtype=np.bool_), vals < 0)
    items = _items(name, value, n)
    ok = [isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in items]
    vals = np.array(
        [int(v) if good else 0 for v, good in zip(items, ok, strict=True)], dtype=np.int64
    )
    present = np.array([v is not None for v in items], dtype=np.bool_)
    return Column(vals, present, present & ~np.array(ok, dtype=np.bool_))


def skills_column(value: Any, n: int) -> Column:
    """Skills per item: one set of strings for every item, or a sequence holding one iterable
    of strings (or None, unchanged) per item. Values are frozensets."""
    if isinstance(value, (set, frozenset)):
        items: list[Any] = [value] * n
    else:
        items = _items("skills", value, n)
    values = np.empty(n, dtype=object)
    present = np.zeros(n, dtype=np.bool_)
    bad = np.zeros(n, dtype=np.bool_)
    for i, v in enumerate(items):
        if v is None:
            continue
        present[i] = True
        if (
            isinstance(v, (str, bytes))
            or not isinstance(v, (Sequence, set, frozenset))
            or not all(isinstance(s, str) for s in v)
        ):
            bad[i] = True
        else:
            values[i] = frozenset(v)
    return Column(values, present, bad)


def time_column(name: str, value: Any, n: int) -> Column:
    """Epoch seconds per item (e.g. ``idle_since``): finite floats, or None to leave it
    unchanged."""
    vals = float_column(name, value, n, optional=True)
    present = ~np.isnan(vals)
    return Column(vals, present, present & ~np.isfinite(vals))


def float_column(name: str, value: Any, n: int, *, optional: bool) -> FloatArray:
    """Floats per item (a scalar is broadcast; None / NaN mean unknown when ``optional``).

    Raises
    ------
    InvalidPing
        When the length does not match or, for a required column, a value is not a number.
    """
    if value is None and optional:
        return np.full(n, np.nan)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        if value.shape != (n,):
            raise InvalidPing(name, f"shape {value.shape}", f"need one value per courier id ({n})")
        return value.astype(np.float64)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return np.full(n, float(value))
    items = _items(name, value, n)
    plain = np.asarray(items)
    if plain.dtype.kind in "fiu" and plain.shape == (n,):
        return plain.astype(np.float64)
    out = np.empty(n, dtype=np.float64)
    for i, v in enumerate(items):
        if v is None and optional:
            out[i] = math.nan
        elif isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            # Not a number: NaN fails the coordinate / timestamp rules, inf the device ones.
            out[i] = math.inf if optional else math.nan
        else:
            out[i] = float(v)
    return out


def check_scalar(field: str, column: Column, value: Any, reason: str) -> None:
    """Raise `InvalidAttribute` when a single-item column holds a bad value."""
    if column.bad[0]:
        raise InvalidAttribute(field, value, reason)


REASON_TEXT = {
    "status": f"one of {', '.join(STATUSES)}",
    "tenant": "a string",
    "vehicle": "a string",
    "capacity": "an integer >= 0",
    "load": "an integer >= 0",
    "skills": "a set of strings",
    "idle_since": "finite UTC epoch seconds",
    "speed": "a number >= 0 (m/s)",
    "heading": "a number in [0, 360] (degrees)",
    "accuracy": "a number >= 0 (m)",
}
