"""The end-of-run report: a JSON-ready dict computed from a `Recorder`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from sims.config import SimConfig
from sims.recorder import Recorder

WALL_KEYS = ("wall",)
"""Top-level keys that depend on the machine, not on the seed (left out when comparing runs)."""


def percentiles(
    values: Iterable[float] | npt.NDArray[np.float64], digits: int = 1
) -> dict[str, Any]:
    """``count``, ``mean``, ``p50``, ``p90``, ``p99`` and ``max`` (None when empty)."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if not arr.size:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    q = np.percentile(arr, [50, 90, 99])
    return {
        "count": int(arr.size),
        "mean": round(float(arr.mean()), digits),
        "p50": round(float(q[0]), digits),
        "p90": round(float(q[1]), digits),
        "p99": round(float(q[2]), digits),
        "max": round(float(arr.max()), digits),
    }


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def build_report(
    config: SimConfig, rec: Recorder, *, ended_at: float, wall: dict[str, Any]
) -> dict[str, Any]:
    """The report of a run that ended at simulated time ``ended_at``.

    Pickup wait is order creation to the courier's arrival at the pickup; the ETA error is the
    actual drive to the pickup (accept to arrival) minus the engine's ETA in the offer;
    utilisation is courier-seconds carrying an order over courier-seconds on shift.
    """
    o = rec.orders
    t = {name: o.column(name) for name in o.times}
    counts = rec.order_counts(ended_at)
    delivered = ~np.isnan(t["delivered"])
    wait = t["at_pickup"] - t["created"]
    lead = t["delivered"] - t["created"]
    eta_error = (t["at_pickup"] - t["assigned"]) - o.eta_s[: o.n]
    n_delivered = int(delivered.sum())
    on_time = int((lead[delivered] <= config.promise_s).sum())
    wait_stats = percentiles(wait)
    cash_delivered = int((delivered & o.cash[: o.n]).sum())
    return {
        "mode": config.mode,
        "seed": config.seed,
        "config": config.summary(),
        "sim_seconds": _r(ended_at - rec.start_at),
        "orders": counts,
        "created": counts["created"],
        "delivered": n_delivered,
        "on_time_pct": _r(100.0 * on_time / n_delivered if n_delivered else None),
        "mean_pickup_wait_s": wait_stats["mean"],
        "p90_pickup_wait_s": wait_stats["p90"],
        "pickup_wait_s": wait_stats,
        "delivery_time_s": percentiles(lead),
        "assignment_latency_s": percentiles(t["assigned"] - t["created"]),
        "eta_error_s": {
            **percentiles(eta_error),
            "mean_abs": _r(
                float(np.nanmean(np.abs(eta_error))) if np.isfinite(eta_error).any() else None
            ),
        },
        "courier_utilisation": _r(rec.busy_s / rec.online_s if rec.online_s else None, 4),
        "pings": {
            "sent": rec.pings_sent,
            "accepted": rec.pings_accepted,
            "rejected": sum(rec.rejected.values()),
            "rejected_by_reason": dict(sorted(rec.rejected.items())),
        },
        "offers": {
            "made": rec.offers_made,
            "accepted": int((~np.isnan(t["assigned"])).sum()),
            "rejected": rec.offers_rejected,
            "expired": rec.offers_expired,
            "answer_errors": dict(sorted(rec.answer_errors.items())),
        },
        "payments": {
            "intents": rec.payments_created,
            "settled": rec.payments_settled,
            "delivered_cash_orders": cash_delivered,
            "ledger_entries": rec.ledger_entries,
        },
        "timeline": [asdict(s) for s in rec.samples],
        "wall": wall,
    }


def without_wall(report: dict[str, Any]) -> dict[str, Any]:
    """The report minus its machine-dependent fields (what a seed determines)."""
    return {k: v for k, v in report.items() if k not in WALL_KEYS}
