"""Dependency aliases (`Annotated`) shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.runtime import Runtime
from api.settings import Settings
from api.tokens import InvalidToken
from store.interface import Store
from store.records import Tenant

_bearer = HTTPBearer(auto_error=False, description="A tenant API key (hdk_...)")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_store(runtime: RuntimeDep) -> Store:
    return runtime.store


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_tenant(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Tenant:
    """The tenant of the bearer API key; every tenant-scoped route depends on this."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("missing bearer API key")
    tenant = runtime.store.tenant_for_api_key(credentials.credentials)
    if tenant is None:
        raise InvalidToken("unknown or revoked API key")
    return tenant


TenantDep = Annotated[Tenant, Depends(get_tenant)]
