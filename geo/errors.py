"""Typed errors of the geometry core; each names the offending field and value."""

from __future__ import annotations

from typing import Any


class GeoError(ValueError):
    """Base of every error raised by `geo`."""


class InvalidCoordinate(GeoError):
    """A latitude or longitude that is not finite or out of range.

    Parameters
    ----------
    problems
        One ``(field, value, reason)`` triple per offending value; all of them are reported
        at once so that a caller fixes its input in one round.
    """

    def __init__(self, problems: list[tuple[str, Any, str]]) -> None:
        self.problems = problems
        text = "; ".join(f"{field}={value!r}: {reason}" for field, value, reason in problems)
        super().__init__(f"invalid coordinate: {text}")

    @property
    def field(self) -> str:
        return self.problems[0][0]

    @property
    def value(self) -> Any:
        return self.problems[0][1]


class InvalidGeometry(GeoError):
    """A polygon that is empty, unclosed, self-intersecting or otherwise unusable."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = value if len(repr(value)) <= 120 else repr(value)[:117] + "..."
        super().__init__(f"invalid geometry {field}={shown}: {reason}")


class InvalidParameter(GeoError):
    """A query parameter (resolution, radius, k) outside its domain."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {field}={value!r}: {reason}")
