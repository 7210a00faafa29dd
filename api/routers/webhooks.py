"""Webhooks: endpoints (register, list, get, delete, re-enable) and the delivery log."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, TenantDep
from api.webhook_targets import check_webhook_url
from orders.webhooks import Attempt, Endpoint, new_endpoint

router = APIRouter(tags=["webhooks"])


class EndpointIn(BaseModel):
    url: str = Field(max_length=2000, description="http(s) URL that receives signed POSTs")
    event_types: list[str] = Field(
        default=["*"],
        min_length=1,
        max_length=100,
        description="exact types (order.delivered), prefixes (payment.*) or *",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="signing secret; generated (and shown once) when omitted",
    )


def _endpoint_view(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": sorted(endpoint.event_types),
        "enabled": endpoint.enabled,
        "consecutive_failures": endpoint.consecutive_failures,
        "retry_at": endpoint.retry_at or None,
        "disabled_reason": endpoint.disabled_reason,
    }


def _attempt_view(attempt: Attempt) -> dict[str, Any]:
    return {
        "message_id": attempt.message_id,
        "event_id": attempt.event_id,
        "event_type": attempt.event_type,
        "endpoint_id": attempt.endpoint_id,
        "ordering_key": attempt.ordering_key,
        "attempt": attempt.number,
        "at": attempt.at,
        "status": "succeeded" if attempt.ok else "failed",
        "status_code": attempt.status_code,
        "error": attempt.error,
        "next_attempt_at": attempt.next_attempt_at,
    }


@router.post("/webhooks/endpoints", status_code=201)
def create_endpoint(body: EndpointIn, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Register a receiver; the response carries the signing ``secret``, shown only here."""
    secret = body.secret or "whsec_" + secrets.token_urlsafe(24)
    endpoint = new_endpoint(
        "whe_" + secrets.token_urlsafe(12), tenant.id, body.url, secret, body.event_types
    )
    allow = runtime.settings.webhook_allow_private_hosts
    check_webhook_url(endpoint.url, allow_private_hosts=allow)
    stored = runtime.store.create_webhook_endpoint(endpoint)
    return _endpoint_view(stored) | {"secret": secret}


@router.get("/webhooks/endpoints")
def list_endpoints(tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return {
        "endpoints": [_endpoint_view(e) for e in runtime.store.list_webhook_endpoints(tenant.id)]
    }


@router.get("/webhooks/endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _endpoint_view(runtime.store.get_webhook_endpoint(tenant.id, endpoint_id))


@router.delete("/webhooks/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, tenant: TenantDep, runtime: RuntimeDep) -> Response:
    """Remove the endpoint and its undelivered messages; its delivery log stays."""
    runtime.store.delete_webhook_endpoint(tenant.id, endpoint_id)
    return Response(status_code=204)


@router.post("/webhooks/endpoints/{endpoint_id}/enable")
def enable_endpoint(endpoint_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Re-enable a disabled endpoint: failures reset, waiting messages flow again, in order."""
    return _endpoint_view(runtime.store.enable_webhook_endpoint(tenant.id, endpoint_id))


@router.get("/webhooks/deliveries")
def list_deliveries(
    tenant: TenantDep,
    runtime: RuntimeDep,
    endpoint_id: str | None = None,
    order_id: str | None = None,
    status: Literal["succeeded", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The delivery log, newest first: one row per attempt; ``order_id`` selects the order's
    events and its payments' events."""
    keys = None
    if order_id is not None:
        intents = runtime.store.payments_of_order(tenant.id, order_id)
        keys = [f"order:{order_id}", *(f"payment:{i.id}" for i in intents)]
    attempts = runtime.store.webhook_attempts(
        tenant.id,
        endpoint_id=endpoint_id,
        ordering_keys=keys,
        ok=None if status is None else status == "succeeded",
        limit=limit,
    )
    return {"deliveries": [_attempt_view(a) for a in attempts]}
