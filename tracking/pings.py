"""GPS pings and the rules that accept or reject them, each rejection with a reason code."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from geo.coords import valid_mask
from geo.distance import great_circle_m, great_circle_m_array
from tracking.arrays import CodeArray, FloatArray, IntArray


class Reason(StrEnum):
    """Why a ping was rejected. Earlier members take precedence when several rules fail."""

    INVALID_COORDINATE = "invalid_coordinate"
    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_ATTRIBUTE = "invalid_attribute"
    FUTURE_TIMESTAMP = "future_timestamp"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    LOW_ACCURACY = "low_accuracy"
    IMPLIED_SPEED = "implied_speed"


REASONS: tuple[Reason, ...] = tuple(Reason)
"""Reason by code: code ``i + 1`` is ``REASONS[i]``; code 0 means accepted."""

ACCEPTED = 0


def code_of(reason: Reason) -> int:
    """The int8 code of a reason, as found in `check_pings` output."""
    return REASONS.index(reason) + 1


@dataclass(frozen=True, slots=True)
class Ping:
    """One GPS fix: ``ts`` in UTC epoch seconds, speed in m/s, heading in degrees, accuracy in
    metres (``None`` when the device did not say)."""

    courier_id: Hashable
    lat: float
    lng: float
    ts: float
    speed: float | None = None
    heading: float | None = None
    accuracy: float | None = None


@dataclass(frozen=True, slots=True)
class PingRules:
    """Limits a ping must respect to move a courier."""

    max_speed_mps: float = 70.0
    max_accuracy_m: float = 100.0
    future_tolerance_s: float = 30.0


def bad_optional_attributes(
    speed: FloatArray, heading: FloatArray, accuracy: FloatArray
) -> npt.NDArray[np.bool_]:
    """True where a present (non-NaN) speed, heading or accuracy is out of its domain."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(speed) & ~((speed >= 0.0) & np.isfinite(speed))
        bad |= ~np.isnan(heading) & ~((heading >= 0.0) & (heading <= 360.0))
        bad |= ~np.isnan(accuracy) & ~((accuracy >= 0.0) & np.isfinite(accuracy))
    return np.asarray(bad)


def check_pings(
    rules: PingRules,
    lats: FloatArray,
    lngs: FloatArray,
    ts: FloatArray,
    accuracy: FloatArray,
    prev_lats: FloatArray,
    prev_lngs: FloatArray,
    prev_ts: FloatArray,
    now: float,
    bad_attributes: npt.NDArray[np.bool_] | None = None,
) -> CodeArray:
    """Judge pings against the rules, vectorized.

    Parameters
    ----------
    rules
        The limits.
    lats, lngs, ts, accuracy
        The pings (accuracy NaN when unknown).
    prev_lats, prev_lngs, prev_ts
        Each courier's last accepted ping, NaN for a courier seen for the first time.
    now
        The current time, UTC epoch seconds.
    bad_attributes
        True where the caller found an attribute out of its domain.

    Returns
    -------
    numpy.ndarray
        int8 codes: 0 accepted, else ``code_of(reason)`` of the first failing rule.
    """
    codes = np.zeros(lats.shape, dtype=np.int8)
    seen = ~np.isnan(prev_ts)
    # A timestamp near the float limit overflows here; the future-timestamp rule refuses it.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        dt = ts - prev_ts
        dist = great_circle_m_array(prev_lats, prev_lngs, lats, lngs)
        too_fast = seen & (dist > rules.max_speed_mps * dt)
    # Apply the rules from the lowest precedence up so the first failing rule wins.
    checks = [
        (Reason.IMPLIED_SPEED, too_fast),
        (Reason.LOW_ACCURACY, accuracy > rules.max_accuracy_m),
        (Reason.OUT_OF_ORDER, seen & (dt < 0.0)),
        (Reason.DUPLICATE, seen & (dt == 0.0)),
        (Reason.FUTURE_TIMESTAMP, ts > now + rules.future_tolerance_s),
        (
            Reason.INVALID_ATTRIBUTE,
            np.zeros_like(seen) if bad_attributes is None else bad_attributes,
        ),
        (Reason.INVALID_TIMESTAMP, ~np.isfinite(ts)),
        (Reason.INVALID_COORDINATE, ~valid_mask(lats, lngs)),
    ]
    for reason, failed in checks:
        codes[failed] = code_of(reason)
    return codes


def check_ping(
    rules: PingRules,
    lat: float,
    lng: float,
    ts: float,
    accuracy: float | None,
    prev_lat: float | None,
    prev_lng: float,
    prev_ts: float,
    now: float,
) -> Reason | None:
    """Scalar `check_pings` for one well-formed ping (finite coordinates in range, finite ts,
    valid attributes) and its courier's last accepted ping (``prev_lat`` None when new)."""
    if ts > now + rules.future_tolerance_s:
        return Reason.FUTURE_TIMESTAMP
    if prev_lat is not None:
        if ts == prev_ts:
            return Reason.DUPLICATE
        if ts < prev_ts:
            return Reason.OUT_OF_ORDER
    if accuracy is not None and accuracy > rules.max_accuracy_m:
        return Reason.LOW_ACCURACY
    if prev_lat is not None:
        dist = great_circle_m(prev_lat, prev_lng, lat, lng)
        if dist > rules.max_speed_mps * (ts - prev_ts):
            return Reason.IMPLIED_SPEED
    return None


def courier_chains(ids: list[Hashable], rows: IntArray) -> tuple[IntArray, IntArray]:
    """Group a batch by courier, keeping item order within each courier.

    Parameters
    ----------
    ids
        Courier id per item.
    rows
        Index row per item, -1 for a courier not in the index yet (grouped by id).

    Returns
    -------
    order, starts
        ``order`` lists the items courier by courier (each courier's items in batch order);
        ``starts`` are the positions in ``order`` where each courier's chain begins.
    """
    keys = rows.copy()
    codes: dict[Hashable, int] = {}
    for i in np.flatnonzero(rows < 0).tolist():
        keys[i] = -1 - codes.setdefault(ids[i], len(codes))
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    return order, np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def batch_rounds(ids: list[Hashable], rows: IntArray) -> list[IntArray]:
    """Split a batch so that no courier appears twice in one round, keeping item order."""
    n = len(ids)
    known = rows >= 0
    fresh = [ids[i] for i in np.flatnonzero(~known).tolist()]
    seen = rows[known]
    distinct_known = not seen.size or int(np.bincount(seen).max()) <= 1
    if distinct_known and len(set(fresh)) == len(fresh):
        return [np.arange(n)]
    order, starts = courier_chains(ids, rows)
    first = np.zeros(n, dtype=np.bool_)
    first[starts] = True
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    occurrence = np.empty(n, dtype=np.int64)
    occurrence[order] = np.arange(n) - group_start
    return [np.flatnonzero(occurrence == r) for r in range(int(occurrence.max()) + 1)]
