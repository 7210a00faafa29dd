"""Orders: create (with Idempotency-Key), get, list, cancel, events."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field

from api import order_flow
from api.deps import RuntimeDep, TenantDep
from dispatch.model import MAX_PRIORITY
from orders import lifecycle
from orders.idempotency import fingerprint
from orders.lifecycle import OrderDraft
from orders.model import Actor, ActorKind, Order, ProofKind, ProofOfDelivery, TimeWindow

router = APIRouter(tags=["orders"])

State = Literal["created", "offered", "assigned", "picked_up", "delivered", "cancelled", "failed"]


class PointIn(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[lng, lat]")


class WindowIn(BaseModel):
    start: float
    end: float


class OrderIn(BaseModel):
    pickup: PointIn
    dropoff: PointIn
    size: int = Field(default=1, ge=1, le=1000)
    priority: int = Field(default=0, ge=0, le=MAX_PRIORITY)
    amount_minor: int = Field(default=0, ge=0)
    currency: str = Field(default="KES", pattern=r"^[A-Z]{3}$")
    pickup_window: WindowIn | None = None
    dropoff_window: WindowIn | None = None
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,8}$")


class CancelIn(BaseModel):
    reason: str = Field(default="cancelled by tenant", max_length=500)


class PickUpIn(BaseModel):
    courier_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="defaults to the order's courier"
    )


class ProofBody(BaseModel):
    kind: Literal["photo", "signature", "pin"]
    reference: str | None = Field(default=None, min_length=1, max_length=500)
    pin: str | None = Field(default=None, max_length=16)


class DeliverIn(PickUpIn):
    proof: ProofBody


def new_order_id() -> str:
    return "ord_" + secrets.token_urlsafe(12)


def _window(window: TimeWindow | None) -> list[float] | None:
    return [window.start, window.end] if window else None


def order_view(record: Order) -> dict[str, Any]:
    return {
        "id": record.id,
        "state": record.state,
        "courier_id": record.courier_id,
        "pickup": {"type": "Point", "coordinates": [record.pickup_lng, record.pickup_lat]},
        "dropoff": {"type": "Point", "coordinates": [record.dropoff_lng, record.dropoff_lat]},
        "size": record.size,
        "priority": record.priority,
        "amount_minor": record.amount_minor,
        "currency": record.currency,
        "pickup_window": _window(record.pickup_window),
        "dropoff_window": _window(record.dropoff_window),
        "pickup_eta": record.pickup_eta,
        "dropoff_eta": record.dropoff_eta,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "version": record.version,
    }


@router.post("/orders", status_code=201)
async def create_order(
    request: Request,
    body: OrderIn,
    tenant: TenantDep,
    runtime: RuntimeDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> dict[str, Any]:
    """Create an order; pickup and drop-off must lie in an active service zone of the tenant.

    The same ``Idempotency-Key`` with the same body returns the first result (200); with a
    different body it is a 409 conflict.
    """
    draft = OrderDraft(
        pickup_lat=body.pickup.coordinates[1],
        pickup_lng=body.pickup.coordinates[0],
        dropoff_lat=body.dropoff.coordinates[1],
        dropoff_lng=body.dropoff.coordinates[0],
        amount_minor=body.amount_minor,
        currency=body.currency,
        size=body.size,
        priority=body.priority,
        pickup_window=TimeWindow(body.pickup_window.start, body.pickup_window.end)
        if body.pickup_window
        else None,
        dropoff_window=TimeWindow(body.dropoff_window.start, body.dropoff_window.end)
        if body.dropoff_window
        else None,
        pin=body.pin,
    )
    created = lifecycle.create_order(
        draft,
        order_id=new_order_id(),
        tenant=tenant.id,
        at=runtime.clock(),
        actor=Actor(ActorKind.TENANT, tenant.id),
    )
    order, fresh = runtime.store.create_order(
        created,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint("POST", "/v1/orders", await request.body())
        if idempotency_key
        else None,
    )
    if fresh:
        runtime.publish_order(tenant.id, order)
        runtime.dispatch.submit(order)
    else:
        response.status_code = 200
    return order_view(order)


@router.get("/orders")
def list_orders(
    tenant: TenantDep,
    runtime: RuntimeDep,
    state: State | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    records = runtime.store.list_orders(tenant.id, state=state, limit=limit)
    return {"orders": [order_view(r) for r in records]}


@router.get("/orders/{order_id}")
def get_order(order_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return order_view(runtime.store.get_order(tenant.id, order_id))


@router.get("/orders/{order_id}/events")
def order_events(order_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    events = runtime.store.list_order_events(tenant.id, order_id)
    return {"events": [e.payload() for e in events]}


@router.post("/orders/{order_id}/cancel")
def cancel_order(
    order_id: str, tenant: TenantDep, runtime: RuntimeDep, body: CancelIn | None = None
) -> dict[str, Any]:
    reason = body.reason if body else "cancelled by tenant"
    actor = Actor(ActorKind.TENANT, tenant.id)
    record = order_flow.apply(
        runtime,
        tenant.id,
        order_id,
        lambda order: lifecycle.cancel(order, at=runtime.clock(), actor=actor, reason=reason),
    )
    runtime.dispatch.offers.withdraw_order(order_id)
    runtime.dispatch.withdraw(order_id)
    return order_view(record)


def _courier(runtime: RuntimeDep, tenant_id: str, order_id: str, given: str | None) -> str:
    return given or runtime.store.get_order(tenant_id, order_id).courier_id or ""


@router.post("/orders/{order_id}/pick_up")
def pick_up_order(
    order_id: str, tenant: TenantDep, runtime: RuntimeDep, body: PickUpIn | None = None
) -> dict[str, Any]:
    """The courier has the parcel (``assigned -> picked_up``), recorded by the tenant."""
    courier = _courier(runtime, tenant.id, order_id, body.courier_id if body else None)
    actor = Actor(ActorKind.TENANT, tenant.id)
    return order_view(order_flow.pick_up(runtime, tenant.id, order_id, courier, actor))


@router.post("/orders/{order_id}/deliver")
def deliver_order(
    order_id: str, body: DeliverIn, tenant: TenantDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Delivered with proof (``picked_up -> delivered``): a photo or signature reference, or
    the customer's PIN (wrong PINs are limited per order). The order is billed, and cash on
    delivery collected, in the same transaction."""
    courier = _courier(runtime, tenant.id, order_id, body.courier_id)
    proof = ProofOfDelivery(ProofKind(body.proof.kind), body.proof.reference, body.proof.pin)
    actor = Actor(ActorKind.TENANT, tenant.id)
    return order_view(order_flow.deliver(runtime, tenant.id, order_id, courier, proof, actor))


class FailIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="no access, refused, damaged")


@router.post("/orders/{order_id}/fail")
def fail_order(
    order_id: str, body: FailIn, tenant: TenantDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Give up after assignment (``assigned | picked_up -> failed``): the courier is freed, an
    open payment cancelled, a captured one refunded."""
    actor = Actor(ActorKind.TENANT, tenant.id)
    return order_view(order_flow.fail(runtime, tenant.id, order_id, body.reason, actor))
