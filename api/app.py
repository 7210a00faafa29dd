"""The FastAPI application factory: `uvicorn --factory api.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request

from api.payment_flow import run_sandbox_callbacks
from api.problems import PROBLEM_JSON, PROBLEMS, http_problem, problem_response
from api.runtime import Runtime
from api.settings import Settings
from api.webhook_worker import WebhookWorker
from dispatch.scheduler import BatchScheduler
from orders.webhooks import RetryPolicy
from store.factory import open_store
from store.interface import Store


async def _validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "body",
            "value": err.get("input")
            if isinstance(err.get("input"), (str, int, float, bool))
            else None,
            "reason": err.get("msg", ""),
        }
        for err in exc.errors()
    ]
    body = {
        "type": "https://hexdispatch.dev/problems/invalid-input",
        "title": "Invalid input",
        "status": 422,
        "detail": "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
        "instance": request.url.path,
        "errors": errors,
    }
    return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)


def bootstrap_tenant(store: Store, secret: str) -> None:
    """Make sure a tenant owns ``secret`` as an API key (idempotent across restarts)."""
    if store.tenant_for_api_key(secret) is None:
        tenant = store.create_tenant("default")
        store.create_api_key(tenant.id, "bootstrap", secret=secret)


def _start_webhook_worker(
    settings: Settings, store: Store, clock: Callable[[], float]
) -> tuple[WebhookWorker, asyncio.Task[None]] | None:
    if not settings.webhook_delivery:
        return None
    worker = WebhookWorker(
        store,
        clock=clock,
        policy=RetryPolicy(disable_after=settings.webhook_disable_after),
        timeout_s=settings.webhook_timeout_s,
        poll_s=settings.webhook_poll_s,
        allow_private_hosts=settings.webhook_allow_private_hosts,
    )
    return worker, asyncio.create_task(worker.run(), name="webhook-delivery")


async def _stop_webhook_worker(worker: WebhookWorker, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await worker.aclose()


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the app; the store opens and background work starts in the lifespan, not here.

    Parameters
    ----------
    settings
        Read from the environment (``HEXDISPATCH_*``) when omitted.
    store
        An already-open store (tests); by default the one ``settings.database_url`` names, or the
        embedded in-memory store.
    clock
        UTC epoch seconds; injectable for tests.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        opened = store if store is not None else open_store(settings.database_url)
        runtime = Runtime(settings, opened, clock=clock)
        if settings.bootstrap_api_key is not None:
            bootstrap_tenant(opened, settings.bootstrap_api_key.get_secret_value())
        runtime.load_fences()
        app.state.runtime = runtime
        app.state.scaleout = None
        if settings.redis_url is not None:
            from scaling.gateway import open_gateway
            from scaling.remote_dispatch import RemoteEtas

            app.state.scaleout = await open_gateway(settings, runtime)
            runtime.pings = app.state.scaleout
            runtime.dispatch = app.state.scaleout.remote_dispatch(settings, opened)
            runtime.etas = RemoteEtas(runtime.dispatch)
            runtime.remote_couriers = runtime.dispatch
        runtime.dispatch.load_pool(runtime.store_tenants())
        if settings.gc_tuned:
            gc.freeze()
            # a young collection walks every object allocated since the last one: 50,000
            # made 10-100 ms pauses under load, 10,000 makes 5x as many of a fifth the length;
            # full collections (every live connection) stay rare
            gc.set_threshold(10_000, 100, 1000)
        scheduler = BatchScheduler(runtime.dispatch.run, window_s=settings.dispatch_window_s)
        if settings.dispatch_auto and app.state.scaleout is None:  # else the shards dispatch
            scheduler.start()
        delivery = _start_webhook_worker(settings, opened, clock)
        runtime.etas.load(runtime.store_tenants())
        etas = asyncio.create_task(runtime.etas.run(settings.eta_flush_s), name="eta-flush")
        background = [etas]
        if settings.sandbox_callbacks:
            background.append(
                asyncio.create_task(run_sandbox_callbacks(runtime, 1.0), name="sandbox-callbacks")
            )
        try:
            yield
        finally:
            scheduler.stop()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            runtime.etas.flush()
            if delivery is not None:
                await _stop_webhook_worker(*delivery)
            if app.state.scaleout is not None:
                await app.state.scaleout.stop()
            if owned:
                opened.close()
            else:
                opened.flush_positions()

    app = FastAPI(
        title="hexdispatch",
        version="0.1.0",
        lifespan=lifespan,
        description="Geospatial dispatch and tracking engine.",
    )
    for cls in PROBLEMS:
        app.add_exception_handler(cls, problem_response)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(HTTPException, http_problem)

    from api.routers import (
        console_page,
        console_ws,
        couriers,
        dispatch,
        driver_ws,
        geofences,
        health,
        orders,
        payments,
        routes,
        supply,
        webhooks,
    )

    app.include_router(health.router)
    app.include_router(driver_ws.router)
    app.include_router(console_ws.router)
    for module in (couriers, geofences, orders, payments, dispatch, routes, supply, webhooks):
        app.include_router(module.router, prefix="/v1")
    app.include_router(console_page.router)
    app.mount("/console", console_page.static_files(), name="console")
    return app
