"""Typed errors of the load simulator."""

from __future__ import annotations

from typing import Any

Problem = tuple[str, Any, str]
"""``(field, value, reason)``."""


class InvalidSimConfig(ValueError):
    """One or more simulation settings are out of range; lists every problem at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}={v!r}: {r}" for f, v, r in problems))


class NotLoopback(ValueError):
    """The simulator only drives servers on the loopback interface."""

    def __init__(self, url: str, host: str) -> None:
        self.field = "url"
        self.value = url
        super().__init__(
            f"--url {url!r}: host {host!r} is not a loopback address; the simulator only "
            "targets 127.0.0.1, ::1 or localhost"
        )


class InvalidServiceZone(ValueError):
    """The service-zone GeoJSON file cannot be used as the simulated city."""

    def __init__(self, path: str, reason: str) -> None:
        self.field = "zone"
        self.value = path
        super().__init__(f"service zone {path!r}: {reason}")
