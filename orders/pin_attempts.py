"""Wrong-PIN limits at delivery: a few guesses per order, then the PIN is locked.

A 4-8 digit PIN is guessable by brute force whatever its hash, so the number of wrong PINs per
order is bounded; after ``max_failures`` the order can only be delivered once a dispatcher
unlocks it (`PinAttempts.forget`) or it is failed and returned.
"""

from __future__ import annotations

from collections import OrderedDict

from orders.errors import PinLocked


class PinAttempts:
    """Wrong-PIN counts per order (bounded: the oldest counts are forgotten beyond
    ``max_tracked`` orders).

    Parameters
    ----------
    max_failures
        Wrong PINs after which an order's PIN is locked.
    max_tracked
        Orders whose counts are kept at most.
    """

    def __init__(self, max_failures: int = 5, *, max_tracked: int = 100_000) -> None:
        self.max_failures = max_failures
        self.max_tracked = max_tracked
        self._failures: OrderedDict[str, int] = OrderedDict()

    def check(self, order_id: str) -> None:
        """Raise `PinLocked` when the order has no PIN attempts left."""
        failures = self._failures.get(order_id, 0)
        if failures >= self.max_failures:
            raise PinLocked(order_id, failures)

    def failed(self, order_id: str) -> int:
        """Count one wrong PIN; returns the attempts left."""
        failures = self._failures.pop(order_id, 0) + 1
        self._failures[order_id] = failures
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)
        return max(0, self.max_failures - failures)

    def forget(self, order_id: str) -> None:
        """Drop the order's count (delivered, or unlocked by a dispatcher)."""
        self._failures.pop(order_id, None)
