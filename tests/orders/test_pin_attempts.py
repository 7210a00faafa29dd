import pytest

from orders.errors import PinLocked
from orders.pin_attempts import PinAttempts


def test_locks_after_max_failures_and_names_the_field() -> None:
    pins = PinAttempts(max_failures=3)
    for left in (2, 1, 0):
        pins.check("o1")
        assert pins.failed("o1") == left
    with pytest.raises(PinLocked) as info:
        pins.check("o1")
    assert info.value.field == "pin" and info.value.failures == 3
    assert "1234" not in str(info.value)
    pins.check("o2")  # other orders are not affected
    pins.forget("o1")
    pins.check("o1")


def test_memory_is_bounded() -> None:
    pins = PinAttempts(max_failures=1, max_tracked=2)
    for order_id in ("a", "b", "c"):
        pins.failed(order_id)
    pins.check("a")  # forgotten: the oldest count went first
    with pytest.raises(PinLocked):
        pins.check("c")
