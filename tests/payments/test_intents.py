from __future__ import annotations

from dataclasses import replace

import pytest

from payments.errors import (
    CallbackRejected,
    IllegalPaymentTransition,
    InvalidPayment,
    ProviderMismatch,
    RefundExceedsCapture,
)
from payments.intents import (
    INTENT_TRANSITIONS,
    IntentState,
    PaymentMethod,
    ProviderUpdate,
    UpdateKind,
    apply_update,
    cancel_intent,
    collect_cash,
    create_intent,
    release_refund,
    request_refund,
)
from payments.ledger import AccountKind, Ledger
from tests.orders.conftest import make_order
from tests.payments.conftest import make_intent

P = IntentState
U = UpdateKind

EXPECTED = {
    (P.REQUIRES_ACTION, P.PENDING),
    (P.REQUIRES_ACTION, P.AUTHORIZED),
    (P.REQUIRES_ACTION, P.SUCCEEDED),
    (P.REQUIRES_ACTION, P.FAILED),
    (P.REQUIRES_ACTION, P.CANCELLED),
    (P.PENDING, P.AUTHORIZED),
    (P.PENDING, P.SUCCEEDED),
    (P.PENDING, P.FAILED),
    (P.PENDING, P.CANCELLED),
    (P.AUTHORIZED, P.SUCCEEDED),
    (P.AUTHORIZED, P.FAILED),
    (P.AUTHORIZED, P.CANCELLED),
    (P.SUCCEEDED, P.PARTIALLY_REFUNDED),
    (P.SUCCEEDED, P.REFUNDED),
    (P.PARTIALLY_REFUNDED, P.PARTIALLY_REFUNDED),
    (P.PARTIALLY_REFUNDED, P.REFUNDED),
    (P.FAILED, P.SUCCEEDED),
    (P.CANCELLED, P.SUCCEEDED),
}


def upd(kind: UpdateKind, uid: str = "u1", **kw: object) -> ProviderUpdate:
    return ProviderUpdate(uid, "ref-1", kind, 5.0, **kw)  # type: ignore[arg-type]


def test_transition_table() -> None:
    assert {(a, b) for a, targets in INTENT_TRANSITIONS.items() for b in targets} == EXPECTED


@pytest.mark.parametrize("state", list(P))
def test_cancel_from_every_state(state: IntentState) -> None:
    intent = replace(make_intent(), state=state)
    if (state, P.CANCELLED) in EXPECTED:
        res = cancel_intent(intent, at=2.0, reason="order cancelled")
        assert res.intent.state is P.CANCELLED and res.events[0].kind == "payment.cancelled"
    else:
        with pytest.raises(IllegalPaymentTransition) as info:
            cancel_intent(intent, at=2.0, reason="x")
        assert (info.value.from_state, info.value.to_state) == (state, P.CANCELLED)


def test_initial_states_and_validation() -> None:
    assert make_intent(PaymentMethod.CASH_ON_DELIVERY).state is P.PENDING
    assert make_intent(PaymentMethod.MOBILE_MONEY).state is P.REQUIRES_ACTION
    with pytest.raises(InvalidPayment) as info:
        create_intent(make_order(), "bitcoin", "x", intent_id="i", at=0)  # type: ignore[arg-type]
    assert info.value.field == "method"


def test_success_is_recorded_once_whatever_the_redeliveries() -> None:
    intent = make_intent()
    a = apply_update(intent, upd(U.AUTHORIZED, "auth"), billed=False).intent
    first = apply_update(a, upd(U.SUCCEEDED, "cap-sync", amount_minor=150_000), billed=False)
    assert first.intent.state is P.SUCCEEDED and len(first.entries) == 1
    dup = apply_update(first.intent, upd(U.SUCCEEDED, "cap-sync"), billed=False)
    assert not dup.changed and dup.note == "duplicate" and dup.intent is first.intent
    webhook = apply_update(first.intent, upd(U.SUCCEEDED, "evt_9"), billed=False)
    assert webhook.entries == () and webhook.note == "already captured"
    stale = apply_update(webhook.intent, upd(U.FAILED, "evt_10"), billed=False)
    assert (
        stale.intent.state is P.SUCCEEDED and stale.events == () and "stale" in (stale.note or "")
    )
    stale_auth = apply_update(stale.intent, upd(U.AUTHORIZED, "evt_11"), billed=False)
    assert stale_auth.intent.state is P.SUCCEEDED
    ledger = Ledger(first.entries)
    assert ledger.totals_per_currency() == {"KES": 0}


def test_late_success_after_timeout_or_cancel_is_kept() -> None:
    intent = make_intent(PaymentMethod.MOBILE_MONEY, provider="mpesa_sandbox")
    timed_out = apply_update(intent, upd(U.TIMED_OUT, "t"), billed=False).intent
    assert timed_out.state is P.FAILED and timed_out.failure_reason == "timed_out"
    late = apply_update(timed_out, upd(U.SUCCEEDED, "s", amount_minor=150_000), billed=False)
    assert late.intent.state is P.SUCCEEDED and late.note == "late success"
    (entry,) = late.entries
    assert {p.account.kind for p in entry.postings} == {
        AccountKind.PROVIDER_CLEARING,
        AccountKind.CUSTOMER_RECEIVABLE,
    }
    cancelled = cancel_intent(intent, at=2.0, reason="order cancelled").intent
    assert (
        apply_update(cancelled, upd(U.SUCCEEDED, "s"), billed=False).intent.captured_minor
        == 150_000
    )


def test_refunds_partial_then_full_and_never_more() -> None:
    paid = apply_update(make_intent(), upd(U.SUCCEEDED, "cap"), billed=True).intent
    with pytest.raises(CallbackRejected):
        apply_update(
            make_intent(), upd(U.REFUNDED, "r0", refund_id="r0", amount_minor=1), billed=True
        )
    part = apply_update(
        paid, upd(U.REFUNDED, "r1", refund_id="r1", amount_minor=50_000), billed=True
    )
    assert part.intent.state is P.PARTIALLY_REFUNDED and part.intent.refundable_minor == 100_000
    (entry,) = part.entries
    debit = next(p for p in entry.postings if p.amount_minor > 0)
    assert debit.account.kind is AccountKind.MERCHANT_PAYABLE  # billed: merchant bears it
    same_refund_new_update = upd(U.REFUNDED, "r1-again", refund_id="r1", amount_minor=50_000)
    assert apply_update(part.intent, same_refund_new_update, billed=True).entries == ()
    with pytest.raises(RefundExceedsCapture) as info:
        apply_update(
            part.intent, upd(U.REFUNDED, "r2", refund_id="r2", amount_minor=100_001), billed=True
        )
    assert info.value.refundable == 100_000
    full = apply_update(part.intent, upd(U.REFUNDED, "r3", refund_id="r3"), billed=False)
    assert full.intent.state is P.REFUNDED and full.intent.refunded_minor == 150_000
    assert full.entries[0].postings[0].account.kind is AccountKind.CUSTOMER_RECEIVABLE
    ledger = Ledger(apply_update(make_intent(), upd(U.SUCCEEDED, "cap"), billed=True).entries)
    ledger.post_all([*part.entries, *full.entries])
    assert ledger.totals_per_currency() == {"KES": 0}


def test_mismatched_updates_are_refused() -> None:
    intent = apply_update(make_intent(), upd(U.PENDING, "p"), billed=False).intent
    assert intent.provider_ref == "ref-1"
    with pytest.raises(ProviderMismatch) as info:
        apply_update(intent, ProviderUpdate("x", "other-ref", U.SUCCEEDED, 1.0), billed=False)
    assert info.value.field == "provider_ref"
    with pytest.raises(ProviderMismatch):
        apply_update(intent, upd(U.SUCCEEDED, "y", currency="USD"), billed=False)
    with pytest.raises(ProviderMismatch):
        apply_update(intent, upd(U.SUCCEEDED, "z", amount_minor=150_001), billed=False)


def test_cash_is_collected_into_the_couriers_cash_account() -> None:
    res = collect_cash(make_intent(PaymentMethod.CASH_ON_DELIVERY, provider="cash"), "c1", at=3.0)
    assert res.intent.state is P.SUCCEEDED and res.intent.cash_courier_id == "c1"
    debit = next(p for p in res.entries[0].postings if p.amount_minor > 0)
    assert (debit.account.kind, debit.account.holder) == (AccountKind.CASH_HELD_BY_COURIER, "c1")
    with pytest.raises(InvalidPayment):
        collect_cash(make_intent(), "c1", at=3.0)


def test_refunds_in_flight_are_reserved() -> None:
    paid = apply_update(make_intent(), upd(U.SUCCEEDED, "cap"), billed=False).intent
    asked = request_refund(paid, "rf1", 100_000, at=2.0)
    assert asked.intent.refundable_minor == 50_000 and asked.events == () and asked.entries == ()
    assert not request_refund(asked.intent, "rf1", 100_000, at=3.0).changed  # retried request
    with pytest.raises(InvalidPayment):
        request_refund(asked.intent, "rf1", 1, at=3.0)
    with pytest.raises(RefundExceedsCapture):
        request_refund(asked.intent, "rf2", 50_001, at=3.0)
    with pytest.raises(ProviderMismatch):
        apply_update(
            asked.intent, upd(U.REFUNDED, "u", refund_id="rf1", amount_minor=99), billed=False
        )
    done = apply_update(asked.intent, upd(U.REFUNDED, "u", refund_id="rf1"), billed=False).intent
    assert done.pending_refunds == () and done.refunded_minor == 100_000
    assert done.refundable_minor == 50_000 and done.state is P.PARTIALLY_REFUNDED


def test_a_refused_refund_is_released() -> None:
    paid = apply_update(make_intent(), upd(U.SUCCEEDED, "cap"), billed=False).intent
    asked = request_refund(paid, "rf1", 100_000, at=2.0).intent
    released = release_refund(asked, "rf1", at=3.0)
    assert released.changed and released.events == () and released.entries == ()
    assert released.intent.pending_refunds == ()
    assert released.intent.refundable_minor == paid.refundable_minor
    assert released.intent.version == asked.version + 1
    assert not release_refund(released.intent, "rf1", at=4.0).changed
