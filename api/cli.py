"""The `hexdispatch` command line (typer)."""

from __future__ import annotations

import os
import re

import typer

app = typer.Typer(
    help="hexdispatch: geospatial dispatch and tracking engine.", no_args_is_help=True
)


@app.callback()
def _root() -> None:
    """hexdispatch: geospatial dispatch and tracking engine."""


@app.command()
def demo() -> None:
    """Run a short in-process demonstration."""
    from sims.demo import run_demo

    run_demo()


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
    """Drop courier-position day partitions entirely older than the retention."""
    from store.postgis import PostgisStore

    seconds = parse_duration(older_than)
    store = PostgisStore(_database_url(), pool_size=1, start_flusher=False)
    try:
        dropped = store.prune_positions(seconds)
    finally:
        store.close()
    typer.echo(f"dropped {len(dropped)} partition(s){': ' if dropped else ''}{', '.join(dropped)}")


def main() -> None:
    app()
