"""What travels through Redis: stream entries, cell publications, request/reply (msgpack)."""

from __future__ import annotations

import msgspec

from api.outbound import (
    CourierMessage,
    EtaMessage,
    FenceEventMessage,
    OfferMessage,
    OrderMessage,
)

PingRow = tuple[float, float, float, float | None, float | None, float | None]
"""``(lat, lng, ts, speed, heading, accuracy)``: one ping, ``ts`` already epoch seconds."""


class Pings(msgspec.Struct, tag="p", array_like=True):
    """A driver message for the owning shard; ``prev`` names the shard that held the courier
    before when this is the first entry after a switch (-1 otherwise): the new shard waits for
    that shard's handover before applying it."""

    tenant: str
    courier: str
    vehicle: str
    capacity: int
    pings: list[PingRow]
    prev: int = -1


class CourierSnapshot(msgspec.Struct, array_like=True):
    """A courier's last accepted state: the shard's restart snapshot and its handover."""

    tenant: str
    vehicle: str
    capacity: int
    load: int
    status: str
    lat: float
    lng: float
    ts: float
    speed: float | None
    heading: float | None
    accuracy: float | None
    idle_since: float | None


class Handover(msgspec.Struct, tag="h", array_like=True):
    """To the old shard, in its stream after the courier's earlier pings: give the courier up
    to shard ``to``, with the pings that crossed."""

    to: int
    then: Pings


class Takeover(msgspec.Struct, tag="s", array_like=True):
    """From the old shard to the new one: the courier's state (None: the old shard had none),
    then the pings that crossed."""

    state: CourierSnapshot | None
    then: Pings
    origin: int


class OrderIn(msgspec.Struct, tag="o", array_like=True):
    """An order changed (read it from the store): to the shard owning its pickup when new (to
    dispatch), to its courier's shard when assigned or picked up elsewhere (for its ETAs)."""

    tenant: str
    order_id: str


class OrderOut(msgspec.Struct, tag="x", array_like=True):
    """To every shard: the order left the pool outside dispatch (cancelled)."""

    order_id: str


class StatusIn(msgspec.Struct, tag="t", array_like=True):
    """A courier's status set over REST, to the shard holding it (in order with its pings);
    a shard that handed the courier on passes it to the shard it went to."""

    tenant: str
    courier: str
    status: str


Entry = Pings | Handover | Takeover | OrderIn | OrderOut | StatusIn

Event = FenceEventMessage | OrderMessage | OfferMessage | EtaMessage
"""What a publication carries besides positions (not coalesced)."""


class CellUpdate(msgspec.Struct, array_like=True):
    """One publication on a console cell's channel (the latest state of couriers in it, the
    fence events and order changes that happened in it) or on a courier's channel (its offers
    and orders, for its driver)."""

    tenant: str
    couriers: list[CourierMessage]
    events: list[Event] = []


class Request(msgspec.Struct, array_like=True):
    """A call to a shard: ``op`` names it (``nearest``, ``cells``, ``answer``, ``release``,
    ``lend``, ``settle``, ``run``, ``assign``, ``load``); the answer goes to ``reply`` (none
    when empty)."""

    op: str
    reply: str
    tenant: str | None = None
    lat: float = 0.0
    lng: float = 0.0
    k: int = 0
    cells: list[int] = []
    courier: str | None = None
    offer_id: str = ""
    accept: bool = False
    points: list[tuple[float, float, float]] = []
    """``lend``: the pickups ``(lat, lng, radius_m)`` the caller is about to dispatch."""
    couriers: list[str] = []
    """``settle``: lent couriers given back (no offer of the caller holds them any more)."""
    loads: list[int] = []
    """``settle``: units each given-back courier now carries more (offers it accepted)."""
    keep: list[str] = []
    """``settle``: lent couriers still holding the caller's offers, kept for ``lease_s``."""
    lease_s: float = 0.0
    orders: list[tuple[str, str]] = []
    """``settle``: ``(tenant, order id)`` the given-back couriers accepted (for their ETAs);
    ``assign``: the order to give ``courier``."""
    origin: int = -1
    """``lend``, ``settle``: the shard asking."""


class NearestReply(msgspec.Struct, array_like=True):
    found: list[tuple[str, float]]


class CellsReply(msgspec.Struct, array_like=True):
    couriers: list[CourierMessage]


class LendReply(msgspec.Struct, array_like=True):
    """The free couriers a shard lends for one dispatch run, with their state."""

    couriers: list[tuple[str, CourierSnapshot]]


class RunReply(msgspec.Struct, array_like=True):
    """What one shard's batch did: its offers ``(offer, order, courier, expires_at)`` and
    the orders left waiting, with why (of the asking tenant)."""

    mode: str
    offers: list[tuple[str, str, str, float]]
    unassigned: dict[str, str]


class AnswerReply(msgspec.Struct, array_like=True):
    """``order_id`` of the answered offer, or the error class and message that refused it."""

    order_id: str | None = None
    error: str | None = None
    detail: str = ""


ENTRY_FIELD = b"e"
"""The one field of a stream entry."""

encode = msgspec.msgpack.Encoder().encode
entry_decoder = msgspec.msgpack.Decoder(Entry)
snapshot_decoder = msgspec.msgpack.Decoder(CourierSnapshot)
update_decoder = msgspec.msgpack.Decoder(CellUpdate)
request_decoder = msgspec.msgpack.Decoder(Request)
nearest_decoder = msgspec.msgpack.Decoder(NearestReply)
cells_decoder = msgspec.msgpack.Decoder(CellsReply)
answer_decoder = msgspec.msgpack.Decoder(AnswerReply)
lend_decoder = msgspec.msgpack.Decoder(LendReply)
run_decoder = msgspec.msgpack.Decoder(RunReply)
