"""Payments: intents on orders, capture, refunds, provider callbacks, courier statements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api import payment_flow
from api.deps import RuntimeDep, TenantDep
from api.payment_flow import MethodName
from payments.intents import PaymentIntent
from payments.statements import courier_statement

router = APIRouter(tags=["payments"])


class PaymentIn(BaseModel):
    method: MethodName
    payer: str | None = Field(
        default=None,
        max_length=64,
        description="mobile money: the payer's phone number; card: the (test) card number",
    )


class CaptureIn(BaseModel):
    amount_minor: int | None = Field(default=None, gt=0, description="default: all authorized")


class RefundIn(BaseModel):
    amount_minor: int | None = Field(default=None, gt=0, description="default: all refundable")
    refund_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="idempotency key of the refund: the same id refunds once",
    )


def payment_view(intent: PaymentIntent) -> dict[str, Any]:
    return {
        "id": intent.id,
        "order_id": intent.order_id,
        "method": str(intent.method),
        "provider": intent.provider,
        "state": str(intent.state),
        "amount_minor": intent.amount_minor,
        "currency": intent.currency,
        "captured_minor": intent.captured_minor,
        "refunded_minor": intent.refunded_minor,
        "refunding_minor": sum(amount for _, amount in intent.pending_refunds),
        "provider_ref": intent.provider_ref,
        "failure_reason": intent.failure_reason,
        "created_at": intent.created_at,
        "updated_at": intent.updated_at,
        "version": intent.version,
    }


@router.post("/orders/{order_id}/payments", status_code=201)
def create_payment(
    order_id: str, body: PaymentIn, tenant: TenantDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Attach a payment for the order's amount: ``cash`` (collected on delivery),
    ``mobile_money`` (an STK push, confirmed by callback) or ``card`` (authorized now or after
    3-D Secure; capture it with ``/capture``)."""
    intent = payment_flow.create_payment(runtime, tenant.id, order_id, body.method, body.payer)
    return payment_view(intent)


@router.get("/orders/{order_id}/payments")
def order_payments(order_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    runtime.store.get_order(tenant.id, order_id)
    intents = runtime.store.payments_of_order(tenant.id, order_id)
    return {"payments": [payment_view(i) for i in intents]}


@router.get("/payments/{payment_id}")
def get_payment(payment_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return payment_view(runtime.store.get_payment(tenant.id, payment_id))


@router.post("/payments/{payment_id}/capture")
def capture_payment(
    payment_id: str, tenant: TenantDep, runtime: RuntimeDep, body: CaptureIn | None = None
) -> dict[str, Any]:
    amount = body.amount_minor if body else None
    return payment_view(payment_flow.capture(runtime, tenant.id, payment_id, amount))


@router.post("/payments/{payment_id}/refund")
def refund_payment(
    payment_id: str, tenant: TenantDep, runtime: RuntimeDep, body: RefundIn | None = None
) -> dict[str, Any]:
    """Refund all or part of the captured amount; cash refunds settle at once, provider
    refunds show as ``refunding_minor`` until the provider's callback confirms them."""
    body = body or RefundIn()
    intent = payment_flow.refund(runtime, tenant.id, payment_id, body.amount_minor, body.refund_id)
    return payment_view(intent)


@router.post("/payments/callbacks/{provider}")
async def provider_callback(provider: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """A provider's signed callback (no API key: the signature over the raw body is the
    credential). Duplicate, late and out-of-order callbacks are answered 200 and change
    nothing twice."""
    body = await request.body()
    result = payment_flow.handle_callback(runtime, provider, request.headers, body)
    return {
        "received": True,
        "applied": result.changed and bool(result.events),
        "note": result.note,
    }


@router.get("/couriers/{courier_id}/statement")
def statement(
    courier_id: str,
    tenant: TenantDep,
    runtime: RuntimeDep,
    start: Annotated[float, Query(alias="from", description="UTC epoch seconds")] = 0.0,
    end: Annotated[
        float | None, Query(alias="to", description="UTC epoch seconds, exclusive; default now")
    ] = None,
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")] = "KES",
) -> dict[str, Any]:
    """Earnings per delivery (base + distance part) over ``[from, to)``, read from the ledger."""
    runtime.courier_of_tenant(tenant.id, courier_id)
    end = runtime.clock() + 1e-6 if end is None else end
    st = courier_statement(
        runtime.store.journal_entries(tenant.id),
        tenant=tenant.id,
        courier_id=courier_id,
        currency=currency,
        start=start,
        end=end,
    )
    return {
        "courier_id": courier_id,
        "currency": currency,
        "from": start,
        "to": end,
        "deliveries": [
            {
                "order_id": line.order_id,
                "delivered_at": line.delivered_at,
                "distance_m": line.distance_m,
                "base_minor": line.base_minor,
                "distance_minor": line.distance_minor,
                "total_minor": line.total_minor,
            }
            for line in st.lines
        ],
        "total_minor": st.total_minor,
        "total_distance_m": st.total_distance_m,
    }
