"""Wrong-PIN limits at delivery: a few guesses per order, then the PIN is locked.

A 4-8 digit PIN is guessable by brute force whatever its hash, so the number of wrong PINs per
order is bounded; after ``max_failures`` the order can only be failed and returned. The count
is kept by the store (one counter per order, shared by every API worker); this is the rule.
"""

from __future__ import annotations

from orders.errors import PinLocked


def check_pin_attempts(order_id: str, failures: int, max_failures: int) -> None:
    """Raise `PinLocked` when the order has no PIN attempts left.

    Parameters
    ----------
    order_id
        The order being delivered.
    failures
        Wrong PINs counted for it so far.
    max_failures
        Wrong PINs after which the PIN is locked.
    """
    if failures >= max_failures:
        raise PinLocked(order_id, failures)
