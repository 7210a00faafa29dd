import pytest

from orders.errors import PinLocked
from orders.pin_attempts import check_pin_attempts


def test_locks_at_max_failures_and_names_the_field() -> None:
    for failures in range(3):
        check_pin_attempts("o1", failures, 3)
    with pytest.raises(PinLocked) as info:
        check_pin_attempts("o1", 3, 3)
    assert info.value.field == "pin" and info.value.failures == 3
    assert info.value.value == "<redacted>"
