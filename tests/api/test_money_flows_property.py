"""The server's order and payment paths (`api.order_flow`, `api.payment_flow`) under random
operation sequences, callbacks delivered late, twice and out of order: the stored ledger
balances per currency, every delivered order is billed exactly once, an intent is received at
most once, and cash on delivery is collected exactly when its order is delivered."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from api import order_flow, payment_flow
from api.payment_flow import DEAD_INTENTS
from api.problems import problem_for
from api.runtime import Runtime
from api.settings import Settings
from orders import lifecycle
from orders.lifecycle import OrderDraft
from orders.model import Actor, ActorKind, OrderState, ProofKind, ProofOfDelivery
from payments.intents import CAPTURED_STATES, IntentState, PaymentMethod
from payments.ledger import totals_per_currency
from payments.providers.base import Sandbox, SignedCallback
from store.memory import MemoryStore
from tests.api.conftest import NAIROBI, Clock

TENANT = "acme"
ACTOR = Actor(ActorKind.TENANT, TENANT)
COURIERS = ("c1", "c2")
METHODS = ("cash", "mobile_money", "card")
PAYERS = {"mobile_money": [None, "254700000000", "254700001037", "254700000001"], "card": [None]}


class MoneyFlows(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        store = MemoryStore()
        store.create_tenant("Acme", tenant_id=TENANT)
        store.create_geofence(TENANT, "service_zone", NAIROBI)
        for c in COURIERS:
            store.create_courier(TENANT, courier_id=c)
        self.store = store
        self.runtime = Runtime(Settings(token_secret="k" * 40), store, clock=self.clock)
        self.orders: list[str] = []
        self.held: list[SignedCallback] = []
        self.rng = random.Random(0)

    def _try(self, op: object, *args: object) -> None:
        try:
            op(*args)  # type: ignore[operator]
        except Exception as exc:
            if problem_for(exc) is None:  # a refusal the API maps is fine; anything else not
                raise

    def _order(self, k: int) -> str:
        return self.orders[k % len(self.orders)]

    @precondition(lambda self: len(self.orders) < 4)  # a few orders, each going a long way
    @rule(amount=st.integers(0, 200_000))
    def create(self, amount: int) -> None:
        draft = OrderDraft(-1.29, 36.82, -1.28, 36.84, amount_minor=amount, currency="KES")
        created = lifecycle.create_order(
            draft, order_id=f"o{len(self.orders)}", tenant=TENANT, at=self.clock(), actor=ACTOR
        )
        self.store.create_order(created)
        self.orders.append(created.order.id)

    @rule(k=st.integers(0, 50), method=st.sampled_from(METHODS), p=st.integers(0, 3))
    def pay(self, k: int, method: str, p: int) -> None:
        if self.orders:
            payers = PAYERS.get(method, [None])
            self._try(
                payment_flow.create_payment,
                self.runtime,
                TENANT,
                self._order(k),
                method,
                payers[p % len(payers)],
            )

    @rule(k=st.integers(0, 50), c=st.sampled_from(COURIERS))
    def assign(self, k: int, c: str) -> None:
        if self.orders:
            self._try(self.runtime.dispatch.assign_by_hand, TENANT, self._order(k), c, ACTOR)

    @rule(k=st.integers(0, 50), c=st.sampled_from(COURIERS), steps=st.integers(1, 3))
    def advance(self, k: int, c: str, steps: int) -> None:
        """A few steps along the happy path, from wherever the order is."""
        for _ in range(steps if self.orders else 0):
            order = self.store.get_order(TENANT, self._order(k))
            if order.state is OrderState.CREATED:
                self.assign(k, c)
            elif order.state is OrderState.ASSIGNED:
                self.pick_up(k)
            elif order.state is OrderState.PICKED_UP:
                self.deliver(k)

    @rule(k=st.integers(0, 50))
    def pick_up(self, k: int) -> None:
        if self.orders:
            order = self.store.get_order(TENANT, self._order(k))
            self._try(order_flow.pick_up, self.runtime, TENANT, order.id, order.courier_id or "c1")

    @rule(k=st.integers(0, 50))
    def deliver(self, k: int) -> None:
        if self.orders:
            order = self.store.get_order(TENANT, self._order(k))
            proof = ProofOfDelivery(ProofKind.PHOTO, "p.jpg")
            self._try(
                order_flow.deliver, self.runtime, TENANT, order.id, order.courier_id or "", proof
            )

    @rule(k=st.integers(0, 50), fail=st.booleans())
    def close(self, k: int, fail: bool) -> None:
        if not self.orders:
            return
        order_id = self._order(k)
        if fail:
            self._try(order_flow.fail, self.runtime, TENANT, order_id, "no access", ACTOR)
        else:
            self._try(
                order_flow.apply,
                self.runtime,
                TENANT,
                order_id,
                lambda o: lifecycle.cancel(o, at=self.clock(), actor=ACTOR, reason="test"),
            )

    @rule(k=st.integers(0, 50), part=st.integers(1, 3))
    def capture_or_refund(self, k: int, part: int) -> None:
        if not self.orders:
            return
        for intent in self.store.payments_of_order(TENANT, self._order(k)):
            if intent.state is IntentState.AUTHORIZED:
                self._try(payment_flow.capture, self.runtime, TENANT, intent.id, None)
            elif intent.refundable_minor > 0:
                amount = max(1, intent.refundable_minor // part)
                self._try(payment_flow.refund, self.runtime, TENANT, intent.id, amount, None)

    @rule(seconds=st.sampled_from([5.0, 40.0, 200.0]), replay=st.booleans())
    def callbacks(self, seconds: float, replay: bool) -> None:
        """Time passes; due callbacks arrive shuffled, some held back, some twice."""
        self.clock.now += seconds
        for provider in self.runtime.providers.values():
            if isinstance(provider, Sandbox):
                self.held += provider.due_callbacks()
        self.rng.shuffle(self.held)
        cut = len(self.held) // 2 if replay else len(self.held)
        now, later = self.held[:cut], self.held[cut:]
        for cb in now + (now[:1] if replay else []):
            name = next(
                p.name
                for p in self.runtime.providers.values()
                if isinstance(p, Sandbox) and p.signature_header in cb.headers
            )
            # Re-signed now: a callback held back for minutes is still fresh when it arrives.
            self._try(payment_flow.handle_callback, self.runtime, name, cb.headers, cb.body)
        self.held = later

    @invariant()
    def ledger_balances(self) -> None:
        entries = self.store.journal_entries(TENANT)
        assert all(v == 0 for v in totals_per_currency(entries).values())
        kinds = Counter((e.kind, e.order_id or e.intent_id) for e in entries)
        assert all(n == 1 for (kind, _), n in kinds.items() if kind in ("billing", "receipt"))

    @invariant()
    def delivered_orders_are_billed_and_cash_collected(self) -> None:
        for order_id in self.orders:
            order = self.store.get_order(TENANT, order_id)
            billed = [
                e
                for e in self.store.journal_entries(TENANT, order_id=order_id)
                if e.kind == "billing"
            ]
            assert len(billed) == (1 if order.state is OrderState.DELIVERED else 0)
            for intent in self.store.payments_of_order(TENANT, order_id):
                if intent.method is PaymentMethod.CASH_ON_DELIVERY:
                    collected = intent.state in CAPTURED_STATES
                    delivered = order.state is OrderState.DELIVERED
                    assert collected == (delivered and intent.state not in DEAD_INTENTS)


MoneyFlows.TestCase.settings = settings(
    max_examples=30, stateful_step_count=40, deadline=None, derandomize=True
)
TestMoneyFlows = MoneyFlows.TestCase
