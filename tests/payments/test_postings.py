from __future__ import annotations

from dataclasses import replace

import pytest

from orders.model import OrderState
from payments import settlement
from payments.errors import InvalidEntry
from payments.intents import PaymentMethod, create_intent
from payments.ledger import Account, AccountKind, Ledger
from payments.postings import cash_remittance_entry
from payments.statements import Tariff, delivery_earning
from tests.orders.conftest import make_order

K = AccountKind
TARIFF = Tariff("KES", courier_base_minor=10_000, courier_per_km_minor=2_500, platform_fee_bps=500)


def test_cash_delivery_then_remittance_clears_the_couriers_accounts() -> None:
    order = replace(make_order(), state=OrderState.DELIVERED, courier_id="c1")
    intent = create_intent(order, PaymentMethod.CASH_ON_DELIVERY, "cash", intent_id="pi", at=1.0)
    paid = settlement.on_delivered(order, intent.intent, distance_m=3_000.0, tariff=TARIFF, at=2.0)
    ledger = Ledger(paid.entries)
    held = Account("acme", K.CASH_HELD_BY_COURIER, "c1")
    earnings = Account("acme", K.COURIER_EARNINGS, "c1")
    pay = delivery_earning(3_000.0, TARIFF).total_minor
    assert ledger.balance(held, "KES") == 150_000 and ledger.balance(earnings, "KES") == -pay
    assert ledger.balance(Account("acme", K.CUSTOMER_RECEIVABLE), "KES") == 0
    ledger.post(
        cash_remittance_entry(
            "acme", "c1", 150_000 - pay, "KES", remittance_id="r1", at=3.0, keep_earnings_minor=pay
        )
    )
    assert ledger.balance(held, "KES") == 0 and ledger.balance(earnings, "KES") == 0
    assert ledger.totals_per_currency() == {"KES": 0}
    with pytest.raises(InvalidEntry):  # nothing to remit is not an entry
        cash_remittance_entry("acme", "c1", 0, "KES", remittance_id="r2", at=3.0)
