"""A short in-process demonstration, until the API and simulator exist."""

from __future__ import annotations

from rich.console import Console


def run_demo() -> None:
    Console().print("[bold]hexdispatch[/bold] demo: nothing to show yet.")
