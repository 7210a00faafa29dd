"""Order state machine: each operation returns the new order and the event it produced.

The lifecycle is::

    created -> offered -> assigned -> picked_up -> delivered
    created | offered | assigned -> cancelled
    assigned | picked_up -> failed
    offered -> created          (offer rejected or expired: the order returns to the pool)

Operations are pure: they take an `Order`, validate, and return a `Transition` (new order,
events). The caller persists the order (optimistically, on ``version``) together with the
events, and whatever webhooks and payments derive from them, in one transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from geo.coords import validate_lat_lng
from orders.errors import IllegalTransition, InvalidOrder, ProofOfDeliveryRejected, WrongCourier
from orders.model import (
    Actor,
    ActorKind,
    Order,
    OrderEvent,
    OrderState,
    Position,
    Problem,
    ProofKind,
    ProofOfDelivery,
    TimeWindow,
    coordinate_problems,
    money_problems,
    window_problems,
)
from orders.pins import DEFAULT_ITERATIONS, hash_pin, verify_pin

S = OrderState
TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = MappingProxyType(
    {
        S.CREATED: frozenset({S.OFFERED, S.CANCELLED}),
        S.OFFERED: frozenset({S.ASSIGNED, S.CREATED, S.CANCELLED}),
        S.ASSIGNED: frozenset({S.PICKED_UP, S.CANCELLED, S.FAILED}),
        S.PICKED_UP: frozenset({S.DELIVERED, S.FAILED}),
        S.DELIVERED: frozenset(),
        S.CANCELLED: frozenset(),
        S.FAILED: frozenset(),
    }
)
"""Allowed moves; every pair not listed raises `IllegalTransition`."""

RETURN_REASONS = frozenset({"rejected", "expired"})


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of a lifecycle operation: the order to write and the events to append."""

    order: Order
    events: tuple[OrderEvent, ...]


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """What a tenant asks for when creating an order (the validated request body)."""

    pickup_lat: float
    pickup_lng: float
    dropoff_lat: float
    dropoff_lng: float
    amount_minor: int
    currency: str
    size: int = 1
    priority: int = 0
    pickup_window: TimeWindow | None = None
    dropoff_window: TimeWindow | None = None
    pin: str | None = None


def can_transition(from_state: OrderState, to_state: OrderState) -> bool:
    """Whether the lifecycle allows ``from_state -> to_state``."""
    return to_state in TRANSITIONS[from_state]


def _draft_problems(draft: OrderDraft, order_id: str, tenant: str, at: float) -> list[Problem]:
    problems: list[Problem] = []
    for name, value in (("id", order_id), ("tenant", tenant)):
        if not isinstance(value, str) or not value:
            problems.append((name, value, "must be a non-empty string"))
    problems += coordinate_problems("pickup", draft.pickup_lat, draft.pickup_lng)
    problems += coordinate_problems("dropoff", draft.dropoff_lat, draft.dropoff_lng)
    problems += money_problems("amount_minor", draft.amount_minor, draft.currency)
    if isinstance(draft.size, bool) or not isinstance(draft.size, int) or draft.size < 1:
        problems.append(("size", draft.size, "must be an integer >= 1 (capacity units)"))
    if isinstance(draft.priority, bool) or not isinstance(draft.priority, int):
        problems.append(("priority", draft.priority, "must be an integer"))
    problems += window_problems("pickup_window", draft.pickup_window)
    problems += window_problems("dropoff_window", draft.dropoff_window)
    if draft.pin is not None and not (draft.pin.isdigit() and 4 <= len(draft.pin) <= 8):
        problems.append(("pin", "<redacted>", "must be 4 to 8 digits"))
    if not math.isfinite(at):
        problems.append(("created_at", at, "must be finite"))
    return problems


def create_order(
    draft: OrderDraft,
    *,
    order_id: str,
    tenant: str,
    at: float,
    actor: Actor,
    pin_iterations: int = DEFAULT_ITERATIONS,
) -> Transition:
    """Validate a draft and create the order in state ``created``.

    Raises
    ------
    InvalidOrder
        Listing every invalid field at once.
    """
    problems = _draft_problems(draft, order_id, tenant, at)
    if problems:
        raise InvalidOrder(problems)
    order = Order(
        id=order_id,
        tenant=tenant,
        pickup_lat=float(draft.pickup_lat),
        pickup_lng=float(draft.pickup_lng),
        dropoff_lat=float(draft.dropoff_lat),
        dropoff_lng=float(draft.dropoff_lng),
        amount_minor=draft.amount_minor,
        currency=draft.currency,
        created_at=at,
        size=draft.size,
        priority=draft.priority,
        pin_hash=None if draft.pin is None else hash_pin(draft.pin, iterations=pin_iterations),
        pickup_window=draft.pickup_window,
        dropoff_window=draft.dropoff_window,
        updated_at=at,
    )
    event = OrderEvent(
        order_id=order.id,
        tenant=tenant,
        seq=order.version,
        kind="order.created",
        from_state=None,
        to_state=OrderState.CREATED,
        actor=actor,
        at=at,
        data=MappingProxyType({"amount_minor": order.amount_minor, "currency": order.currency}),
    )
    return Transition(order, (event,))


def _move(
    order: Order,
    to_state: OrderState,
    *,
    actor: Actor,
    at: float,
    position: Position | None,
    data: Mapping[str, Any] | None = None,
    **changes: Any,
) -> Transition:
    if not can_transition(order.state, to_state):
        raise IllegalTransition(order.id, order.state, to_state)
    if position is not None:
        validate_lat_lng(position.lat, position.lng)
    new = replace(order, state=to_state, updated_at=at, version=order.version + 1, **changes)
    event = OrderEvent(
        order_id=order.id,
        tenant=order.tenant,
        seq=new.version,
        kind=f"order.{to_state}",
        from_state=order.state,
        to_state=to_state,
        actor=actor,
        at=at,
        courier_id=new.courier_id if new.courier_id is not None else order.courier_id,
        courier_position=position,
        data=MappingProxyType(dict(data or {})),
    )
    return Transition(new, (event,))


def _require_courier(order: Order, to_state: OrderState, courier_id: str) -> None:
    # The state check comes first so that a wrong state is reported as such, not as a
    # wrong courier.
    if not can_transition(order.state, to_state):
        raise IllegalTransition(order.id, order.state, to_state)
    if order.courier_id != courier_id:
        raise WrongCourier(order.id, order.courier_id, courier_id)


def offer(
    order: Order, courier_id: str, *, at: float, actor: Actor, position: Position | None = None
) -> Transition:
    """Offer a ``created`` order to a courier (dispatch's choice); ``position`` is the courier's."""
    if not courier_id:
        raise InvalidOrder([("courier_id", courier_id, "must be a non-empty string")])
    return _move(
        order, S.OFFERED, actor=actor, at=at, position=position, courier_id=courier_id, reason=None
    )


def return_to_pool(
    order: Order, *, at: float, actor: Actor, reason: str, position: Position | None = None
) -> Transition:
    """Put an ``offered`` order back to ``created`` because the offer was rejected or expired."""
    if reason not in RETURN_REASONS:
        raise InvalidOrder([("reason", reason, f"must be one of {sorted(RETURN_REASONS)}")])
    return _move(
        order,
        S.CREATED,
        actor=actor,
        at=at,
        position=position,
        data={"reason": reason, "courier_id": order.courier_id},
        courier_id=None,
        reason=reason,
    )


def _courier_step(
    order: Order,
    to_state: OrderState,
    courier_id: str,
    *,
    at: float,
    actor: Actor | None,
    position: Position | None,
    **changes: Any,
) -> Transition:
    _require_courier(order, to_state, courier_id)
    actor = actor if actor is not None else Actor(ActorKind.COURIER, courier_id)
    return _move(order, to_state, actor=actor, at=at, position=position, **changes)


def accept(
    order: Order,
    courier_id: str,
    *,
    at: float,
    actor: Actor | None = None,
    position: Position | None = None,
) -> Transition:
    """The offered courier accepts: ``offered -> assigned``."""
    return _courier_step(
        order, S.ASSIGNED, courier_id, at=at, actor=actor, position=position, reason=None
    )


def pick_up(
    order: Order,
    courier_id: str,
    *,
    at: float,
    actor: Actor | None = None,
    position: Position | None = None,
) -> Transition:
    """The assigned courier has the parcel: ``assigned -> picked_up``."""
    return _courier_step(order, S.PICKED_UP, courier_id, at=at, actor=actor, position=position)


def deliver(
    order: Order,
    courier_id: str,
    proof: ProofOfDelivery,
    *,
    at: float,
    actor: Actor | None = None,
    position: Position | None = None,
) -> Transition:
    """Hand over the parcel with proof: ``picked_up -> delivered``.

    An order created with a PIN can only be delivered with that PIN; other orders accept a
    photo or signature reference (or a PIN proof, which then fails: there is nothing to check).

    Raises
    ------
    ProofOfDeliveryRejected
        Missing reference, missing or wrong PIN.
    """
    _require_courier(order, S.DELIVERED, courier_id)  # before the proof: report state first
    if order.pin_hash is not None and proof.kind is not ProofKind.PIN:
        raise ProofOfDeliveryRejected(order.id, "kind", "this order requires the customer's PIN")
    if proof.kind is ProofKind.PIN:
        if order.pin_hash is None:
            raise ProofOfDeliveryRejected(order.id, "kind", "this order has no PIN")
        if not proof.pin or not verify_pin(proof.pin, order.pin_hash):
            raise ProofOfDeliveryRejected(order.id, "pin", "does not match")
    elif not proof.reference:
        raise ProofOfDeliveryRejected(order.id, "reference", f"a {proof.kind} reference is needed")
    return _courier_step(
        order,
        S.DELIVERED,
        courier_id,
        at=at,
        actor=actor,
        position=position,
        data={"proof_kind": str(proof.kind), "proof_reference": proof.reference},
        proof_kind=proof.kind,
        proof_reference=proof.reference,
    )


def cancel(order: Order, *, at: float, actor: Actor, reason: str) -> Transition:
    """Cancel before pick-up: ``created | offered | assigned -> cancelled``."""
    return _move(
        order,
        S.CANCELLED,
        actor=actor,
        at=at,
        position=None,
        data={"reason": reason},
        reason=reason,
    )


def fail(
    order: Order, *, at: float, actor: Actor, reason: str, position: Position | None = None
) -> Transition:
    """Give up after assignment (no access, refused, damaged): ``assigned | picked_up -> failed``."""
    return _move(
        order,
        S.FAILED,
        actor=actor,
        at=at,
        position=position,
        data={"reason": reason},
        reason=reason,
    )
