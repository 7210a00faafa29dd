"""Input checks both stores run before any write, so both refuse the same inputs alike."""

from __future__ import annotations

import re
import secrets
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.coords import validate_arrays, validate_lat_lng
from geo.errors import InvalidCoordinate
from orders.lifecycle import Transition
from orders.model import Order
from store.errors import InvalidRecord, Problem
from store.tables import GEOFENCE_KINDS

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def new_id(prefix: str) -> str:
    """A random, URL-safe id with a readable prefix (``ord_3kF...``)."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def _point_problems(prefix: str, lat: Any, lng: Any) -> list[Problem]:
    # The scalar check: one order's points went through numpy arrays at ~35 µs a point.
    try:
        validate_lat_lng(lat, lng)
    except InvalidCoordinate as exc:
        return [(f"{prefix}_{f}", v, r) for f, v, r in exc.problems]
    return []


def _int_problems(field: str, value: Any, minimum: int) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [(field, value, "must be an integer")]
    if value < minimum:
        return [(field, value, f"must be >= {minimum}")]
    return []


def check_id(field: str, value: Any) -> None:
    """Caller-chosen ids: 1–128 characters of ``A-Za-z0-9_.:-``."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidRecord([(field, value, "must be 1-128 characters of A-Za-z0-9_.:-")])


def check_new_order(order: Order, idempotency_key: str | None, fingerprint: str | None) -> None:
    """What the store itself needs of a new order: usable points, an id, a key with its body.

    `orders.lifecycle.create_order` validated the rest; these guard the database's columns.
    """
    check_id("order_id", order.id)
    problems = [
        *_point_problems("pickup", order.pickup_lat, order.pickup_lng),
        *_point_problems("dropoff", order.dropoff_lat, order.dropoff_lng),
    ]
    if idempotency_key is not None and not fingerprint:
        problems.append(("fingerprint", fingerprint, "required with an idempotency key"))
    if problems:
        raise InvalidRecord(problems)


def check_transition(transition: Transition) -> int:
    """The version the stored order must be at for ``transition`` to apply."""
    events = transition.events
    order = transition.order
    expected = order.version - len(events)
    seqs = [e.seq for e in events]
    if not events or seqs != list(range(expected + 1, order.version + 1)):
        raise InvalidRecord([("events", seqs, f"must number {expected + 1}..{order.version}")])
    if any(e.order_id != order.id or e.tenant != order.tenant for e in events):
        raise InvalidRecord([("events", order.id, "belong to another order or tenant")])
    return expected


def check_kind(kind: Any) -> None:
    """A geofence kind: service_zone, restricted or hub."""
    if kind not in GEOFENCE_KINDS:
        raise InvalidRecord([("kind", kind, f"must be one of {', '.join(GEOFENCE_KINDS)}")])


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
