"""Payments in the server: intents created and moved by REST calls and provider callbacks.

Every step is `payments.intents` deciding and the store writing the intent, its events, its
journal entries and its webhook messages in one transaction (`Store.save_payment`). Provider
answers, synchronous or by callback, go through `payments.intents.apply_update`, which makes a
duplicate, late or out-of-order callback a no-op or a recorded late success, never a double
posting.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import Literal

from api.runtime import Runtime
from orders.model import Order, OrderState
from payments import settlement
from payments.errors import PaymentsError
from payments.intents import (
    OPEN_STATES,
    IntentState,
    PaymentIntent,
    PaymentMethod,
    PaymentResult,
    ProviderUpdate,
    apply_update,
    create_intent,
    release_refund,
    request_refund,
)
from payments.providers import PaymentProvider
from payments.providers.base import Sandbox
from store.errors import AlreadyExists, NotFound, StaleVersion

log = logging.getLogger(__name__)

MethodName = Literal["cash", "mobile_money", "card"]
METHODS: Mapping[str, PaymentMethod] = {
    "cash": PaymentMethod.CASH_ON_DELIVERY,
    "mobile_money": PaymentMethod.MOBILE_MONEY,
    "card": PaymentMethod.CARD,
}
DEAD_INTENTS = frozenset({IntentState.FAILED, IntentState.CANCELLED})
"""Intents that will not collect money (a new one may be created for the order)."""
CALLBACK_RETRIES = 3
"""Optimistic retries of a callback that raced another write to its intent."""


def provider_for(runtime: Runtime, method: PaymentMethod) -> PaymentProvider:
    return next(p for p in runtime.providers.values() if p.method is method)


def _provider(runtime: Runtime, intent: PaymentIntent) -> PaymentProvider:
    provider = runtime.providers.get(intent.provider)
    if provider is None:  # pragma: no cover - intents are created with a known provider
        raise NotFound("provider", intent.provider)
    return provider


def _billed(runtime: Runtime, intent: PaymentIntent) -> bool:
    order = runtime.store.get_order(intent.tenant, intent.order_id)
    return order.state is OrderState.DELIVERED


def _apply(runtime: Runtime, intent: PaymentIntent, update: ProviderUpdate) -> PaymentIntent:
    result = apply_update(intent, update, billed=_billed(runtime, intent))
    return runtime.store.save_payment(result)


def create_payment(
    runtime: Runtime, tenant_id: str, order_id: str, method: MethodName, payer: str | None
) -> PaymentIntent:
    """Attach a payment to an order and start it at the provider (STK push, authorization).

    One live payment per order: another one is refused until it has failed or was cancelled.
    """
    order = runtime.store.get_order(tenant_id, order_id)
    live = [
        i
        for i in runtime.store.payments_of_order(tenant_id, order_id)
        if i.state not in DEAD_INTENTS
    ]
    if live:
        raise AlreadyExists("payment", "order_id", order_id)
    provider = provider_for(runtime, METHODS[method])
    created = create_intent(
        order, provider.method, provider.name, intent_id=new_payment_id(), at=runtime.clock()
    )
    intent = runtime.store.save_payment(created)
    return _apply(runtime, intent, provider.initiate(intent, payer=payer))


def new_payment_id() -> str:
    return "pay_" + secrets.token_urlsafe(12)


def capture(
    runtime: Runtime, tenant_id: str, intent_id: str, amount_minor: int | None
) -> PaymentIntent:
    """Capture an authorized card payment (all of it by default)."""
    intent = runtime.store.get_payment(tenant_id, intent_id)
    provider = _provider(runtime, intent)
    update = provider.capture(intent.provider_ref or "", amount_minor or intent.amount_minor)
    return _apply(runtime, intent, update)


def refund(
    runtime: Runtime,
    tenant_id: str,
    intent_id: str,
    amount_minor: int | None,
    refund_id: str | None,
) -> PaymentIntent:
    """Refund part or all of what is captured: the refund is reserved (so it cannot be asked
    twice), then asked of the provider; it is confirmed at once (cash) or by callback."""
    intent = runtime.store.get_payment(tenant_id, intent_id)
    amount = intent.refundable_minor if amount_minor is None else amount_minor
    rid = refund_id or "rf_" + secrets.token_urlsafe(10)
    reserved = runtime.store.save_payment(request_refund(intent, rid, amount, at=runtime.clock()))
    try:
        update = _provider(runtime, reserved).refund(reserved.provider_ref or "", rid, amount)
    except PaymentsError:
        # Refused by the provider: the reservation goes, so the amount stays refundable.
        runtime.store.save_payment(release_refund(reserved, rid, at=runtime.clock()))
        raise
    return reserved if update is None else _apply(runtime, reserved, update)


def handle_callback(
    runtime: Runtime, provider_name: str, headers: Mapping[str, str], body: bytes
) -> PaymentResult:
    """Verify and apply a provider callback; a duplicate or stale one changes nothing.

    A success that arrives after the order was cancelled or failed is recorded, then refunded
    (`payments.settlement.refund_due`).

    Raises
    ------
    orders.errors.SignatureInvalid
        Bad or stale signature (nothing read from the body is trusted).
    NotFound
        An unknown provider, or a payment the callback's reference does not name.
    """
    provider = runtime.providers.get(provider_name)
    if provider is None:
        raise NotFound("provider", provider_name)
    update = provider.parse_callback(headers, body, now=runtime.clock())
    for attempt in range(CALLBACK_RETRIES):
        intent = runtime.store.payment_by_provider_ref(provider.name, update.provider_ref)
        if intent is None:
            raise NotFound("payment", update.provider_ref)
        order = runtime.store.get_order(intent.tenant, intent.order_id)
        result = apply_update(intent, update, billed=order.state is OrderState.DELIVERED)
        try:
            saved = runtime.store.save_payment(result)
        except StaleVersion:
            if attempt == CALLBACK_RETRIES - 1:
                raise
            continue
        if settlement.refund_due(order, saved) > 0:
            refund(
                runtime,
                saved.tenant,
                saved.id,
                settlement.refund_due(order, saved),
                settlement.closing_refund_id(saved),
            )
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def close_out(runtime: Runtime, order: Order, was: list[PaymentIntent]) -> None:
    """After an order was cancelled or failed: void what was open at the provider and refund
    what was captured (`payments.settlement.refund_due`). Provider calls, made after the
    order's transaction; a refusal is logged, and the refund can be asked again by REST."""
    for before in was:
        try:
            if before.state in OPEN_STATES and before.provider_ref is not None:
                _provider(runtime, before).cancel(before.provider_ref)
            intent = runtime.store.get_payment(order.tenant, before.id)
            due = settlement.refund_due(order, intent)
            if due > 0:
                refund(runtime, order.tenant, intent.id, due, settlement.closing_refund_id(intent))
        except (PaymentsError, StaleVersion) as exc:
            log.warning("closing payment %s of order %s: %s", before.id, order.id, exc)


def deliver_sandbox_callbacks(runtime: Runtime) -> int:
    """Hand the bundled sandboxes' due callbacks to `handle_callback`, signature checked as
    for a real POST (what a provider would send to ``/v1/payments/callbacks/{name}``)."""
    handled = 0
    for provider in list(runtime.providers.values()):
        if not isinstance(provider, Sandbox):
            continue
        for callback in provider.due_callbacks():
            try:
                handle_callback(runtime, provider.name, callback.headers, callback.body)
                handled += 1
            except (LookupError, ValueError) as exc:  # refused as the HTTP route would
                log.warning("sandbox callback from %s refused: %s", provider.name, exc)
    return handled


async def run_sandbox_callbacks(runtime: Runtime, every_s: float) -> None:
    """`deliver_sandbox_callbacks` every ``every_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(deliver_sandbox_callbacks, runtime)
        except Exception:  # the store may be down for a while: callbacks wait in the sandbox
            log.exception("delivering sandbox callbacks failed")
