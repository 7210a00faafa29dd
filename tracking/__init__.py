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
from tracking.live_index import LiveIndex
from tracking.pings import Ping, PingRules, Reason
from tracking.results import BatchResult, CourierColumns, CourierState, Neighbours, UpsertResult

__all__ = [
    "BatchResult",
    "CourierColumns",
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
