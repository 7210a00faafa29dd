"""Couriers: create, get, list by bbox, status, driver tokens, batched pings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.from_thread
import msgspec
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, TenantDep
from api.messages import WirePing
from api.runtime import in_bbox, parse_bbox_query
from api.tokens import issue_driver_token

router = APIRouter(tags=["couriers"])

Vehicle = Literal["walk", "bicycle", "bike", "motorbike", "car", "van"]


class CourierIn(BaseModel):
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(default="", max_length=200)
    vehicle: Vehicle = "bike"
    capacity: int = Field(default=1, ge=1, le=1000)


class StatusIn(BaseModel):
    status: Literal["idle", "busy", "offline"]


class PingIn(BaseModel):
    lat: float
    lng: float
    ts: float | str = Field(description="UTC epoch seconds or ISO 8601 with an offset")
    speed: float | None = None
    heading: float | None = None
    accuracy: float | None = None


class PingsIn(BaseModel):
    pings: list[PingIn] = Field(min_length=1, max_length=5000)


def _view(runtime: RuntimeDep, courier: Any) -> dict[str, Any]:
    live = runtime.live_courier(courier.id)
    return {
        "id": courier.id,
        "name": courier.name,
        "vehicle": courier.vehicle,
        "capacity": courier.capacity,
        "status": live.status if live else "offline",
        "position": (
            {"type": "Point", "coordinates": [live.lng, live.lat], "ts": live.ts} if live else None
        ),
    }


@router.post("/couriers", status_code=201)
def create_courier(body: CourierIn, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    courier = runtime.store.create_courier(
        tenant.id, courier_id=body.id, name=body.name, vehicle=body.vehicle, capacity=body.capacity
    )
    runtime.register_courier(courier)
    return _view(runtime, courier)


@router.get("/couriers")
def list_couriers(
    tenant: TenantDep,
    runtime: RuntimeDep,
    bbox: Annotated[
        str | None, Query(description="min_lng,min_lat,max_lng,max_lat (live positions)")
    ] = None,
    status: Literal["idle", "busy", "offline"] | None = None,
) -> dict[str, Any]:
    box = None if bbox is None else parse_bbox_query(bbox)
    out = []
    for courier in runtime.store.list_couriers(tenant.id):
        view = _view(runtime, courier)
        if status is not None and view["status"] != status:
            continue
        if box is not None:
            pos = view["position"]
            if pos is None or not in_bbox(pos["coordinates"][1], pos["coordinates"][0], box):
                continue
        out.append(view)
    return {"couriers": out}


@router.get("/couriers/{courier_id}")
def get_courier(courier_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _view(runtime, runtime.courier_of_tenant(tenant.id, courier_id))


@router.post("/couriers/{courier_id}/status")
def set_status(
    courier_id: str, body: StatusIn, tenant: TenantDep, runtime: RuntimeDep
) -> dict[str, Any]:
    courier = runtime.courier_of_tenant(tenant.id, courier_id)
    runtime.set_courier_status(tenant.id, courier, body.status)
    return _view(runtime, courier)


@router.post("/couriers/{courier_id}/token")
def driver_token(courier_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    courier = runtime.courier_of_tenant(tenant.id, courier_id)
    expires = runtime.clock() + runtime.settings.driver_token_ttl_s
    token = issue_driver_token(
        runtime.settings.token_secret.get_secret_value(), courier.id, tenant.id, expires
    )
    return {"token": token, "courier_id": courier.id, "expires_at": expires}


@router.post("/couriers/{courier_id}/pings")
def post_pings(
    courier_id: str, body: PingsIn, tenant: TenantDep, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    pings = [WirePing(**p.model_dump()) for p in body.pings]
    scaleout = request.app.state.scaleout
    if scaleout is not None:  # to the owning shard's stream (docs/scaling.md)
        results = anyio.from_thread.run(scaleout.ingest, tenant.id, courier_id, pings)
    else:
        results = runtime.ingest(tenant.id, courier_id, pings)
    return {
        "accepted": sum(r.accepted for r in results),
        "results": msgspec.to_builtins(results),
    }
