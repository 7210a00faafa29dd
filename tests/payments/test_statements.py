from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.model import OrderState
from payments.errors import InvalidPayment
from payments.ledger import Account, AccountKind, Ledger
from payments.postings import billing_entry
from payments.statements import Tariff, courier_statement, delivery_earning, platform_fee
from tests.orders.conftest import make_order

TARIFF = Tariff(
    "KES", courier_base_minor=10_000, courier_per_km_minor=2_500, platform_fee_bps=1_000
)


@given(st.floats(min_value=0, max_value=500_000, allow_nan=False), st.integers(0, 100_000))
def test_earning_is_base_plus_per_km_rounded_half_up(distance_m: float, per_km: int) -> None:
    tariff = replace(TARIFF, courier_per_km_minor=per_km)
    e = delivery_earning(distance_m, tariff)
    exact = Fraction(round(distance_m)) * per_km / 1000
    assert e.base_minor == 10_000
    assert e.distance_minor == int(exact + Fraction(1, 2))  # half up, exact arithmetic
    assert e.total_minor == e.base_minor + e.distance_minor


def test_earning_examples_and_validation() -> None:
    assert delivery_earning(3_200.0, TARIFF).distance_minor == 8_000
    assert delivery_earning(0.2, TARIFF).distance_minor == 0
    assert delivery_earning(1.0, replace(TARIFF, courier_per_km_minor=500)).distance_minor == 1
    assert platform_fee(150_000, TARIFF) == 15_000 and platform_fee(9, TARIFF) == 0
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidPayment):
            delivery_earning(bad, TARIFF)
    with pytest.raises(InvalidPayment) as info:
        Tariff("kes", courier_base_minor=-1, courier_per_km_minor=1.5, platform_fee_bps=10_001)  # type: ignore[arg-type]
    assert {p[0] for p in info.value.problems} == {
        "currency",
        "courier_base_minor",
        "courier_per_km_minor",
        "platform_fee_bps",
    }


def test_statement_over_a_period_matches_the_ledger() -> None:
    ledger = Ledger()
    trips = [
        ("o1", "c1", 100.0, 1_000.0),
        ("o2", "c1", 200.0, 5_250.0),
        ("o3", "c2", 300.0, 800.0),
        ("o4", "c1", 400.0, 12_345.6),
        ("o5", "c1", 999.0, 10.0),
    ]
    for oid, courier, at, dist in trips:
        order = replace(make_order(oid), state=OrderState.DELIVERED, courier_id=courier)
        ledger.post(billing_entry(order, courier_id=courier, distance_m=dist, tariff=TARIFF, at=at))
    ledger.reverse("billing:o2", at=450.0, reason="delivered by mistake")
    st_ = courier_statement(
        ledger.entries, tenant="acme", courier_id="c1", currency="KES", start=100.0, end=999.0
    )
    assert [line.order_id for line in st_.lines] == ["o1", "o4"]  # o2 reversed, o5 outside
    assert st_.lines[1].distance_m == 12_346 and st_.lines[1].distance_minor == 30_865
    expected = sum(
        delivery_earning(d, TARIFF).total_minor for o, _, _, d in trips if o in ("o1", "o4")
    )
    assert st_.total_minor == expected and st_.total_distance_m == 1_000 + 12_346
    whole = courier_statement(
        ledger.entries, tenant="acme", courier_id="c1", currency="KES", start=0.0, end=1e12
    )
    earnings = Account("acme", AccountKind.COURIER_EARNINGS, "c1")
    assert -ledger.balance(earnings, "KES") == whole.total_minor
    assert ledger.totals_per_currency() == {"KES": 0}


def test_billing_splits_the_amount() -> None:
    order = replace(make_order(), state=OrderState.DELIVERED, courier_id="c1")
    entry = billing_entry(order, courier_id="c1", distance_m=4_000.0, tariff=TARIFF, at=1.0)
    amounts = {p.account.kind: p.amount_minor for p in entry.postings}
    assert amounts == {
        AccountKind.CUSTOMER_RECEIVABLE: 150_000,
        AccountKind.COURIER_EARNINGS: -20_000,
        AccountKind.PLATFORM_FEES: -15_000,
        AccountKind.MERCHANT_PAYABLE: -115_000,
    }
    with pytest.raises(InvalidPayment):
        billing_entry(
            order, courier_id="c1", distance_m=1.0, tariff=replace(TARIFF, currency="USD"), at=1.0
        )
