"""Typed errors of the assignment engine; each names the offending field and value."""

from __future__ import annotations

from typing import Any

Problem = tuple[str, Any, str]
"""``(field, value, reason)``: one offending input value."""


def _describe(problems: list[Problem], limit: int = 10) -> str:
    shown = "; ".join(f"{field}={value!r}: {reason}" for field, value, reason in problems[:limit])
    more = len(problems) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


class DispatchError(Exception):
    """Base of every error raised by `dispatch`."""


class _ProblemList:
    """Errors that carry a list of problems; ``field`` and ``value`` name the first one."""

    problems: list[Problem]

    @property
    def field(self) -> str:
        return self.problems[0][0]

    @property
    def value(self) -> Any:
        return self.problems[0][1]

    @property
    def reason(self) -> str:
        return self.problems[0][2]


class InvalidInput(_ProblemList, DispatchError, ValueError):
    """Input that fails validation; every problem found is reported at once.

    Parameters
    ----------
    what
        What was being validated (``"assignment input"``, ``"order"``, ...).
    problems
        One ``(field, value, reason)`` triple per offending value.
    """

    def __init__(self, what: str, problems: list[Problem]) -> None:
        self.what = what
        self.problems = problems
        super().__init__(f"invalid {what}: {_describe(problems)}")


class InvalidAssignmentInput(InvalidInput):
    """Bad arrays given to `solve_assignment`: lengths, indices, costs or capacities."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("assignment input", problems)


class InvalidOrder(InvalidInput):
    """A dispatch order with a bad coordinate, size, priority or radius."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("order", problems)


class InvalidParams(InvalidInput):
    """Dispatch parameters outside their domain (mode, K, weights, timeouts)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("dispatch parameters", problems)


class UnknownId(DispatchError, KeyError):
    """An order, courier or offer id that the engine does not know."""

    def __init__(self, field: str, value: Any) -> None:
        self.field = field
        self.value = value
        super().__init__(f"unknown {field}={value!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class OfferConflict(_ProblemList, DispatchError, RuntimeError):
    """Offer operations the offer book refuses in its current state; all reported at once.

    Reasons: ``order_already_offered``, ``courier_at_capacity``, ``courier_excluded``,
    ``free_capacity_unknown``, ``not_outstanding``, ``expired``.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"offer refused: {_describe(problems)}")
