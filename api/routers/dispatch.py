"""Dispatch: run a batch now, answer offers on a courier's behalf, assign by hand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, TenantDep
from api.routers.orders import order_view
from orders.model import Actor, ActorKind

router = APIRouter(tags=["dispatch"])


class AssignIn(BaseModel):
    courier_id: str = Field(min_length=1, max_length=64)


@router.post("/dispatch/run")
def run_dispatch(tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Run one batch now (it also runs every dispatch window); reports the caller's orders."""
    share = runtime.dispatch.run_for(tenant.id)
    return {
        "mode": share.mode,
        "offers": [
            {"offer_id": oid, "order_id": order, "courier_id": courier, "expires_at": expires}
            for oid, order, courier, expires in share.offers
        ],
        "unassigned": share.unassigned,
    }


@router.post("/offers/{offer_id}/accept")
def accept_offer(offer_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return order_view(runtime.dispatch.answer(tenant.id, None, offer_id, accept=True))


@router.post("/offers/{offer_id}/reject")
def reject_offer(offer_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return order_view(runtime.dispatch.answer(tenant.id, None, offer_id, accept=False))


@router.post("/orders/{order_id}/assign")
def assign_order(
    order_id: str, body: AssignIn, tenant: TenantDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Give an order to a courier of the tenant directly (a dispatcher's decision)."""
    runtime.courier_of_tenant(tenant.id, body.courier_id)
    actor = Actor(ActorKind.DISPATCHER, tenant.id)
    return order_view(runtime.dispatch.assign_by_hand(tenant.id, order_id, body.courier_id, actor))
