"""Geofences: CRUD over GeoJSON polygons; changes are mirrored into the live index."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, TenantDep
from store.records import GeofenceRecord

router = APIRouter(tags=["geofences"])

Kind = Literal["service_zone", "restricted", "hub"]


class GeofenceIn(BaseModel):
    kind: Kind
    name: str = Field(default="", max_length=200)
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, [lng, lat]")
    active: bool = True


class GeofencePatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    geometry: dict[str, Any] | None = None
    active: bool | None = None


def _view(record: GeofenceRecord) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": record.id,
        "geometry": record.geometry,
        "properties": {
            "kind": record.kind,
            "name": record.name,
            "active": record.active,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        },
    }


@router.post("/geofences", status_code=201)
def create_geofence(body: GeofenceIn, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    record = runtime.store.create_geofence(
        tenant.id, body.kind, body.geometry, name=body.name, active=body.active
    )
    runtime.sync_fence(record)
    return _view(record)


@router.get("/geofences")
def list_geofences(
    tenant: TenantDep, runtime: RuntimeDep, kind: Kind | None = None, active: bool | None = None
) -> dict[str, Any]:
    records = runtime.store.list_geofences(tenant.id, kind=kind, active=active)
    return {"type": "FeatureCollection", "features": [_view(r) for r in records]}


@router.get("/geofences/{fence_id}")
def get_geofence(fence_id: str, tenant: TenantDep, runtime: RuntimeDep) -> dict[str, Any]:
    return _view(runtime.store.get_geofence(tenant.id, fence_id))


@router.patch("/geofences/{fence_id}")
def update_geofence(
    fence_id: str, body: GeofencePatch, tenant: TenantDep, runtime: RuntimeDep
) -> dict[str, Any]:
    record = runtime.store.update_geofence(
        tenant.id, fence_id, name=body.name, geometry=body.geometry, active=body.active
    )
    runtime.sync_fence(record)
    return _view(record)


@router.delete("/geofences/{fence_id}", status_code=204)
def delete_geofence(fence_id: str, tenant: TenantDep, runtime: RuntimeDep) -> Response:
    runtime.store.delete_geofence(tenant.id, fence_id)
    runtime.drop_fence(tenant.id, fence_id)
    return Response(status_code=204)
