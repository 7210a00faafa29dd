"""Websocket message contracts (msgspec structs): decoded on the hot path without pydantic."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class WirePing(msgspec.Struct, forbid_unknown_fields=True):
    """One GPS fix from a driver app; ``ts`` is epoch seconds or an ISO 8601 time with offset."""

    lat: float
    lng: float
    ts: float | str
    speed: float | None = None
    heading: float | None = None
    accuracy: float | None = None


class PingsMessage(msgspec.Struct, tag="pings", forbid_unknown_fields=True):
    """A driver sends one or more pings; ``id`` is echoed in the ack."""

    pings: list[WirePing]
    id: int | str | None = None


class AcceptMessage(msgspec.Struct, tag="accept", forbid_unknown_fields=True):
    offer_id: str
    id: int | str | None = None


class RejectMessage(msgspec.Struct, tag="reject", forbid_unknown_fields=True):
    offer_id: str
    reason: str | None = None
    id: int | str | None = None


class ProofIn(msgspec.Struct, forbid_unknown_fields=True):
    """Proof of delivery: a ``photo`` or ``signature`` reference, or the customer's ``pin``."""

    kind: Literal["photo", "signature", "pin"]
    reference: str | None = None
    pin: str | None = None


class PickUpMessage(msgspec.Struct, tag="pick_up", forbid_unknown_fields=True):
    """The driver has the parcel of an order assigned to its courier."""

    order_id: str
    id: int | str | None = None


class DeliverMessage(msgspec.Struct, tag="deliver", forbid_unknown_fields=True):
    """The driver handed the parcel over, with proof."""

    order_id: str
    proof: ProofIn
    id: int | str | None = None


DriverMessage = PingsMessage | AcceptMessage | RejectMessage | PickUpMessage | DeliverMessage


class SubscribeMessage(msgspec.Struct, tag="subscribe", forbid_unknown_fields=True):
    """A console's viewport: a GeoJSON-order bbox ``[min_lng, min_lat, max_lng, max_lat]`` or
    H3 cells (hex strings); replaces any earlier subscription."""

    bbox: list[float] | None = None
    cells: list[str] | None = None
    id: int | str | None = None


ConsoleMessage = SubscribeMessage


class MessageError(ValueError):
    """A websocket message that cannot be decoded; the connection stays open."""

    def __init__(self, detail: str) -> None:
        self.field = "message"
        self.value = None
        self.reason = detail
        super().__init__(detail)


class InvalidTimestamp(ValueError):
    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {field}={value!r}: {reason}")


_driver_decoder = msgspec.json.Decoder(DriverMessage)
_console_decoder = msgspec.json.Decoder(ConsoleMessage)


def decode_driver(raw: bytes | str) -> DriverMessage:
    try:
        return _driver_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise MessageError(str(exc)) from None


def decode_console(raw: bytes | str) -> ConsoleMessage:
    try:
        return _console_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise MessageError(str(exc)) from None


def epoch_seconds(value: float | str, field: str = "ts") -> float:
    """Epoch seconds from a number or an ISO 8601 string that carries its UTC offset."""
    if isinstance(value, (int, float)):
        return float(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidTimestamp(field, value, "not ISO 8601") from None
    if parsed.tzinfo is None:
        raise InvalidTimestamp(field, value, "no UTC offset")
    return parsed.timestamp()
