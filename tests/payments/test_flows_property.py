"""Random sequences of order and payment operations, with callbacks delivered late, twice and
out of order: the ledger stays balanced and every delivered order is billed exactly once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orders import lifecycle as lc
from orders.errors import IllegalTransition, SignatureExpired
from orders.idempotency import InMemoryIdempotency, fingerprint
from orders.model import SYSTEM, Actor, ActorKind, Order, OrderState, ProofKind, ProofOfDelivery
from orders.signatures import signature_header
from payments import settlement
from payments.errors import CallbackRejected
from payments.intents import (
    IntentState,
    PaymentIntent,
    PaymentMethod,
    PaymentResult,
    ProviderUpdate,
    apply_update,
    create_intent,
    request_refund,
)
from payments.ledger import AccountKind, Ledger
from payments.providers import CardSandbox, CashOnDelivery, MobileMoneySandbox, PaymentProvider
from payments.providers.base import Sandbox, SignedCallback
from payments.providers.card import CARD_3DS, CARD_DECLINED, CARD_OK
from payments.statements import Tariff
from tests.orders.conftest import make_draft
from tests.payments.conftest import Clock

SECRET = "sandbox-secret-123456"
TENANT = Actor(ActorKind.TENANT, "acme")
TARIFF = Tariff("KES", courier_base_minor=10_000, courier_per_km_minor=2_500, platform_fee_bps=500)
PAYERS = {
    PaymentMethod.CASH_ON_DELIVERY: [None],
    PaymentMethod.MOBILE_MONEY: [
        "254700000000",
        "254700000001",
        "254700001032",
        "254700001037",
        "254711111111",
        "254722222222",
    ],
    PaymentMethod.CARD: [CARD_OK, CARD_DECLINED, CARD_3DS],
}
PROOF = ProofOfDelivery(ProofKind.PHOTO, reference="pod.jpg")


@dataclass
class InFlight:
    """A callback on the wire: which sandbox sent it, and the request as sent."""

    sandbox: Sandbox
    callback: SignedCallback


class OrderPaymentFlows(RuleBasedStateMachine):
    @initialize(
        seed=st.integers(0, 2**16),
        method=st.sampled_from(list(PaymentMethod)),
        payer=st.integers(0, 10),
    )
    def setup(self, seed: int, method: PaymentMethod, payer: int) -> None:
        self.clock = Clock()
        self.cash = CashOnDelivery(clock=self.clock)
        self.mm = MobileMoneySandbox(secret=SECRET, clock=self.clock, seed=seed)
        self.card = CardSandbox(secret=SECRET, clock=self.clock, seed=seed + 1)
        self.providers: dict[PaymentMethod, PaymentProvider] = {
            PaymentMethod.CASH_ON_DELIVERY: self.cash,
            PaymentMethod.MOBILE_MONEY: self.mm,
            PaymentMethod.CARD: self.card,
        }
        self.orders: dict[str, Order] = {}
        self.intents: dict[str, PaymentIntent] = {}
        self.ledger = Ledger()
        self.wire: list[InFlight] = []
        self.idempotency: InMemoryIdempotency[str] = InMemoryIdempotency()
        self.keys: list[tuple[str, bytes]] = []
        self.refund_seq = 0
        self.create(method, payer, 150_000)

    # -- helpers ---------------------------------------------------------------------------
    def pick(self, i: int) -> str:
        ids = sorted(self.orders)
        return ids[i % len(ids)]

    def commit(self, result: PaymentResult) -> None:
        """One transaction: entries posted (all or nothing) and the intent written."""
        self.ledger.post_all(result.entries)
        self.intents[result.intent.order_id] = result.intent

    def apply(self, order_id: str, update: ProviderUpdate) -> None:
        order = self.orders[order_id]
        billed = order.state is OrderState.DELIVERED
        result = apply_update(self.intents[order_id], update, billed=billed)
        event(f"update: {update.kind} -> {result.note or 'applied'}")
        self.commit(result)
        self.refund_if_closed(order_id)

    def refund_if_closed(self, order_id: str) -> None:
        order, intent = self.orders[order_id], self.intents[order_id]
        due = settlement.refund_due(order, intent)
        if due > 0 and intent.provider_ref is not None:
            self.refund(order_id, settlement.closing_refund_id(intent), due)

    def refund(self, order_id: str, refund_id: str, amount: int) -> None:
        """Reserve (one transaction), then ask the provider, then apply its answer."""
        self.commit(request_refund(self.intents[order_id], refund_id, amount, at=self.clock()))
        intent = self.intents[order_id]
        sync = self.providers[intent.method].refund(intent.provider_ref or "", refund_id, amount)
        if sync is not None:
            self.apply(order_id, sync)

    def transition(self, order_id: str, t: lc.Transition) -> None:
        self.orders[order_id] = t.order

    # -- rules -----------------------------------------------------------------------------
    @rule(
        method=st.sampled_from(list(PaymentMethod)),
        payer=st.integers(0, 10),
        amount=st.integers(1, 500_000),
    )
    def create(self, method: PaymentMethod, payer: int, amount: int) -> None:
        body = f'{{"amount": {amount}, "method": "{method}", "payer": {payer}}}'.encode()
        key = f"key-{len(self.keys)}"

        def create_order() -> str:
            order_id = f"o{len(self.orders)}"
            t = lc.create_order(
                make_draft(amount_minor=amount),
                order_id=order_id,
                tenant="acme",
                at=self.clock(),
                actor=TENANT,
            )
            self.orders[order_id] = t.order
            provider = self.providers[method]
            self.commit(
                create_intent(
                    t.order, method, provider.name, intent_id=f"pi_{order_id}", at=self.clock()
                )
            )
            options = PAYERS[method]
            update = provider.initiate(self.intents[order_id], payer=options[payer % len(options)])
            self.apply(order_id, update)
            return order_id

        out = self.idempotency.execute(
            "acme", key, fingerprint("POST", "/v1/orders", body), create_order, now=self.clock()
        )
        assert not out.replayed
        self.keys.append((key, body))

    @precondition(lambda self: self.keys)
    @rule(i=st.integers(0, 100))
    def retry_create(self, i: int) -> None:
        key, body = self.keys[i % len(self.keys)]
        before = len(self.orders)
        out = self.idempotency.execute(
            "acme", key, fingerprint("POST", "/v1/orders", body), lambda: "never", now=self.clock()
        )
        assert out.replayed and out.result in self.orders and len(self.orders) == before

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 100), reject=st.booleans())
    def advance(self, i: int, reject: bool) -> None:
        """One lifecycle step forward for one order."""
        self.step(self.pick(i), i, reject)

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 100))
    def drive_to_delivery(self, i: int) -> None:
        """Every remaining step at once, as a courier on a short trip would."""
        oid = self.pick(i)
        for _ in range(4):
            self.step(oid, i, reject=False)

    def step(self, oid: str, i: int, reject: bool) -> None:
        o, now = self.orders[oid], self.clock()
        if o.state is OrderState.CREATED:
            self.transition(oid, lc.offer(o, "c1" if i % 2 else "c2", at=now, actor=SYSTEM))
        elif o.state is OrderState.OFFERED and reject:
            self.transition(oid, lc.return_to_pool(o, at=now, actor=SYSTEM, reason="expired"))
        elif o.state is OrderState.OFFERED:
            self.transition(oid, lc.accept(o, o.courier_id or "", at=now))
        elif o.state is OrderState.ASSIGNED:
            self.transition(oid, lc.pick_up(o, o.courier_id or "", at=now))
        elif o.state is OrderState.PICKED_UP:
            t = lc.deliver(o, o.courier_id or "", PROOF, at=now)
            pay = settlement.on_delivered(
                t.order, self.intents[oid], distance_m=1_000.0 + i * 37, tariff=TARIFF, at=now
            )
            self.transition(oid, t)  # same transaction as the payment result
            self.commit(pay)
            event(f"delivered, intent {pay.intent.state}")

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 100), fail=st.booleans())
    def close(self, i: int, fail: bool) -> None:
        oid = self.pick(i)
        o, now = self.orders[oid], self.clock()
        before = (o, self.intents[oid], len(self.ledger.entries))
        try:
            if fail:
                t = lc.fail(o, at=now, actor=SYSTEM, reason="no access")
            else:
                t = lc.cancel(o, at=now, actor=TENANT, reason="changed mind")
        except IllegalTransition:
            assert before == (self.orders[oid], self.intents[oid], len(self.ledger.entries))
            return
        self.transition(oid, t)
        intent = self.intents[oid]
        self.commit(settlement.on_closed(t.order, intent, at=now))
        if intent.state is IntentState.AUTHORIZED and intent.provider_ref:
            self.apply(oid, self.providers[intent.method].cancel(intent.provider_ref))
        self.refund_if_closed(oid)

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 100))
    def capture(self, i: int) -> None:
        oid = self.pick(i)
        intent = self.intents[oid]
        if intent.method is PaymentMethod.CARD and intent.state is IntentState.AUTHORIZED:
            self.apply(oid, self.card.capture(intent.provider_ref or "", intent.amount_minor))

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 100), part=st.integers(1, 4))
    def partial_refund(self, i: int, part: int) -> None:
        oid = self.pick(i)
        intent = self.intents[oid]
        amount = intent.refundable_minor // part
        if amount <= 0 or intent.provider_ref is None:
            return
        self.refund_seq += 1
        self.refund(oid, f"rf{self.refund_seq}", amount)

    @rule(seconds=st.sampled_from([1.0, 10.0, 45.0, 120.0, 400.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.t += seconds
        for sandbox in (self.mm, self.card):
            self.wire += [InFlight(sandbox, cb) for cb in sandbox.due_callbacks()]

    @precondition(lambda self: self.wire)
    @rule(i=st.integers(0, 1000), again=st.booleans())
    def deliver_callback(self, i: int, again: bool) -> None:
        """Deliver any callback on the wire (out of order); ``again`` keeps it for a redelivery."""
        flight = self.wire[i % len(self.wire)]
        if not again:
            self.wire.remove(flight)
        self.receive(flight)

    def receive(self, flight: InFlight) -> None:
        cb, sandbox = flight.callback, flight.sandbox
        try:
            update = sandbox.parse_callback(cb.headers, cb.body, now=self.clock())
        except SignatureExpired:
            # Refused as a replay; the provider retries with a fresh signature.
            event("stale signature refused, retried")
            header = signature_header(sandbox.secret, int(self.clock()), cb.body)
            flight.callback = SignedCallback({sandbox.signature_header: header}, cb.body)
            self.wire.append(flight)
            return
        oid = next(o for o, it in self.intents.items() if it.provider_ref == update.provider_ref)
        try:
            self.apply(oid, update)
        except CallbackRejected:
            event("callback rejected, retried")
            self.wire.append(flight)  # answered 409: the provider retries later

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def ledger_balances_to_zero_per_currency(self) -> None:
        if hasattr(self, "ledger"):
            assert all(v == 0 for v in self.ledger.totals_per_currency().values())

    @invariant()
    def money_is_counted_once(self) -> None:
        if not hasattr(self, "ledger"):
            return
        kinds = Counter((e.kind, e.order_id) for e in self.ledger.entries)
        for oid, order in self.orders.items():
            intent = self.intents[oid]
            billed = kinds[("billing", oid)]
            assert billed == (1 if order.state is OrderState.DELIVERED else 0)
            assert kinds[("receipt", oid)] == (1 if intent.captured_minor else 0)
            receipts = self.ledger.entries_for(intent_id=intent.id, kind="receipt")
            refunds = self.ledger.entries_for(intent_id=intent.id, kind="refund")
            assert sum(e.postings[0].amount_minor for e in receipts) == intent.captured_minor
            assert sum(e.postings[0].amount_minor for e in refunds) == intent.refunded_minor
            assert 0 <= intent.refunded_minor <= intent.captured_minor <= intent.amount_minor
            if (
                order.state is OrderState.DELIVERED
                and intent.method is PaymentMethod.CASH_ON_DELIVERY
            ):
                assert intent.captured_minor == order.amount_minor  # cash settled on delivery
            if order.state is OrderState.DELIVERED and intent.captured_minor == order.amount_minor:
                receivable = sum(
                    p.amount_minor
                    for e in self.ledger.entries_for(order_id=oid)
                    for p in e.postings
                    if p.account.kind is AccountKind.CUSTOMER_RECEIVABLE
                )
                pre_delivery_refunds = sum(
                    e.postings[0].amount_minor for e in refunds if not e.meta["billed"]
                )
                assert receivable == pre_delivery_refunds  # paid and billed: settled

    def teardown(self) -> None:
        """Let every callback arrive (and every retry succeed): closed orders end refunded."""
        if not hasattr(self, "ledger"):
            return
        for _ in range(500):
            self.time_passes(400.0)
            if not self.wire:
                break
            while self.wire:
                self.receive(self.wire.pop(0))
        assert not self.wire
        for oid, order in self.orders.items():
            intent = self.intents[oid]
            assert intent.pending_refunds == ()
            if order.state in settlement.CLOSED_ORDER_STATES:
                assert (
                    intent.refundable_minor == 0 and intent.refunded_minor == intent.captured_minor
                )
        assert all(v == 0 for v in self.ledger.totals_per_currency().values())


OrderPaymentFlows.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None
)
TestOrderPaymentFlows = OrderPaymentFlows.TestCase
