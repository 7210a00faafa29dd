"""Typed errors of the geometry core; each names the offending field and value."""

from __future__ import annotations

from typing import Any


class GeoError(ValueError):
    """Base of every error raised by `geo`."""


Problem = tuple[str, Any, str]
"""``(field, value, reason)``: one offending input value and why it was refused."""


def describe(problems: list[Problem], limit: int = 10) -> str:
    """The first ``limit`` problems as text (a batch can have thousands)."""
    shown = "; ".join(f"{field}={value!r}: {reason}" for field, value, reason in problems[:limit])
    more = len(problems) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


class FieldProblems(ValueError):
    """Validation that collected every problem before raising once.

    Shared by the domain packages' input errors so that the API maps all of them the same way.
    ``field``, ``value`` and ``reason`` name the first problem.

    Parameters
    ----------
    problems
        One ``(field, value, reason)`` triple per offending value.
    """

    what = "input"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"invalid {self.what}: {describe(problems)}")

    @property
    def field(self) -> str:
        return self.problems[0][0]

    @property
    def value(self) -> Any:
        return self.problems[0][1]

    @property
    def reason(self) -> str:
        return self.problems[0][2]


class InvalidCoordinate(FieldProblems, GeoError):
    """A latitude or longitude that is not finite or out of range."""

    what = "coordinate"


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
