"""Input checks both stores run before any write, so both refuse the same inputs alike."""

from __future__ import annotations

import math
import re
import secrets
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.coords import validate_arrays
from geo.errors import InvalidCoordinate
from store.errors import InvalidRecord, Problem
from store.records import NewOrder
from store.tables import GEOFENCE_KINDS, ORDER_STATES

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def new_id(prefix: str) -> str:
    """A random, URL-safe id with a readable prefix (``ord_3kF...``)."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def _point_problems(prefix: str, lat: Any, lng: Any) -> list[Problem]:
    try:
        validate_arrays([lat], [lng])
    except InvalidCoordinate as exc:
        return [(f"{prefix}_{f.split('[')[0]}", v, r) for f, v, r in exc.problems]
    except (TypeError, ValueError):
        return [(f"{prefix}_lat/lng", (lat, lng), "not numbers")]
    return []


def _int_problems(field: str, value: Any, minimum: int) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [(field, value, "must be an integer")]
    if value < minimum:
        return [(field, value, f"must be >= {minimum}")]
    return []


def _window_problems(field: str, window: Any) -> list[Problem]:
    if window is None:
        return []
    try:
        start, end = (float(v) for v in window)
    except (TypeError, ValueError):
        return [(field, window, "must be (start, end) epoch seconds")]
    if not (math.isfinite(start) and math.isfinite(end)) or start > end:
        return [(field, window, "needs finite start <= end")]
    return []


def check_id(field: str, value: Any) -> None:
    """Caller-chosen ids: 1–128 characters of ``A-Za-z0-9_.:-``."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidRecord([(field, value, "must be 1-128 characters of A-Za-z0-9_.:-")])


def check_new_order(order: NewOrder) -> None:
    """Every problem of an order request at once (coordinates, sizes, money, windows)."""
    problems = [
        *_point_problems("pickup", order.pickup_lat, order.pickup_lng),
        *_point_problems("dropoff", order.dropoff_lat, order.dropoff_lng),
        *_int_problems("size", order.size, 0),
        *_int_problems("priority", order.priority, -1_000_000),
        *_int_problems("amount_minor", order.amount_minor, 0),
        *_window_problems("pickup_window", order.pickup_window),
        *_window_problems("dropoff_window", order.dropoff_window),
    ]
    if not isinstance(order.currency, str) or not _CURRENCY.match(order.currency):
        problems.append(("currency", order.currency, "must be a 3-letter ISO 4217 code"))
    if problems:
        raise InvalidRecord(problems)


def check_kind(kind: Any) -> None:
    """A geofence kind: service_zone, restricted or hub."""
    if kind not in GEOFENCE_KINDS:
        raise InvalidRecord([("kind", kind, f"must be one of {', '.join(GEOFENCE_KINDS)}")])


def check_state(state: Any) -> None:
    """An order state name."""
    if state not in ORDER_STATES:
        raise InvalidRecord([("state", state, f"must be one of {', '.join(ORDER_STATES)}")])


def check_courier_fields(name: Any, vehicle: Any, capacity: Any) -> None:
    """Courier attributes: text name and vehicle, capacity >= 0."""
    problems = _int_problems("capacity", capacity, 0)
    problems += [
        (f, v, "must be text")
        for f, v in (("name", name), ("vehicle", vehicle))
        if not isinstance(v, str)
    ]
    if problems:
        raise InvalidRecord(problems)


def position_columns(n: int, *columns: npt.ArrayLike | None) -> list[npt.NDArray[np.float64]]:
    """Optional float columns as float64 arrays of length ``n`` (missing -> all NaN)."""
    out = []
    for col in columns:
        arr = np.full(n, np.nan) if col is None else np.asarray(col, dtype=np.float64)
        if arr.shape != (n,):
            raise InvalidRecord([("columns", arr.shape, f"every column needs length {n}")])
        out.append(arr)
    return out


def check_positions(
    courier_ids: Any, ts: npt.ArrayLike, lats: npt.ArrayLike, lngs: npt.ArrayLike
) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Validated track columns; the tracking rules ran before, so this guards only shape/range."""
    la, ln = validate_arrays(lats, lngs)
    t = np.asarray(ts, dtype=np.float64)
    ids = list(courier_ids)
    if t.shape != la.shape or len(ids) != la.shape[0]:
        raise InvalidRecord([("columns", (len(ids), t.shape, la.shape), "lengths differ")])
    if not np.isfinite(t).all():
        raise InvalidRecord([("ts", t[~np.isfinite(t)][:1].tolist(), "not finite")])
    return ids, t, la, ln
