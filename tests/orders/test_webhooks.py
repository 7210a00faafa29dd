from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders import lifecycle as lc
from orders.errors import InvalidWebhookEndpoint
from orders.model import SYSTEM, Order, ProofKind, ProofOfDelivery
from orders.signatures import SIGNATURE_HEADER, verify
from orders.webhooks import (
    Endpoint,
    MessageStatus,
    OutboxMessage,
    RetryPolicy,
    SendResult,
    WebhookOutbox,
    WebhookRequest,
    new_endpoint,
    outbox_for_order_events,
    subscribed,
)
from tests.orders.conftest import make_order

SECRET = "whsec_0123456789abcdef"


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Receiver:
    """A tenant's endpoint: verifies signatures, fails while ``down(now, n)`` says so."""

    def __init__(self, clock: Clock, down: Callable[[float, int], bool]) -> None:
        self.clock = clock
        self.down = down
        self.calls = 0
        self.received: list[dict[str, object]] = []

    def __call__(self, request: WebhookRequest) -> SendResult:
        self.calls += 1
        if self.down(self.clock(), self.calls):
            if self.calls % 2:
                raise ConnectionError("connection refused")
            return SendResult(503)
        verify(SECRET, request.body, request.headers[SIGNATURE_HEADER], now=self.clock())
        self.received.append(json.loads(request.body))
        return SendResult(200)

    def per_order(self) -> dict[str, list[int]]:
        seqs: dict[str, list[int]] = defaultdict(list)
        for body in self.received:
            data = body["data"]
            assert isinstance(data, dict)
            seqs[data["order_id"]].append(data["seq"])
        return dict(seqs)


def endpoint(types: tuple[str, ...] = ("order.*",), eid: str = "ep1") -> Endpoint:
    return new_endpoint(eid, "acme", "https://acme.example/hooks", SECRET, types)


def full_lifecycle(order: Order, at: float) -> list[lc.Transition]:
    steps = [lc.offer(order, "c1", at=at, actor=SYSTEM)]
    steps.append(lc.accept(steps[-1].order, "c1", at=at + 1))
    steps.append(lc.pick_up(steps[-1].order, "c1", at=at + 2))
    proof = ProofOfDelivery(ProofKind.PHOTO, reference="pod")
    steps.append(lc.deliver(steps[-1].order, "c1", proof, at=at + 3))
    return steps


def drain(
    outbox: WebhookOutbox, clock: Clock, *, until: float | None = None, limit: int = 10_000
) -> None:
    """Advance the simulated clock from one due time to the next, until idle (or ``until``)."""
    for _ in range(limit):
        wake = outbox.next_wake()
        if wake is None or (until is not None and wake >= until):
            if until is not None:
                clock.t = max(clock.t, until)
            return
        clock.t = max(clock.t, wake)
        outbox.run_due()
    raise AssertionError("outbox did not drain")


def add_orders(outbox: WebhookOutbox, clock: Clock, ids: range) -> None:
    for i in ids:
        steps = full_lifecycle(make_order(f"o{i}", at=clock.t), clock.t)
        events = [e for s in steps for e in s.events]
        outbox.add(outbox_for_order_events(events, outbox.endpoints.values()))


def test_subscriptions_and_validation() -> None:
    ep = endpoint(("order.delivered", "payment.*"))
    assert subscribed(ep, "order.delivered") and subscribed(ep, "payment.refunded")
    assert not subscribed(ep, "order.created") and not subscribed(ep, "paymentx")
    assert subscribed(endpoint(("*",)), "anything")
    with pytest.raises(InvalidWebhookEndpoint) as info:
        new_endpoint("e", "t", "ftp://x", "short", ["a*b", "order*"])
    assert {p[0] for p in info.value.problems} == {"url", "secret", "event_types"}
    assert len(info.value.problems) == 4
    assert SECRET not in repr(ep)


def test_messages_go_to_subscribed_endpoints_of_the_tenant_only() -> None:
    o = make_order()
    steps = full_lifecycle(o, 10.0)
    events = [e for s in steps for e in s.events]
    eps = [
        endpoint(("order.delivered",), "a"),
        endpoint(("*",), "b"),
        new_endpoint("c", "other-tenant", "https://x", SECRET, ["*"]),
    ]
    msgs = outbox_for_order_events(events, eps)
    assert sorted((m.endpoint_id, m.event_type) for m in msgs) == sorted(
        [("a", "order.delivered")] + [("b", e.kind) for e in events]
    )
    again = outbox_for_order_events(events, eps)
    assert [m.id for m in again] == [m.id for m in msgs]  # deterministic: re-enqueue is a no-op
    body = json.loads(msgs[0].body)
    assert body["id"] == msgs[0].event_id and body["data"]["order_id"] == "o1"


def run_scenario(
    down: Callable[[float, int], bool], n_orders: int = 5, seed: int = 1
) -> tuple[Clock, Receiver, WebhookOutbox]:
    clock = Clock()
    receiver = Receiver(clock, down)
    outbox = WebhookOutbox(receiver, clock=clock, rng=random.Random(seed))
    outbox.register(endpoint())
    add_orders(outbox, clock, range(n_orders))
    drain(outbox, clock)
    return clock, receiver, outbox


def test_receiver_failing_n_times_then_recovering_gets_everything_once_in_order() -> None:
    _, receiver, outbox = run_scenario(lambda now, n: n <= 7)
    ids = [b["id"] for b in receiver.received]
    assert len(ids) == len(set(ids)) == 5 * 4
    assert receiver.per_order() == {f"o{i}": [2, 3, 4, 5] for i in range(5)}
    assert not outbox.pending()
    failures = outbox.query_log(ok=False)
    assert len(failures) == 7 and all(a.error for a in failures)
    assert {a.error for a in failures} >= {"HTTP 503"}
    assert any((a.error or "").startswith("ConnectionError") for a in failures)
    assert outbox.endpoints["ep1"].consecutive_failures == 0


def test_receiver_down_for_an_hour_loses_nothing() -> None:
    clock = Clock()
    start = clock.t
    receiver = Receiver(clock, lambda now, n: now < start + 3_600.0)
    outbox = WebhookOutbox(receiver, clock=clock, rng=random.Random(7))
    outbox.register(endpoint())
    add_orders(outbox, clock, range(10))
    drain(outbox, clock, until=start + 1_800.0)
    add_orders(outbox, clock, range(10, 20))  # more events while the receiver is still down
    drain(outbox, clock)
    assert receiver.per_order() == {f"o{i}": [2, 3, 4, 5] for i in range(20)}
    assert len(receiver.received) == 80 and not outbox.pending()
    assert outbox.endpoints["ep1"].enabled
    failures = outbox.query_log(ok=False)
    # Backoff is per endpoint: an hour of downtime costs tens of requests, not one per message.
    assert 5 <= len(failures) <= 40
    assert all(a.at < start + 3_600.0 for a in failures)
    first_ok = outbox.query_log(ok=True)[0]
    assert start + 3_600.0 <= first_ok.at <= start + 3_600.0 + RetryPolicy().cap_s


def test_schedule_is_reproducible_with_a_seed() -> None:
    def times(seed: int) -> list[float]:
        _, _, outbox = run_scenario(lambda now, n: n <= 6, n_orders=2, seed=seed)
        return [a.at for a in outbox.log]

    assert times(3) == times(3)
    assert times(3) != times(4)


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=30.0)
    rng = random.Random(0)
    for failures in range(1, 12):
        ceiling = min(30.0, 2.0 ** (failures - 1))
        delays = [policy.backoff(failures, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling


def test_endpoint_disabled_after_n_failures_keeps_messages_until_re_enabled() -> None:
    clock = Clock()
    receiver = Receiver(clock, lambda now, n: n <= 3)
    outbox = WebhookOutbox(receiver, clock=clock, policy=RetryPolicy(disable_after=3))
    outbox.register(endpoint())
    add_orders(outbox, clock, range(1, 2))
    drain(outbox, clock)
    ep = outbox.endpoints["ep1"]
    assert not ep.enabled and ep.disabled_reason == "3 consecutive failures"
    assert len(outbox.pending()) == 4 and receiver.received == []
    assert outbox.next_wake() is None
    outbox.enable("ep1")
    drain(outbox, clock)
    assert receiver.per_order() == {"o1": [2, 3, 4, 5]}
    assert all(s.status is MessageStatus.DELIVERED for s in outbox.states.values())


def test_delivery_log_is_queryable() -> None:
    _, _, outbox = run_scenario(lambda now, n: n in (1, 2), n_orders=3)
    assert len(outbox.query_log(ordering_key="order:o1", ok=True)) == 4
    assert len(outbox.query_log(event_id="order:o0:2")) >= 1
    assert outbox.query_log(tenant="nobody") == []
    t_mid = outbox.log[len(outbox.log) // 2].at
    assert len(outbox.query_log(since=t_mid)) + len(outbox.query_log(until=t_mid)) == len(
        outbox.log
    )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=4),
    st.integers(0, 2**16),
)
def test_random_failures_never_reorder_or_duplicate(
    pattern: list[bool], n_orders: int, seed: int
) -> None:
    def down(now: float, n: int) -> bool:
        return n <= len(pattern) and pattern[n - 1]

    _, receiver, outbox = run_scenario(down, n_orders=n_orders, seed=seed)
    assert receiver.per_order() == {f"o{i}": [2, 3, 4, 5] for i in range(n_orders)}
    attempts_per_message: dict[str, int] = defaultdict(int)
    for a in outbox.log:
        attempts_per_message[a.message_id] += 1
        assert a.number == attempts_per_message[a.message_id]
    assert all(isinstance(m, OutboxMessage) for m in outbox.messages.values())


def test_a_dead_endpoint_does_not_hold_up_a_healthy_one() -> None:
    clock = Clock()
    healthy = Receiver(clock, lambda now, n: False)
    dead = Receiver(clock, lambda now, n: True)

    def sender(request: WebhookRequest) -> SendResult:
        return (healthy if "healthy" in request.url else dead)(request)

    outbox = WebhookOutbox(sender, clock=clock, policy=RetryPolicy(disable_after=5))
    outbox.register(new_endpoint("h", "acme", "https://healthy.example", SECRET, ["*"]))
    outbox.register(new_endpoint("d", "acme", "https://dead.example", SECRET, ["*"]))
    add_orders(outbox, clock, range(3))
    drain(outbox, clock)
    assert healthy.per_order() == {f"o{i}": [2, 3, 4, 5] for i in range(3)}
    assert not outbox.endpoints["d"].enabled and outbox.endpoints["h"].enabled
    assert len(outbox.pending("d")) == 12 and outbox.pending("h") == []
    assert len(outbox.query_log(endpoint_id="d")) == 5  # one request per backoff step
