"""GPS pings and the rules that accept or reject them, each rejection with a reason code."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from geo.coords import valid_mask
from geo.distance import great_circle_m_array

FloatArray = npt.NDArray[np.float64]
CodeArray = npt.NDArray[np.int8]


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
    with np.errstate(invalid="ignore", divide="ignore"):
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
