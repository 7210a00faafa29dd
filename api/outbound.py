"""Outbound websocket messages (msgspec structs): what the server sends, typed and documented.

Every struct here has a JSON example in docs/websockets.md, and a test decodes each example with
its struct (unknown fields refused, so a typo in the docs fails). Structs are built on the hot
path instead of dicts: same cost, checked field names.
"""

from __future__ import annotations

from typing import Any

import msgspec

MessageId = int | str | None
"""The ``id`` a client put on its message, echoed in the reply (null when it sent none)."""


class PingResult(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """The verdict on one ping; ``reason`` only when it was refused (e.g. ``invalid_coordinate``)."""

    accepted: bool
    reason: str | None = None


ACCEPTED = PingResult(accepted=True)
"""Shared by every accepted ping (no allocation per ping)."""


class AckMessage(msgspec.Struct, tag="ack", forbid_unknown_fields=True):
    """The reply to a ``pings`` message: one result per ping, in order."""

    id: MessageId
    results: list[PingResult]


class ErrorMessage(msgspec.Struct, tag="error", forbid_unknown_fields=True):
    """A message the server could not act on; the connection stays open.

    ``code`` is ``invalid_message`` for a frame that does not decode, else the error class
    (``NotFound``, ``OfferNotYours``, ``IllegalTransition``, ...).
    """

    code: str
    detail: str
    id: MessageId = None
    field: str | None = None
    """The offending field, when the error names one (``pin``, ``order_id``, ...)."""


class CourierMessage(msgspec.Struct, tag="courier", forbid_unknown_fields=True):
    """A courier's latest state (coalesced: a slow consumer gets only the newest per courier)."""

    id: str
    lat: float
    lng: float
    ts: float
    status: str
    heading: float | None
    speed: float | None
    vehicle: str | None
    load: int
    capacity: int


class OrderMessage(msgspec.Struct, tag="order", forbid_unknown_fields=True):
    """An order's new state; ``pickup`` and ``dropoff`` are ``[lng, lat]``."""

    id: str
    state: str
    courier_id: str | None
    pickup: tuple[float, float]
    dropoff: tuple[float, float]
    version: int


class FenceEventMessage(msgspec.Struct, tag="fence_event", forbid_unknown_fields=True):
    """A courier entered or left a geofence; ``lat``/``lng`` where it was (null if unknown)."""

    event: str
    fence_id: str
    courier_id: str
    ts: float
    lat: float | None
    lng: float | None


class OfferMessage(msgspec.Struct, tag="offer", forbid_unknown_fields=True):
    """An order offered to a courier until ``expires_at`` (epoch seconds)."""

    offer_id: str
    order_id: str
    courier_id: str
    expires_at: float
    pickup: tuple[float, float]
    dropoff: tuple[float, float]


class EtaMessage(msgspec.Struct, tag="eta", forbid_unknown_fields=True):
    """An order's refreshed ETAs (epoch seconds) as its courier moves; ``pickup_eta`` is null
    once the parcel is picked up."""

    order_id: str
    courier_id: str
    state: str
    pickup_eta: float | None
    dropoff_eta: float | None
    ts: float


LiveMessage = CourierMessage | OrderMessage | FenceEventMessage | OfferMessage | EtaMessage
"""What a delta carries."""


class DeltaMessage(msgspec.Struct, tag="delta", forbid_unknown_fields=True):
    """Everything new since the last frame: events in order, then the latest positions."""

    messages: list[LiveMessage]


class FenceView(msgspec.Struct, forbid_unknown_fields=True):
    """An active geofence in a snapshot; ``geometry`` is a GeoJSON (Multi)Polygon."""

    id: str
    kind: str
    name: str
    geometry: dict[str, Any]


class SnapshotMessage(msgspec.Struct, tag="snapshot", forbid_unknown_fields=True):
    """The reply to ``subscribe``: the viewport's couriers and open orders, the tenant's fences."""

    id: MessageId
    couriers: list[CourierMessage]
    orders: list[OrderMessage]
    fences: list[FenceView]


class AnsweredMessage(msgspec.Struct, tag="answered", forbid_unknown_fields=True):
    """The reply to ``accept`` or ``reject``: the order after the answer."""

    offer_id: str
    order: OrderMessage
    id: MessageId = None


class OrderAckMessage(msgspec.Struct, tag="order_ack", forbid_unknown_fields=True):
    """The reply to ``pick_up`` or ``deliver`` (``action``): the order after the change."""

    action: str
    order: OrderMessage
    id: MessageId = None


OutboundMessage = (
    AckMessage
    | ErrorMessage
    | DeltaMessage
    | SnapshotMessage
    | AnsweredMessage
    | OrderAckMessage
    | LiveMessage
)

encode = msgspec.json.Encoder().encode


def encode_error(
    detail: str, code: str = "invalid_message", id: MessageId = None, field: str | None = None
) -> bytes:
    return encode(ErrorMessage(code=code, detail=detail, id=id, field=field))
