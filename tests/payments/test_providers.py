from __future__ import annotations

import json

import pytest

from orders.errors import SignatureExpired, SignatureInvalid
from payments.errors import MalformedCallback, ProviderRefused
from payments.intents import IntentState, PaymentMethod, UpdateKind, apply_update
from payments.ledger import JournalEntry
from payments.providers import CardSandbox, CashOnDelivery, MobileMoneySandbox, PaymentProvider
from payments.providers.base import Sandbox, SignedCallback
from payments.providers.card import CARD_3DS, CARD_DECLINED, CardOdds
from payments.providers.mobile_money import MobileMoneyOdds
from tests.payments.conftest import Clock, make_intent

SECRET = "sandbox-secret-123456"
NO_DUPES_MM = MobileMoneyOdds(duplicate=0.0, late_success_after_timeout=0.0)


def flush(sandbox: Sandbox, clock: Clock) -> list[SignedCallback]:
    out: list[SignedCallback] = []
    while (t := sandbox.next_callback_at()) is not None:
        clock.t = max(clock.t, t)
        out += sandbox.due_callbacks()
    return out


def test_sandboxes_satisfy_the_provider_interface() -> None:
    clock = Clock()
    providers: list[PaymentProvider] = [
        CashOnDelivery(clock=clock),
        MobileMoneySandbox(secret=SECRET, clock=clock),
        CardSandbox(secret=SECRET, clock=clock),
    ]
    assert [p.method for p in providers] == list(PaymentMethod)


@pytest.mark.parametrize(
    ("payer", "kind", "reason"),
    [
        ("254700000000", UpdateKind.SUCCEEDED, None),
        ("254700000001", UpdateKind.FAILED, "The balance is insufficient for the transaction."),
        ("254700001032", UpdateKind.FAILED, "Request cancelled by user"),
        ("254700001037", UpdateKind.TIMED_OUT, "DS timeout user cannot be reached"),
    ],
)
def test_stk_push_outcomes(payer: str, kind: UpdateKind, reason: str | None) -> None:
    clock = Clock()
    mm = MobileMoneySandbox(secret=SECRET, clock=clock, odds=NO_DUPES_MM)
    intent = make_intent(PaymentMethod.MOBILE_MONEY, provider=mm.name)
    accepted = mm.initiate(intent, payer=payer)
    assert accepted.kind is UpdateKind.PENDING and mm.due_callbacks() == []
    (cb,) = flush(mm, clock)
    assert "stkCallback" in json.loads(cb.body)["Body"]
    update = mm.parse_callback(cb.headers, cb.body, now=clock.t)
    assert (update.kind, update.reason, update.provider_ref) == (
        kind,
        reason,
        accepted.provider_ref,
    )
    if kind is UpdateKind.SUCCEEDED:
        assert (update.amount_minor, update.currency) == (150_000, "KES")
    intent = apply_update(intent, accepted, billed=False).intent
    final = apply_update(intent, update, billed=False).intent
    assert final.state is (
        IntentState.SUCCEEDED if kind is UpdateKind.SUCCEEDED else IntentState.FAILED
    )


def test_callbacks_are_signed_and_must_be_fresh() -> None:
    clock = Clock()
    mm = MobileMoneySandbox(secret=SECRET, clock=clock, odds=NO_DUPES_MM)
    mm.initiate(make_intent(PaymentMethod.MOBILE_MONEY), payer="254700000000")
    (cb,) = flush(mm, clock)
    with pytest.raises(SignatureExpired):
        mm.parse_callback(cb.headers, cb.body, now=clock.t + 301)
    with pytest.raises(SignatureInvalid):
        mm.parse_callback(cb.headers, cb.body.replace(b"150000", b"150001"), now=clock.t)
    with pytest.raises(SignatureInvalid):
        mm.parse_callback({}, cb.body, now=clock.t)
    forged = MobileMoneySandbox(secret="another-secret-xx", clock=clock)
    with pytest.raises(SignatureInvalid):
        forged.parse_callback(cb.headers, cb.body, now=clock.t)
    lower = {k.lower(): v for k, v in cb.headers.items()}  # HTTP header names are case-blind
    assert mm.parse_callback(lower, cb.body, now=clock.t).kind is UpdateKind.SUCCEEDED


def test_malformed_but_signed_bodies_are_reported() -> None:
    clock = Clock()
    mm = MobileMoneySandbox(secret=SECRET, clock=clock)
    mm._schedule(0.0, {"Body": {}})
    (cb,) = mm.due_callbacks()
    with pytest.raises(MalformedCallback):
        mm.parse_callback(cb.headers, cb.body, now=clock.t)


def test_timeouts_may_be_followed_by_a_late_success_and_duplicates_happen() -> None:
    clock = Clock()
    odds = MobileMoneyOdds(duplicate=1.0, late_success_after_timeout=1.0)
    mm = MobileMoneySandbox(secret=SECRET, clock=clock, odds=odds)
    intent = make_intent(PaymentMethod.MOBILE_MONEY, provider=mm.name)
    intent = apply_update(intent, mm.initiate(intent, payer="254700001037"), billed=False).intent
    updates = [mm.parse_callback(cb.headers, cb.body, now=clock.t) for cb in flush(mm, clock)]
    assert sorted(u.kind for u in updates) == sorted(
        [UpdateKind.TIMED_OUT] * 2 + [UpdateKind.SUCCEEDED] * 2
    )
    entries: list[JournalEntry] = []
    for u in updates:
        res = apply_update(intent, u, billed=False)
        intent = res.intent
        entries += res.entries
    assert intent.state is IntentState.SUCCEEDED and len(entries) == 1


def test_mobile_money_refund_is_confirmed_by_callback_once() -> None:
    clock = Clock()
    mm = MobileMoneySandbox(secret=SECRET, clock=clock, odds=MobileMoneyOdds(duplicate=1.0))
    intent = make_intent(PaymentMethod.MOBILE_MONEY, provider=mm.name)
    intent = apply_update(intent, mm.initiate(intent, payer="254700000000"), billed=False).intent
    for cb in flush(mm, clock):
        intent = apply_update(
            intent, mm.parse_callback(cb.headers, cb.body, now=clock.t), billed=False
        ).intent
    assert mm.refund(intent.provider_ref or "", "rf1", 40_000) is None
    assert mm.refund(intent.provider_ref or "", "rf1", 40_000) is None  # idempotent
    with pytest.raises(ProviderRefused):
        mm.refund(intent.provider_ref or "", "rf2", 110_001)
    refunds = [mm.parse_callback(cb.headers, cb.body, now=clock.t) for cb in flush(mm, clock)]
    assert len(refunds) == 2 and {u.refund_id for u in refunds} == {"rf1"}
    for u in refunds:
        intent = apply_update(intent, u, billed=True).intent
    assert intent.state is IntentState.PARTIALLY_REFUNDED and intent.refunded_minor == 40_000
    with pytest.raises(ProviderRefused):
        mm.capture(intent.provider_ref or "", 1)


def test_same_seed_same_story() -> None:
    def story(seed: int) -> list[bytes]:
        clock = Clock()
        mm = MobileMoneySandbox(secret=SECRET, clock=clock, seed=seed)
        for i in range(5):
            mm.initiate(make_intent(PaymentMethod.MOBILE_MONEY), payer=f"25470000{i}999")
        return [cb.body for cb in flush(mm, clock)]

    assert story(1) == story(1) and story(1) != story(2)


def test_card_authorize_capture_refund() -> None:
    clock = Clock()
    card = CardSandbox(secret=SECRET, clock=clock, odds=CardOdds(duplicate=1.0))
    intent = make_intent()
    auth = card.initiate(intent)
    assert auth.kind is UpdateKind.AUTHORIZED
    intent = apply_update(intent, auth, billed=False).intent
    ref = intent.provider_ref or ""
    with pytest.raises(ProviderRefused):
        card.capture(ref, 150_001)
    captured = apply_update(intent, card.capture(ref, 120_000), billed=False)
    intent = captured.intent
    assert intent.state is IntentState.SUCCEEDED and intent.captured_minor == 120_000
    with pytest.raises(ProviderRefused):
        card.capture(ref, 1)
    with pytest.raises(ProviderRefused):
        card.cancel(ref)
    card.refund(ref, "rf1", 20_000)
    entries = list(captured.entries)
    hooks = flush(card, clock)
    assert len(hooks) == 4  # capture and refund webhooks, each delivered twice
    assert len({json.loads(h.body)["id"] for h in hooks}) == 2
    for h in hooks:
        res = apply_update(intent, card.parse_callback(h.headers, h.body, now=clock.t), billed=True)
        intent = res.intent
        entries += res.entries
    assert intent.state is IntentState.PARTIALLY_REFUNDED and intent.refunded_minor == 20_000
    assert [e.kind for e in entries] == ["receipt", "refund"]


def test_card_declined_3ds_and_void() -> None:
    clock = Clock()
    card = CardSandbox(
        secret=SECRET, clock=clock, odds=CardOdds(duplicate=0.0, three_ds_completed=1.0)
    )
    declined = card.initiate(make_intent(), payer=CARD_DECLINED)
    assert declined.kind is UpdateKind.FAILED and declined.reason == "card_declined"
    intent = make_intent()
    intent = apply_update(intent, card.initiate(intent, payer=CARD_3DS), billed=False).intent
    assert intent.state is IntentState.PENDING
    (hook,) = flush(card, clock)
    intent = apply_update(
        intent, card.parse_callback(hook.headers, hook.body, now=clock.t), billed=False
    ).intent
    assert intent.state is IntentState.AUTHORIZED
    voided = apply_update(intent, card.cancel(intent.provider_ref or ""), billed=False).intent
    assert voided.state is IntentState.CANCELLED
    with pytest.raises(ProviderRefused):
        card.refund(intent.provider_ref or "", "rf", 1)


def test_cash_on_delivery_adapter() -> None:
    clock = Clock()
    cod = CashOnDelivery(clock=clock)
    intent = make_intent(PaymentMethod.CASH_ON_DELIVERY, provider="cash")
    created = cod.initiate(intent)
    assert created.kind is UpdateKind.PENDING
    assert apply_update(intent, created, billed=False).intent.state is IntentState.PENDING
    assert cod.refund("cod_x", "rf", 10).kind is UpdateKind.REFUNDED
    assert cod.cancel("cod_x").kind is UpdateKind.CANCELLED
    with pytest.raises(ProviderRefused):
        cod.capture("cod_x", 1)
    with pytest.raises(ProviderRefused):
        cod.parse_callback({}, b"{}", now=0.0)
