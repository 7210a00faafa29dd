"""Live courier tracking: ping rules, the H3 live index, nearest queries and geofence events."""

from tracking.errors import (
    DuplicateFence,
    InvalidAttribute,
    InvalidPing,
    InvalidQuery,
    TrackingError,
    UnknownCourier,
    UnknownFence,
)
from tracking.fences import EventKind, FenceEngine, FenceEvent, FenceKind
from tracking.live_index import BatchResult, CourierState, LiveIndex, Neighbours, UpsertResult
from tracking.pings import Ping, PingRules, Reason

__all__ = [
    "BatchResult",
    "CourierState",
    "DuplicateFence",
    "EventKind",
    "FenceEngine",
    "FenceEvent",
    "FenceKind",
    "InvalidAttribute",
    "InvalidPing",
    "InvalidQuery",
    "LiveIndex",
    "Neighbours",
    "Ping",
    "PingRules",
    "Reason",
    "TrackingError",
    "UnknownCourier",
    "UnknownFence",
    "UpsertResult",
]
