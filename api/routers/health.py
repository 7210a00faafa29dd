"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> dict[str, str]:
    """The store answers (a cheap read)."""
    runtime.store.tenant_for_api_key("readiness-probe")
    return {"status": "ready"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(runtime: RuntimeDep) -> str:
    """Counters and gauges in the Prometheus text format."""
    return runtime.metrics.render(
        {
            "hexdispatch_couriers_indexed": float(len(runtime.index)),
            "hexdispatch_ws_subscribers": float(runtime.hub.subscriber_count()),
        }
    )
