"""An API worker's side of the scale-out: pings to the owning shard's stream, console cells
from pub/sub into the local hub, queries answered by the shards that hold the couriers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from api.messages import WirePing, epoch_seconds
from api.outbound import (
    ACCEPTED,
    CourierMessage,
    FenceEventMessage,
    OfferMessage,
    PingResult,
)
from api.ping_batcher import Outcome, resolve
from api.runtime import Runtime
from api.settings import Settings
from geo.cells import check_resolution
from scaling import codec, keys, rpc
from scaling.codec import Handover, PingRow, Pings, Request
from scaling.remote_dispatch import RemoteDispatch
from scaling.shard_map import ShardMap, load
from store.interface import Store
from tracking.hub import Hub, Subscriber

log = logging.getLogger("hexdispatch.gateway")

INVALID_COORDINATE = PingResult(accepted=False, reason="invalid_coordinate")
INVALID_TIMESTAMP = PingResult(accepted=False, reason="invalid_timestamp")
INVALID_ATTRIBUTE = PingResult(accepted=False, reason="invalid_attribute")


def ping_row(p: WirePing) -> tuple[PingRow | None, PingResult]:
    """The checks that need no courier history (the shard applies the others): a row to send,
    or None with the reason."""
    if not (
        math.isfinite(p.lat)
        and math.isfinite(p.lng)
        and -90 <= p.lat <= 90
        and -180 <= p.lng <= 180
    ):
        return None, INVALID_COORDINATE
    try:
        ts = epoch_seconds(p.ts)
    except ValueError:
        return None, INVALID_TIMESTAMP
    if not math.isfinite(ts):
        return None, INVALID_TIMESTAMP
    for v in (p.speed, p.heading, p.accuracy):
        if v is not None and not (math.isfinite(v) and v >= 0):
            return None, INVALID_ATTRIBUTE
    return (p.lat, p.lng, ts, p.speed, p.heading, p.accuracy), ACCEPTED


class Gateway:
    """Routes one API worker's traffic through Redis.

    An ack means the pings are in the owning shard's stream (Redis has them), not yet applied:
    the shard applies them in order and acknowledges the entry in the same transaction that
    saves the resulting positions (docs/scaling.md, guarantees).

    Parameters
    ----------
    redis
        An asyncio client (bytes responses).
    hub
        The worker's hub: console cell publications are republished into it.
    courier_of
        ``(tenant, courier) -> Courier`` (raises `store.errors.NotFound`); cached by the runtime.
    console_resolution
        Resolution of the console cells (one pub/sub channel each).
    maxlen
        Approximate bound of each shard stream (XADD MAXLEN ~): memory stays bounded if a shard
        is down for long; shards trim acknowledged entries themselves well before it.
    timeout_s
        Bound on a request to a shard.
    """

    def __init__(
        self,
        redis: Redis,
        hub: Hub,
        courier_of: Any,
        *,
        console_resolution: int = 6,
        maxlen: int = 1_000_000,
        timeout_s: float = 1.0,
    ) -> None:
        # Any: redis-py types replies as bytes | str whatever decode_responses says (bytes here)
        self.redis: Any = redis
        self.hub = hub
        self.courier_of = courier_of
        self.console_resolution = check_resolution(console_resolution)
        self.maxlen = maxlen
        self.timeout_s = timeout_s
        self.shard_map: ShardMap | None = None
        self.where: dict[str, int] = {}
        """Courier → shard its last entry went to (from the owner hash on first sight)."""
        self._mark: dict[str, int] = {}
        """Courier → shard it is being handed over from, for the next entry to its new shard."""
        self._pending: list[tuple[str, str, Sequence[WirePing], asyncio.Future[Any]]] = []
        self._viewers: dict[str, set[Subscriber]] = {}
        self._views: dict[Subscriber, set[str]] = {}
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._remote: RemoteDispatch | None = None

    async def start(self) -> None:
        """Load the shard map and start listening for console cells."""
        self.shard_map = await load(self.redis)
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(keys.CONTROL)
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._remote is not None:
            self._remote.close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self.redis.aclose()

    # ------------------------------------------------------------------ pings

    async def ingest(
        self, tenant: str, courier_id: str, pings: Sequence[WirePing]
    ) -> list[PingResult]:
        """`api.ping_batcher.PingBatcher.ingest` for the scale-out: every message of this loop
        iteration goes to Redis in one pipeline."""
        future: asyncio.Future[list[PingResult]] = asyncio.get_running_loop().create_future()
        self._pending.append((tenant, courier_id, pings, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let this iteration's other messages join
        batch, self._pending = self._pending, []
        self._flushing = None
        try:
            await self._send(batch)
        except Exception as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _send(
        self, batch: list[tuple[str, str, Sequence[WirePing], asyncio.Future[Any]]]
    ) -> None:
        assert self.shard_map is not None
        unknown = [c for _, c, _, _ in batch if c not in self.where]
        if unknown:
            owners = await self.redis.hmget(keys.OWNER, unknown)
            for c, o in zip(unknown, owners, strict=True):
                if o is not None:
                    self.where.setdefault(c, int(o))
        pipe = self.redis.pipeline(transaction=False)
        replies: list[tuple[asyncio.Future[Any], Outcome]] = []
        for tenant, courier_id, pings, future in batch:
            try:
                courier = self.courier_of(tenant, courier_id)
            except LookupError as exc:
                replies.append((future, exc))
                continue
            checked = [ping_row(p) for p in pings]
            rows = [row for row, _ in checked if row is not None]
            replies.append((future, [verdict for _, verdict in checked]))
            if not rows:
                continue
            entry = Pings(tenant, courier_id, courier.vehicle, courier.capacity, rows)
            # the shard that held the courier last waits for its handover first
            entry.prev = self._mark.pop(courier_id, -1)
            target = self.shard_map.shard_of(rows[-1][0], rows[-1][1])
            held = self.where.get(courier_id)
            data: Pings | Handover = entry
            stream_of = target
            if held is not None and held != target:
                # the old shard applies what it has, then passes the courier on with these
                data, stream_of = Handover(to=target, then=entry), held
                self._mark[courier_id] = held
            self.where[courier_id] = target
            pipe.xadd(
                keys.stream(stream_of),
                {codec.ENTRY_FIELD: codec.encode(data)},
                maxlen=self.maxlen,
                approximate=True,
            )
        await pipe.execute()
        resolve(replies)

    # ------------------------------------------------------------------ consoles

    async def watch(self, sub: Subscriber, cells: Sequence[int]) -> None:
        """Follow the pub/sub channels of a console's cells (replacing its earlier ones)."""
        await self._follow(sub, {keys.cell_channel(c) for c in cells})

    async def watch_courier(self, sub: Subscriber, courier_id: str) -> None:
        """Follow a courier's channel (its offers and orders) for its driver's connection."""
        await self._follow(sub, {keys.courier_channel(courier_id)})

    async def unwatch(self, sub: Subscriber) -> None:
        await self._follow(sub, set())

    async def _follow(self, sub: Subscriber, new: set[str]) -> None:
        """Reference-counted SUBSCRIBE / UNSUBSCRIBE: one Redis subscription per channel
        however many connections of this worker need it."""
        old = self._views.get(sub, set())
        subscribe, unsubscribe = [], []
        for channel in new - old:
            viewers = self._viewers.setdefault(channel, set())
            if not viewers:
                subscribe.append(channel)
            viewers.add(sub)
        for channel in old - new:
            viewers = self._viewers.get(channel, set())
            viewers.discard(sub)
            if not viewers:
                self._viewers.pop(channel, None)
                unsubscribe.append(channel)
        if new:
            self._views[sub] = new
        else:
            self._views.pop(sub, None)
        if subscribe:
            await self._pubsub.subscribe(*subscribe)
        if unsubscribe:
            await self._pubsub.unsubscribe(*unsubscribe)

    async def _listen(self) -> None:
        cell_prefix = keys.cell_channel(0).rsplit(":", 1)[0].encode() + b":"
        async for message in self._pubsub.listen():
            if message["type"] != "message":
                continue
            channel: bytes = message["channel"]
            if channel == keys.CONTROL.encode():
                await self._reload()
                continue
            try:
                update = codec.update_decoder.decode(message["data"])
            except msgspec.DecodeError:
                log.warning("undecodable publication on %s", channel)
                continue
            name = channel.rsplit(b":", 1)[1].decode()
            if channel.startswith(cell_prefix):
                self._republish_cell(int(name, 16), update)
            else:  # a courier's channel: for its driver
                for event in update.events:
                    self.hub.publish_event(update.tenant, [("courier", name)], event)

    async def _reload(self) -> None:
        """A new shard map: pings go by it from now on (a courier whose cells moved is handed
        over on its next message, as when it crosses a boundary)."""
        self.shard_map = await load(self.redis)
        if self._remote is not None:
            self._remote.shard_map = self.shard_map
        log.info("shard map v%s", self.shard_map.version)

    def _republish_cell(self, cell: int, update: codec.CellUpdate) -> None:
        for msg in update.couriers:
            self.hub.publish_position(
                update.tenant, msg.id, [("cell", cell), ("courier", msg.id)], msg
            )
        for event in update.events:
            topics: list[tuple[str, Hashable]] = [("cell", cell)]
            if isinstance(event, FenceEventMessage):
                topics += [("fences", "*"), ("courier", event.courier_id)]
            elif isinstance(event, OfferMessage):
                topics.append(("offers", "*"))
            self.hub.publish_event(update.tenant, topics, event)

    # ------------------------------------------------------------------ queries

    async def call(self, shard: int, request: Request) -> bytes:
        """Push a request on a shard's list and wait (bounded) for its reply."""
        return await rpc.call(self.redis, shard, request, self.timeout_s)

    async def couriers_in_cells(self, tenant: str, cells: Sequence[int]) -> list[CourierMessage]:
        """Latest state of the tenant's couriers in console cells, from every shard owning one."""
        assert self.shard_map is not None
        by_shard = self.shard_map.shards_of_cells(cells)
        replies = await asyncio.gather(
            *(
                self.call(s, Request(op="cells", reply="", tenant=tenant, cells=list(cs)))
                for s, cs in by_shard.items()
            )
        )
        return [c for r in replies for c in codec.cells_decoder.decode(r).couriers]

    async def nearest(
        self, lat: float, lng: float, k: int, tenant: str | None = None
    ) -> list[tuple[str, float]]:
        """The exact k nearest couriers across shards (`nearest_across`)."""
        assert self.shard_map is not None

        async def ask(shard: int) -> list[tuple[str, float]]:
            req = Request("nearest", "", tenant, float(lat), float(lng), int(k))
            reply = codec.nearest_decoder.decode(await self.call(shard, req))
            return [(c, m) for c, m in reply.found]

        return await nearest_across(self.shard_map, ask, lat, lng, k)

    def remote_dispatch(self, settings: Settings, store: Store) -> RemoteDispatch:
        """This worker's dispatch: orders and offer answers forwarded to the shards."""
        assert self.shard_map is not None and settings.redis_url is not None
        self._remote = RemoteDispatch(settings.redis_url, store, self.shard_map, self.timeout_s)
        return self._remote


async def nearest_across(
    shard_map: ShardMap,
    ask: Callable[[int], Awaitable[list[tuple[str, float]]]],
    lat: float,
    lng: float,
    k: int,
) -> list[tuple[str, float]]:
    """The exact k nearest couriers when each shard holds the couriers in its cells.

    The point's own shard answers first; its k-th distance bounds the search, so only the
    shards owning a cell within that distance are asked next (all of them when it had fewer
    than k), in parallel.

    Parameters
    ----------
    ask
        Shard id → that shard's own k nearest ``(courier, metres)``, ascending.
    """
    home = shard_map.shard_of(lat, lng)
    found = await ask(home)
    if len(found) < k:
        others = set(shard_map.shards) - {home}
    else:
        others = shard_map.shards_near(lat, lng, found[-1][1]) - {home}
    lists = [found, *await asyncio.gather(*(ask(s) for s in sorted(others)))]
    return merge_nearest(lists, k)


async def open_gateway(settings: Settings, runtime: Runtime) -> Gateway:
    """The gateway of an API worker whose settings name a Redis (`api.app.create_app`)."""
    assert settings.redis_url is not None
    gateway = Gateway(
        Redis.from_url(settings.redis_url),
        runtime.hub,
        runtime.cached_courier,
        console_resolution=settings.console_resolution,
        maxlen=settings.redis_stream_maxlen,
        timeout_s=settings.request_timeout_s,
    )
    await gateway.start()
    return gateway


def merge_nearest(lists: Sequence[Sequence[tuple[str, float]]], k: int) -> list[tuple[str, float]]:
    """The k nearest of several shards' answers (a courier is in one shard at a time; ties
    broken by id, so the order does not depend on which shard answered first)."""
    best: dict[str, float] = {}
    for found in lists:
        for courier, metres in found:
            if courier not in best or metres < best[courier]:
                best[courier] = metres
    return sorted(best.items(), key=lambda cm: (cm[1], cm[0]))[:k]
