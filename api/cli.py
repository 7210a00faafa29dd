"""The `hexdispatch` command line (typer)."""

from __future__ import annotations

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


def main() -> None:
    app()
