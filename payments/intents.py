"""Payment intents: one per order, a state machine driven by our actions and provider updates.

States::

    requires_action | pending -> authorized -> succeeded -> partially_refunded -> refunded
    requires_action | pending | authorized -> failed | cancelled
    failed | cancelled -> succeeded     (late success: see below)

Provider updates (synchronous responses and asynchronous callbacks alike) are applied with
`apply_update`, idempotently: each carries an id, an id seen before is a no-op, and a stale
update (a failure arriving after a success, an authorization after the capture) is recorded
as seen and ignored. The provider is the source of truth for money: a success reported after
we gave up on the payment (timeout, cancellation) is recorded, never dropped, and the caller
refunds it if the order is gone (`payments.settlement.refund_due`).

Every function returns a `PaymentResult`: the intent to write, its events and the journal
entries to post, all in one transaction with the order change that caused them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from orders.model import Order, money_problems
from payments.errors import (
    CallbackRejected,
    IllegalPaymentTransition,
    InvalidPayment,
    ProviderMismatch,
    RefundExceedsCapture,
)
from payments.ledger import JournalEntry
from payments.postings import receipt_entry, refund_entry


class PaymentMethod(StrEnum):
    """How the customer pays."""

    CASH_ON_DELIVERY = "cash_on_delivery"
    MOBILE_MONEY = "mobile_money"
    CARD = "card"


class IntentState(StrEnum):
    """Where a payment stands (see `INTENT_TRANSITIONS`)."""

    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    SUCCEEDED = "succeeded"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    FAILED = "failed"
    CANCELLED = "cancelled"


P = IntentState
OPEN_STATES = frozenset({P.REQUIRES_ACTION, P.PENDING, P.AUTHORIZED})
CAPTURED_STATES = frozenset({P.SUCCEEDED, P.PARTIALLY_REFUNDED, P.REFUNDED})
INTENT_TRANSITIONS: Mapping[IntentState, frozenset[IntentState]] = MappingProxyType(
    {
        P.REQUIRES_ACTION: frozenset({P.PENDING, P.AUTHORIZED, P.SUCCEEDED, P.FAILED, P.CANCELLED}),
        P.PENDING: frozenset({P.AUTHORIZED, P.SUCCEEDED, P.FAILED, P.CANCELLED}),
        P.AUTHORIZED: frozenset({P.SUCCEEDED, P.FAILED, P.CANCELLED}),
        P.SUCCEEDED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
        P.PARTIALLY_REFUNDED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
        P.REFUNDED: frozenset(),
        P.FAILED: frozenset({P.SUCCEEDED}),
        P.CANCELLED: frozenset({P.SUCCEEDED}),
    }
)


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    """How an order is paid. Amounts are integer minor units of ``currency``.

    ``seen_updates`` and ``refund_ids`` make provider updates idempotent; the store may keep
    them in side tables with unique constraints instead of on the row. ``pending_refunds``
    holds ``(refund id, amount)`` asked of the provider and not confirmed yet: they are not
    refundable again.
    """

    id: str
    tenant: str
    order_id: str
    method: PaymentMethod
    provider: str
    amount_minor: int
    currency: str
    created_at: float
    state: IntentState
    provider_ref: str | None = None
    captured_minor: int = 0
    refunded_minor: int = 0
    refund_ids: frozenset[str] = frozenset()
    pending_refunds: tuple[tuple[str, int], ...] = ()
    seen_updates: frozenset[str] = frozenset()
    failure_reason: str | None = None
    cash_courier_id: str | None = None
    updated_at: float = 0.0
    version: int = 1

    @property
    def refundable_minor(self) -> int:
        """Captured, not refunded, and not being refunded."""
        pending = sum(amount for _, amount in self.pending_refunds)
        return self.captured_minor - self.refunded_minor - pending


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A payment state change (``payment.<state>``), ordered per intent by ``seq``."""

    intent_id: str
    order_id: str
    tenant: str
    seq: int
    kind: str
    from_state: IntentState | None
    to_state: IntentState
    at: float
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def ordering_key(self) -> str:
        """Events of one intent are delivered in ``seq`` order under this key."""
        return f"payment:{self.intent_id}"

    def payload(self) -> dict[str, Any]:
        """The JSON-ready body of this event (webhooks and the order's stream)."""
        return {
            "type": self.kind,
            "intent_id": self.intent_id,
            "order_id": self.order_id,
            "seq": self.seq,
            "from_state": None if self.from_state is None else str(self.from_state),
            "to_state": str(self.to_state),
            "at": self.at,
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What to persist: the intent, its new events and the journal entries to post.

    ``changed`` is False for a duplicate update (nothing to write); ``note`` says why an
    update was ignored (stale or already applied).
    """

    intent: PaymentIntent
    events: tuple[PaymentEvent, ...] = ()
    entries: tuple[JournalEntry, ...] = ()
    changed: bool = True
    note: str | None = None


class UpdateKind(StrEnum):
    """What a provider says happened."""

    PENDING = "pending"
    AUTHORIZED = "authorized"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class ProviderUpdate:
    """A provider's synchronous answer or asynchronous callback, normalized.

    ``update_id`` is stable across redeliveries of one callback (the provider's event id, or
    a digest of its identifying fields), which is what makes callbacks idempotent.
    """

    update_id: str
    provider_ref: str
    kind: UpdateKind
    at: float
    amount_minor: int | None = None
    currency: str | None = None
    refund_id: str | None = None
    reason: str | None = None


def create_intent(
    order: Order, method: PaymentMethod, provider: str, *, intent_id: str, at: float
) -> PaymentResult:
    """A new intent for the whole order amount.

    Cash on delivery starts ``pending`` (it settles on delivery); mobile money and card
    start ``requires_action`` (the customer must approve, the card be authorized).
    """
    problems = money_problems("amount_minor", order.amount_minor, order.currency)
    if not isinstance(method, PaymentMethod):
        problems.append(("method", method, f"must be one of {[m.value for m in PaymentMethod]}"))
    if problems:
        raise InvalidPayment(problems)
    state = P.PENDING if method is PaymentMethod.CASH_ON_DELIVERY else P.REQUIRES_ACTION
    intent = PaymentIntent(
        id=intent_id,
        tenant=order.tenant,
        order_id=order.id,
        method=method,
        provider=provider,
        amount_minor=order.amount_minor,
        currency=order.currency,
        created_at=at,
        state=state,
        updated_at=at,
    )
    event = _event(intent, None, at, {"method": str(method), "amount_minor": order.amount_minor})
    return PaymentResult(intent, (event,))


def _event(
    intent: PaymentIntent, from_state: IntentState | None, at: float, data: Mapping[str, Any]
) -> PaymentEvent:
    return PaymentEvent(
        intent_id=intent.id,
        order_id=intent.order_id,
        tenant=intent.tenant,
        seq=intent.version,
        kind=f"payment.{intent.state}",
        from_state=from_state,
        to_state=intent.state,
        at=at,
        data=MappingProxyType(dict(data)),
    )


def _change(
    intent: PaymentIntent,
    *,
    at: float,
    to_state: IntentState | None = None,
    entries: tuple[JournalEntry, ...] = (),
    data: Mapping[str, Any] | None = None,
    note: str | None = None,
    **changes: Any,
) -> PaymentResult:
    if to_state is not None and to_state not in INTENT_TRANSITIONS[intent.state]:
        raise IllegalPaymentTransition(intent.id, intent.state, to_state)
    new = replace(
        intent,
        state=to_state or intent.state,
        updated_at=at,
        version=intent.version + 1,
        **changes,
    )
    events = () if to_state is None else (_event(new, intent.state, at, data or {}),)
    return PaymentResult(new, events, entries, note=note)


def cancel_intent(intent: PaymentIntent, *, at: float, reason: str) -> PaymentResult:
    """Give up on an open intent (order cancelled, customer changed method).

    Raises
    ------
    IllegalPaymentTransition
        The intent is not open (already succeeded, failed or cancelled).
    """
    return _change(
        intent, at=at, to_state=P.CANCELLED, data={"reason": reason}, failure_reason=reason
    )


def collect_cash(intent: PaymentIntent, courier_id: str, *, at: float) -> PaymentResult:
    """Cash on delivery: the courier took the whole amount at the door.

    The receipt debits the courier's cash-held account (the courier owes the cash until it is
    remitted).
    """
    if intent.method is not PaymentMethod.CASH_ON_DELIVERY:
        raise InvalidPayment(
            [("method", intent.method, "cash is collected only for cash_on_delivery")]
        )
    entry = receipt_entry(intent, intent.amount_minor, at=at, courier_id=courier_id)
    return _change(
        intent,
        at=at,
        to_state=P.SUCCEEDED,
        entries=(entry,),
        data={"amount_minor": intent.amount_minor, "courier_id": courier_id},
        captured_minor=intent.amount_minor,
        cash_courier_id=courier_id,
    )


def request_refund(
    intent: PaymentIntent, refund_id: str, amount_minor: int, *, at: float
) -> PaymentResult:
    """Reserve a refund before asking the provider for it (persist, then call the provider).

    Asking again with the same id and amount is a no-op, so a crashed request can be retried.

    Raises
    ------
    RefundExceedsCapture
        More than what is captured, not refunded and not already being refunded.
    InvalidPayment
        An id already used for another amount or an already confirmed refund.
    """
    if (refund_id, amount_minor) in intent.pending_refunds:
        return PaymentResult(intent, changed=False, note="refund already requested")
    if refund_id in intent.refund_ids or any(r == refund_id for r, _ in intent.pending_refunds):
        raise InvalidPayment([("refund_id", refund_id, "already used")])
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise InvalidPayment([("amount_minor", amount_minor, "must be an integer")])
    if not 0 < amount_minor <= intent.refundable_minor:
        raise RefundExceedsCapture(intent.id, amount_minor, intent.refundable_minor)
    return _change(
        intent, at=at, pending_refunds=(*intent.pending_refunds, (refund_id, amount_minor))
    )


def release_refund(intent: PaymentIntent, refund_id: str, *, at: float) -> PaymentResult:
    """Drop a reserved refund the provider refused (`request_refund` undone); releasing one
    that is not reserved is a no-op."""
    if all(r != refund_id for r, _ in intent.pending_refunds):
        return PaymentResult(intent, changed=False, note="no such refund reserved")
    return _change(
        intent,
        at=at,
        pending_refunds=tuple(p for p in intent.pending_refunds if p[0] != refund_id),
    )


def apply_update(intent: PaymentIntent, update: ProviderUpdate, *, billed: bool) -> PaymentResult:
    """Apply a provider update once.

    Parameters
    ----------
    intent
        The intent the update's ``provider_ref`` points to.
    update
        A synchronous provider answer or a verified callback.
    billed
        Whether the order's delivery has been billed (decides which account a refund debits).

    Raises
    ------
    ProviderMismatch
        The update names another provider reference or currency, or more than authorized.
    CallbackRejected
        A refund confirmation before the capture is known: the provider should retry later.
    RefundExceedsCapture
        A refund larger than what remains refundable.
    """
    if update.update_id in intent.seen_updates:
        return PaymentResult(intent, changed=False, note="duplicate")
    if intent.provider_ref is not None and update.provider_ref != intent.provider_ref:
        raise ProviderMismatch(intent.id, "provider_ref", update.provider_ref, intent.provider_ref)
    if update.currency is not None and update.currency != intent.currency:
        raise ProviderMismatch(intent.id, "currency", update.currency, intent.currency)
    seen: dict[str, Any] = {
        "seen_updates": intent.seen_updates | {update.update_id},
        "provider_ref": update.provider_ref,
    }
    state, kind, at = intent.state, update.kind, update.at
    data = {"provider_ref": update.provider_ref, "update_id": update.update_id}

    if kind is UpdateKind.SUCCEEDED:
        if intent.captured_minor > 0:
            return _change(intent, at=at, note="already captured", **seen)
        amount = intent.amount_minor if update.amount_minor is None else update.amount_minor
        if not 0 < amount <= intent.amount_minor:
            raise ProviderMismatch(intent.id, "amount_minor", amount, intent.amount_minor)
        entry = receipt_entry(intent, amount, at=at)
        late = "late success" if state in (P.FAILED, P.CANCELLED) else None
        return _change(
            intent,
            at=at,
            to_state=P.SUCCEEDED,
            entries=(entry,),
            note=late,
            data={**data, "amount_minor": amount},
            captured_minor=amount,
            **seen,
        )
    if kind is UpdateKind.REFUNDED:
        return _refund(intent, update, billed=billed, seen=seen, data=data)
    target = {
        UpdateKind.PENDING: (P.PENDING, frozenset({P.REQUIRES_ACTION})),
        UpdateKind.AUTHORIZED: (P.AUTHORIZED, frozenset({P.REQUIRES_ACTION, P.PENDING})),
        UpdateKind.FAILED: (P.FAILED, OPEN_STATES),
        UpdateKind.TIMED_OUT: (P.FAILED, OPEN_STATES),
        UpdateKind.CANCELLED: (P.CANCELLED, OPEN_STATES),
    }
    to_state, from_states = target[kind]
    if state not in from_states:
        return _change(intent, at=at, note=f"stale {kind} in state {state}", **seen)
    reason = update.reason or (str(kind) if to_state in (P.FAILED, P.CANCELLED) else None)
    return _change(
        intent,
        at=at,
        to_state=to_state,
        data={**data, "reason": reason},
        failure_reason=reason,
        **seen,
    )


def _refund(
    intent: PaymentIntent,
    update: ProviderUpdate,
    *,
    billed: bool,
    seen: dict[str, Any],
    data: dict[str, Any],
) -> PaymentResult:
    refund_id = update.refund_id
    if not refund_id:
        raise CallbackRejected(intent.id, "refund_id", refund_id, "a refund needs its id")
    if refund_id in intent.refund_ids:
        return _change(intent, at=update.at, note="refund already applied", **seen)
    if intent.captured_minor == 0:
        raise CallbackRejected(intent.id, "refund_id", refund_id, "no capture known yet")
    reserved = dict(intent.pending_refunds).get(refund_id)
    available = intent.refundable_minor + (reserved or 0)
    amount = update.amount_minor if update.amount_minor is not None else (reserved or available)
    if reserved is not None and amount != reserved:
        raise ProviderMismatch(intent.id, "amount_minor", amount, reserved)
    if not 0 < amount <= available:
        raise RefundExceedsCapture(intent.id, amount, available)
    refunded = intent.refunded_minor + amount
    to_state = P.REFUNDED if refunded == intent.captured_minor else P.PARTIALLY_REFUNDED
    entry = refund_entry(intent, refund_id, amount, at=update.at, billed=billed)
    return _change(
        intent,
        at=update.at,
        to_state=to_state,
        entries=(entry,),
        data={**data, "refund_id": refund_id, "amount_minor": amount},
        refunded_minor=refunded,
        refund_ids=intent.refund_ids | {refund_id},
        pending_refunds=tuple(r for r in intent.pending_refunds if r[0] != refund_id),
        **seen,
    )
