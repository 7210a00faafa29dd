"""The `hexdispatch` command line (typer)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer

app = typer.Typer(
    help="hexdispatch: geospatial dispatch and tracking engine.", no_args_is_help=True
)


@app.callback()
def _root() -> None:
    """hexdispatch: geospatial dispatch and tracking engine."""


@app.command()
def demo(
    couriers: int = typer.Option(300, min=1, help="Simulated couriers."),
    orders_per_s: float = typer.Option(0.3, "--orders-per-s", min=0.0, help="Orders per second."),
    duration: str = typer.Option("30m", help="How long the demo runs (s, m or h)."),
    port: int = typer.Option(8000, help="Port on 127.0.0.1 (another free one when taken)."),
    seed: int = typer.Option(0, min=0),
    queries: bool = typer.Option(
        False, "--queries", help="Instead: print a few live-index queries on a synthetic fleet."
    ),
) -> None:
    """Serve the API on loopback with a simulated fleet; prints the console URL and API key."""
    if queries:
        from sims.demo import run_demo

        run_demo()
        return
    from dataclasses import replace

    from sims.live_demo import DEMO, run_live_demo

    config = replace(
        DEMO,
        couriers=couriers,
        orders_per_s=orders_per_s,
        duration_s=parse_duration(duration),
        seed=seed,
    )
    run_live_demo(config, port)


db_app = typer.Typer(help="Database schema and retention (PostGIS store).", no_args_is_help=True)
app.add_typer(db_app, name="db")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``3600s`` or ``2w``."""
    match = _DURATION.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r}: expected a number and a unit s, m, h, d or w (30d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _database_url() -> str:
    url = os.environ.get("HEXDISPATCH_DATABASE_URL", "")
    if not url:
        typer.echo("HEXDISPATCH_DATABASE_URL is not set (postgresql+psycopg://...)", err=True)
        raise typer.Exit(2)
    return url


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target Alembic revision.")) -> None:
    """Apply the Alembic migrations to HEXDISPATCH_DATABASE_URL."""
    from store.migrate import current, upgrade

    url = _database_url()
    upgrade(url, revision)
    typer.echo(f"database at revision {current(url)}")


@db_app.command("prune")
def db_prune(
    older_than: str = typer.Option(..., "--older-than", help="Retention, e.g. 30d."),
) -> None:
    """Drop courier-position day partitions entirely older than the retention, and delivered
    webhook messages and delivery-log attempts older than it."""
    from store.postgis import PostgisStore

    seconds = parse_duration(older_than)
    store = PostgisStore(_database_url(), pool_size=1, start_flusher=False)
    try:
        dropped = store.prune_positions(seconds)
        messages, attempts = store.prune_webhook_history(seconds)
    finally:
        store.close()
    typer.echo(f"dropped {len(dropped)} partition(s){': ' if dropped else ''}{', '.join(dropped)}")
    typer.echo(f"deleted {messages} delivered webhook message(s), {attempts} attempt(s)")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, help="Port to bind."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes."),
    redis: str | None = typer.Option(
        None, help="Scale-out: route pings to `hexdispatch shard` processes via this Redis URL."
    ),
) -> None:
    """Run the API under uvicorn (uvloop, httptools, websocket keepalive).

    With no HEXDISPATCH_DATABASE_URL the embedded store is used and a tenant key is printed;
    several workers need the PostGIS store, since each embedded store lives in one process.
    """
    import secrets

    import uvicorn

    from api.settings import Settings

    if redis is not None:
        os.environ["HEXDISPATCH_REDIS_URL"] = redis  # read by every worker's settings
    settings = Settings()
    if settings.database_url is None:
        if workers > 1:
            typer.echo("--workers > 1 needs HEXDISPATCH_DATABASE_URL (PostGIS)", err=True)
            raise typer.Exit(2)
        if settings.bootstrap_api_key is None:
            key = "hdk_" + secrets.token_urlsafe(24)
            os.environ["HEXDISPATCH_BOOTSTRAP_API_KEY"] = key
            typer.echo(f"embedded store: tenant 'default', API key {key}")
    os.environ.setdefault("HEXDISPATCH_GC_TUNED", "true")
    os.environ.setdefault("HEXDISPATCH_WEBHOOK_DELIVERY", "true")
    os.environ.setdefault("HEXDISPATCH_SANDBOX_CALLBACKS", "true")
    if os.environ.get("HEXDISPATCH_TOKEN_SECRET") is None:
        # Every worker must sign and check driver tokens with the same secret.
        os.environ["HEXDISPATCH_TOKEN_SECRET"] = settings.token_secret.get_secret_value()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        ws_ping_interval=settings.ws_keepalive_s,
        ws_ping_timeout=settings.ws_keepalive_s,
        ws_max_size=settings.ws_max_message_bytes * 4,
    )


@app.command()
def shard(
    id: int = typer.Option(..., "--id", min=0, help="This shard's id in the shard map."),
    redis: str = typer.Option(..., help="Redis URL holding the shard map and streams."),
) -> None:
    """Run one engine shard: its cells' live index, fed by its Redis Stream (docs/scaling.md).

    Geofences are read from HEXDISPATCH_DATABASE_URL (PostGIS) when it is set.
    """
    import asyncio

    from api.settings import Settings
    from scaling.shard import run_shard

    settings = Settings()
    asyncio.run(
        run_shard(
            id,
            redis,
            resolution=settings.h3_resolution,
            console_resolution=settings.console_resolution,
            database_url=settings.database_url,
        )
    )


@app.command()
def shardmap(
    redis: str = typer.Option(..., help="Redis URL to write the shard map to."),
    shards: int = typer.Option(..., min=1, help="How many shards."),
    bbox: str = typer.Option(..., help="min_lng,min_lat,max_lng,max_lat of the service area."),
    resolution: int = typer.Option(4, min=3, max=5, help="H3 resolution of the owned cells."),
) -> None:
    """Write a shard map splitting the area's coarse cells west to east into equal runs."""
    import asyncio

    from redis.asyncio import Redis
    from shapely.geometry import box

    from api.runtime import parse_bbox_query
    from geo.cells import polygon_cover
    from scaling.shard_map import balanced, save

    interior, boundary = polygon_cover(box(*parse_bbox_query(bbox)), resolution)
    shard_map = balanced([*interior.tolist(), *boundary.tolist()], shards, resolution)

    async def write() -> int:
        client = Redis.from_url(redis)
        try:
            return (await save(client, shard_map)).version
        finally:
            await client.aclose()

    version = asyncio.run(write())
    typer.echo(f"shard map v{version}: {len(shard_map.cells)} cells over {shards} shard(s)")


tenant_app = typer.Typer(help="Tenants and their API keys (PostGIS store).", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")


@tenant_app.command("create")
def tenant_create(name: str = typer.Argument(..., help="The tenant's display name.")) -> None:
    """Create a tenant and print its id and a new API key (shown once)."""
    from store.factory import open_store

    store = open_store(_database_url())
    try:
        tenant = store.create_tenant(name)
        _, key = store.create_api_key(tenant.id, "cli")
    finally:
        store.close()
    typer.echo(f"tenant {tenant.id}\napi key {key}")


@app.command()
def sim(
    couriers: int = typer.Option(1000, min=1, help="Fleet size."),
    orders_per_s: float = typer.Option(
        1.0, "--orders-per-s", min=0.0, help="Mean order arrivals per second."
    ),
    duration: str = typer.Option("30m", help="Simulated length: a number and a unit s, m or h."),
    seed: int = typer.Option(0, min=0, help="Same seed, same in-process run."),
    speedup: float = typer.Option(
        0.0, min=0.0, help="In process: simulated seconds per wall second (0: as fast as possible)."
    ),
    ping_interval: float = typer.Option(
        5.0, "--ping-interval", help="Seconds between a courier's fixes."
    ),
    pings_per_message: int = typer.Option(
        1,
        "--pings-per-message",
        min=1,
        help="--url: fixes a driver batches into one websocket message.",
    ),
    mode: str = typer.Option("optimal", help="Dispatch mode in process: optimal or nearest."),
    compare_modes: bool = typer.Option(
        False, "--compare-modes", help="In process: run optimal and nearest on the same seed."
    ),
    in_process: bool = typer.Option(
        False, "--in-process", help="Drive the engine directly (default)."
    ),
    url: str | None = typer.Option(
        None, help="Drive a running server, e.g. http://127.0.0.1:8000 (loopback only)."
    ),
    api_key: str | None = typer.Option(
        None, envvar="HEXDISPATCH_API_KEY", help="--url: the tenant API key."
    ),
    processes: int = typer.Option(1, min=1, help="--url: driver processes."),
    zone: str | None = typer.Option(
        None, help="Service-zone GeoJSON (default: a Nairobi-sized box)."
    ),
    max_orders: int | None = typer.Option(
        None, "--max-orders", min=1, help="Stop creating orders after this many."
    ),
    json_path: str | None = typer.Option(None, "--json", help="Write the JSON report here."),
    plots: str | None = typer.Option(None, help="Write PNG plots into this directory."),
    quiet: bool = typer.Option(False, help="No live progress."),
) -> None:
    """Simulate a city's couriers and orders against the engine, then report (and plot)."""
    from sims.city import City
    from sims.command import Outputs, run_local, run_remote
    from sims.config import SimConfig
    from sims.errors import InvalidServiceZone, InvalidSimConfig, NotLoopback

    if in_process and url:
        raise typer.BadParameter("choose --in-process or --url, not both")
    if url and compare_modes:
        raise typer.BadParameter("--compare-modes runs in process (the server has one mode)")
    try:
        config = SimConfig(
            couriers=couriers,
            orders_per_s=orders_per_s,
            duration_s=parse_duration(duration),
            seed=seed,
            speedup=speedup,
            ping_interval_s=ping_interval,
            pings_per_message=pings_per_message,
            mode=mode,  # type: ignore[arg-type]
            max_orders=max_orders,
            **({"city": City.from_geojson(zone)} if zone else {}),
        )
        outputs = Outputs(
            Path(json_path) if json_path else None, Path(plots) if plots else None, quiet
        )
        if url:
            run_remote(url, api_key, config, outputs, processes=processes)
        else:
            run_local(config, outputs, compare=compare_modes)
    except (InvalidSimConfig, InvalidServiceZone, NotLoopback) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app()
