from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from geo.errors import InvalidCoordinate
from orders import lifecycle as lc
from orders.errors import IllegalTransition, InvalidOrder, ProofOfDeliveryRejected, WrongCourier
from orders.model import (
    SYSTEM,
    Actor,
    ActorKind,
    Order,
    OrderState,
    Position,
    ProofKind,
    TimeWindow,
)
from orders.model import ProofOfDelivery as Proof
from tests.orders.conftest import TENANT_ACTOR, make_draft, make_order

S = OrderState
PHOTO = Proof(ProofKind.PHOTO, reference="s3://pod/1.jpg")
HERE = Position(-1.29, 36.82)

# Every operation, the state it moves to, and how to call it on an order held by courier "c1".
OPERATIONS: dict[str, tuple[OrderState, Callable[[Order], lc.Transition]]] = {
    "offer": (S.OFFERED, lambda o: lc.offer(o, "c1", at=2.0, actor=SYSTEM)),
    "return_to_pool": (
        S.CREATED,
        lambda o: lc.return_to_pool(o, at=2.0, actor=SYSTEM, reason="expired"),
    ),
    "accept": (S.ASSIGNED, lambda o: lc.accept(o, "c1", at=2.0)),
    "pick_up": (S.PICKED_UP, lambda o: lc.pick_up(o, "c1", at=2.0, position=HERE)),
    "deliver": (S.DELIVERED, lambda o: lc.deliver(o, "c1", PHOTO, at=2.0, position=HERE)),
    "cancel": (S.CANCELLED, lambda o: lc.cancel(o, at=2.0, actor=TENANT_ACTOR, reason="x")),
    "fail": (S.FAILED, lambda o: lc.fail(o, at=2.0, actor=SYSTEM, reason="no access")),
}

EXPECTED_TABLE = {
    (S.CREATED, S.OFFERED),
    (S.CREATED, S.CANCELLED),
    (S.OFFERED, S.ASSIGNED),
    (S.OFFERED, S.CREATED),
    (S.OFFERED, S.CANCELLED),
    (S.ASSIGNED, S.PICKED_UP),
    (S.ASSIGNED, S.CANCELLED),
    (S.ASSIGNED, S.FAILED),
    (S.PICKED_UP, S.DELIVERED),
    (S.PICKED_UP, S.FAILED),
}


def test_transition_table_is_exactly_the_documented_one() -> None:
    allowed = {(a, b) for a in S for b in S if lc.can_transition(a, b)}
    assert allowed == EXPECTED_TABLE


@pytest.mark.parametrize("from_state", list(S))
@pytest.mark.parametrize("op", list(OPERATIONS))
def test_every_operation_from_every_state(from_state: OrderState, op: str) -> None:
    to_state, call = OPERATIONS[op]
    courier = None if from_state is S.CREATED else "c1"
    order = replace(make_order(), state=from_state, courier_id=courier, version=5)
    if (from_state, to_state) in EXPECTED_TABLE:
        t = call(order)
        assert t.order.state is to_state
        assert t.order.version == 6
        (event,) = t.events
        assert (event.from_state, event.to_state, event.seq) == (from_state, to_state, 6)
        assert event.kind == f"order.{to_state}"
        assert event.at == 2.0
    else:
        with pytest.raises(IllegalTransition) as info:
            call(order)
        assert (info.value.from_state, info.value.to_state) == (from_state, to_state)
        assert str(from_state) in str(info.value) and str(to_state) in str(info.value)
        assert isinstance(info.value, ValueError)


def test_happy_path_records_who_when_and_where() -> None:
    t0 = lc.create_order(make_draft(), order_id="o9", tenant="acme", at=10.0, actor=TENANT_ACTOR)
    assert t0.events[0].kind == "order.created" and t0.events[0].from_state is None
    steps = [
        lc.offer(t0.order, "c7", at=11.0, actor=SYSTEM, position=HERE),
    ]
    steps.append(lc.accept(steps[-1].order, "c7", at=12.0, position=HERE))
    steps.append(lc.pick_up(steps[-1].order, "c7", at=13.0, position=HERE))
    steps.append(lc.deliver(steps[-1].order, "c7", PHOTO, at=14.0, position=HERE))
    final = steps[-1].order
    assert final.state is S.DELIVERED and final.courier_id == "c7" and final.version == 5
    assert final.proof_kind is ProofKind.PHOTO and final.proof_reference == PHOTO.reference
    events = [e for s in steps for e in s.events]
    assert [e.seq for e in events] == [2, 3, 4, 5]
    assert all(e.courier_position == HERE and e.courier_id == "c7" for e in events)
    assert events[1].actor == Actor(ActorKind.COURIER, "c7")
    assert events[-1].payload()["data"]["proof_reference"] == PHOTO.reference


def test_offer_rejected_returns_order_to_pool() -> None:
    offered = lc.offer(make_order(), "c1", at=2.0, actor=SYSTEM).order
    back = lc.return_to_pool(
        offered, at=3.0, actor=Actor(ActorKind.COURIER, "c1"), reason="rejected"
    )
    assert back.order.state is S.CREATED and back.order.courier_id is None
    assert back.events[0].data["courier_id"] == "c1"
    again = lc.offer(back.order, "c2", at=4.0, actor=SYSTEM)
    assert again.order.courier_id == "c2"
    with pytest.raises(InvalidOrder):
        lc.return_to_pool(offered, at=3.0, actor=SYSTEM, reason="bored")


def test_another_courier_cannot_act_on_the_order() -> None:
    offered = lc.offer(make_order(), "c1", at=2.0, actor=SYSTEM).order
    with pytest.raises(WrongCourier) as info:
        lc.accept(offered, "c2", at=3.0)
    assert info.value.value == "c2" and info.value.expected == "c1"


def test_create_collects_every_problem() -> None:
    draft = make_draft(
        pickup_lat=91.0,
        dropoff_lng=float("nan"),
        amount_minor=10.5,
        currency="kes",
        size=0,
        dropoff_window=TimeWindow(5.0, 1.0),
        pin="12",
    )
    with pytest.raises(InvalidOrder) as info:
        lc.create_order(draft, order_id="", tenant="acme", at=1.0, actor=TENANT_ACTOR)
    fields = {p[0] for p in info.value.problems}
    assert fields == {
        "id",
        "pickup_lat",
        "dropoff_lng",
        "amount_minor",
        "currency",
        "size",
        "dropoff_window",
        "pin",
    }
    assert "12" not in str(info.value)


def test_bad_courier_position_is_refused_and_nothing_changes(order: Order) -> None:
    with pytest.raises(InvalidCoordinate):
        lc.offer(order, "c1", at=2.0, actor=SYSTEM, position=Position(0.0, 200.0))


class TestProofOfDelivery:
    def picked_up(self, pin: str | None) -> Order:
        o = make_order(pin=pin)
        o = lc.offer(o, "c1", at=2.0, actor=SYSTEM).order
        o = lc.accept(o, "c1", at=3.0).order
        return lc.pick_up(o, "c1", at=4.0).order

    def test_pin_is_stored_hashed_and_checked(self) -> None:
        o = self.picked_up("4821")
        assert o.pin_hash is not None and "4821" not in o.pin_hash
        with pytest.raises(ProofOfDeliveryRejected) as info:
            lc.deliver(o, "c1", Proof(ProofKind.PIN, pin="4822"), at=5.0)
        assert info.value.field == "pin" and "4822" not in str(info.value)
        done = lc.deliver(o, "c1", Proof(ProofKind.PIN, pin="4821"), at=5.0)
        assert done.order.state is S.DELIVERED and done.order.proof_kind is ProofKind.PIN
        assert "4821" not in repr(done)

    def test_order_with_pin_refuses_a_photo(self) -> None:
        with pytest.raises(ProofOfDeliveryRejected) as info:
            lc.deliver(self.picked_up("4821"), "c1", PHOTO, at=5.0)
        assert info.value.field == "kind"

    def test_photo_or_signature_needs_a_reference(self) -> None:
        o = self.picked_up(None)
        for kind in (ProofKind.PHOTO, ProofKind.SIGNATURE):
            with pytest.raises(ProofOfDeliveryRejected):
                lc.deliver(o, "c1", Proof(kind), at=5.0)
        with pytest.raises(ProofOfDeliveryRejected):
            lc.deliver(o, "c1", Proof(ProofKind.PIN, pin="1234"), at=5.0)
        sig = lc.deliver(o, "c1", Proof(ProofKind.SIGNATURE, reference="sig-1"), at=5.0)
        assert sig.order.proof_reference == "sig-1"
