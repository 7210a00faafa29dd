"""Typed errors of the routing package; each names the offending field and value."""

from __future__ import annotations

from typing import Any

from geo.errors import FieldProblems


class RoutingError(ValueError):
    """Base of every error raised by `routing`."""


class FieldError(RoutingError):
    """One offending field, its value and why it is rejected."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class InvalidOption(FieldError):
    """A solver option outside its allowed values (strategy names, time limit)."""


class MatrixResponseError(FieldError):
    """A road-network table response that lacks the durations or distances asked for."""


class InvalidInstance(FieldError):
    """A benchmark instance file that is neither valid Solomon nor valid Li & Lim."""

    def __init__(self, path: str, line: int, field: str, value: Any, reason: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {field}", value, reason)
        self.field = field


class InvalidProblem(FieldProblems, RoutingError):
    """A routing problem whose vehicles, jobs, shipments or matrix are unusable; every problem
    is reported at once (``problems``) so a caller fixes its input in one round."""

    what = "routing problem"
