"""What happens during a run, recorded as it happens: per order times, pings, offers, samples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

ORDER_TIMES = (
    "created", "offered", "assigned", "at_pickup", "picked_up", "delivered", "cancelled",
)  # fmt: skip
"""Per order, when it reached each step (NaN until it does); ``offered`` is the offer that
was accepted."""


class OrderLog:
    """Growing numpy columns, one row per order, indexed by the order's sequence number."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.times = {name: np.full(capacity, np.nan) for name in ORDER_TIMES}
        self.eta_s = np.full(capacity, np.nan)
        self.pickup_lat = np.zeros(capacity)
        self.pickup_lng = np.zeros(capacity)
        self.cash = np.zeros(capacity, dtype=bool)

    def add(self, at: float, lat: float, lng: float, cash: bool) -> int:
        if self.n == self.eta_s.size:
            self._grow()
        row = self.n
        self.times["created"][row] = at
        self.pickup_lat[row], self.pickup_lng[row], self.cash[row] = lat, lng, cash
        self.n += 1
        return row

    def mark(self, name: str, row: int, at: float) -> None:
        self.times[name][row] = at

    def column(self, name: str) -> FloatArray:
        return self.times[name][: self.n]

    def _grow(self) -> None:
        size = 2 * self.eta_s.size
        for name, col in self.times.items():
            self.times[name] = np.r_[col, np.full(size - col.size, np.nan)]
        self.eta_s = np.r_[self.eta_s, np.full(size - self.eta_s.size, np.nan)]
        self.pickup_lat = np.r_[self.pickup_lat, np.zeros(size - self.pickup_lat.size)]
        self.pickup_lng = np.r_[self.pickup_lng, np.zeros(size - self.pickup_lng.size)]
        self.cash = np.r_[self.cash, np.zeros(size - self.cash.size, dtype=bool)]


@dataclass
class Sample:
    """The state of the run at one simulated instant (for progress and the timeline plot)."""

    t: float
    waiting: int
    assigned: int
    picked_up: int
    delivered: int
    couriers_idle: int
    couriers_busy: int
    couriers_offline: int
    pings_per_s: float


@dataclass
class Recorder:
    """Everything a report is computed from."""

    start_at: float
    orders: OrderLog = field(default_factory=OrderLog)
    pings_sent: int = 0
    pings_accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    offers_made: int = 0
    offers_rejected: int = 0
    offers_expired: int = 0
    answer_errors: Counter[str] = field(default_factory=Counter)
    busy_s: float = 0.0
    online_s: float = 0.0
    payments_created: int = 0
    payments_settled: int = 0
    ledger_entries: int = 0
    samples: list[Sample] = field(default_factory=list)
    supply_cells: Counter[int] = field(default_factory=Counter)
    dispatch_wall_ms: list[float] = field(default_factory=list)
    ack_rtt_ms: list[float] = field(default_factory=list)
    rest_ms: list[float] = field(default_factory=list)

    def pings(self, accepted: int, reasons: list[str]) -> None:
        self.pings_sent += accepted + len(reasons)
        self.pings_accepted += accepted
        self.rejected.update(reasons)

    def order_counts(self, now: float) -> dict[str, int]:
        """Orders per current state: waiting (no courier yet, offered included), assigned,
        picked up, delivered, cancelled (waited too long)."""
        o = self.orders
        done = {name: ~np.isnan(o.column(name)) for name in ORDER_TIMES}
        delivered = int(done["delivered"].sum())
        picked = int((done["picked_up"] & ~done["delivered"]).sum())
        assigned = int((done["assigned"] & ~done["picked_up"]).sum())
        cancelled = int(done["cancelled"].sum())
        total = o.n
        return {
            "created": total,
            "waiting": total - delivered - picked - assigned - cancelled,
            "assigned": assigned,
            "picked_up": picked,
            "delivered": delivered,
            "cancelled": cancelled,
        }
