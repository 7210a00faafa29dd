"""Typed errors of the tracking package; each names the offending field and value."""

from __future__ import annotations

from typing import Any


class TrackingError(ValueError):
    """Base of the input errors raised by `tracking`."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
        super().__init__(f"invalid {field}={shown}: {reason}")


class InvalidPing(TrackingError):
    """A ping field that cannot be judged at all (malformed timestamp, mismatched batch)."""


class InvalidAttribute(TrackingError):
    """A courier attribute (status, vehicle, tenant, capacity, load, speed, ...) out of domain."""


class InvalidQuery(TrackingError):
    """A query parameter or filter (k, radius, status, ...) out of domain."""


class UnknownCourier(KeyError):
    """No courier with this id is in the index."""

    def __init__(self, courier_id: Any) -> None:
        self.field = "courier_id"
        self.value = courier_id
        super().__init__(f"unknown courier_id={courier_id!r}")


class UnknownFence(KeyError):
    """No fence with this id is registered."""

    def __init__(self, fence_id: Any) -> None:
        self.field = "fence_id"
        self.value = fence_id
        super().__init__(f"unknown fence_id={fence_id!r}")


class DuplicateFence(TrackingError):
    """A fence id that is already registered."""
