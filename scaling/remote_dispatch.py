"""An API worker's dispatch in front of shards: orders go to the shard that owns their pickup,
offer answers to the shard that made the offer (`api.dispatch_flow.DispatchService`'s role)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, NoReturn

import redis

from api.dispatch_flow import OfferNotYours, TenantRun
from api.outbound import CourierMessage
from orders.model import Order, Position
from scaling import codec, keys, rpc
from scaling.codec import AnswerReply, CourierSnapshot, OrderIn, OrderOut, Request, StatusIn
from scaling.errors import DispatchInShards, ShardRefused
from scaling.shard_map import ShardMap
from store.errors import NotFound
from store.interface import Store


class _OfferBook:
    """The part of `dispatch.OfferBook` the order routes touch: the shard withdraws a
    cancelled order's offer itself, with the order."""

    def withdraw_order(self, order_id: str) -> None:
        return None


class RemoteEtas:
    """`api.eta_flow.EtaRefresher`'s place on a worker: the shards refresh ETAs as their
    couriers move; the worker only tells a courier's shard when one of its orders changes."""

    def __init__(self, dispatch: RemoteDispatch) -> None:
        self.dispatch = dispatch

    def track(self, order: Order) -> None:
        self.dispatch.follow(order)

    def load(self, tenant_ids: Iterable[str]) -> None:
        """Nothing here: each shard loads the orders its couriers carry."""

    def couriers_moved(self, courier_ids: Iterable[str]) -> None:
        """Pings do not reach the worker's index in scale-out."""

    async def run(self, every_s: float) -> None:
        """Nothing to flush here; waits until cancelled like the embedded one."""
        await asyncio.Event().wait()

    def flush(self) -> int:
        return 0


class RemoteDispatch:
    """Forwards the calls the API makes on its dispatch service to the shards: blocking calls
    with a bounded wait, made from REST threads and, for a driver's messages, from a thread
    (`api.routers.driver_ws`); only `submit` runs on the event loop (one XADD).

    Batches run in the shards every dispatch window; `run` here is not available.

    Parameters
    ----------
    redis_url
        The scale-out Redis.
    store
        The shared store (the answered order is read back from it).
    shard_map
        Where pickups are.
    timeout_s
        Bound on each request to a shard.
    """

    def __init__(self, redis_url: str, store: Store, shard_map: ShardMap, timeout_s: float) -> None:
        # Any: redis-py types replies as bytes | str whatever decode_responses says (bytes here)
        self.redis: Any = redis.Redis.from_url(redis_url)
        self.store = store
        self.shard_map = shard_map
        self.timeout_s = timeout_s
        self.batch_timeout_s = max(timeout_s, 10.0)
        """A batch on demand waits for the shard's solve (bounded by its time limit)."""
        self.offers = _OfferBook()

    def close(self) -> None:
        self.redis.close()

    def submit(self, order: Order) -> None:
        """Queue a new order on the stream of the shard owning its pickup."""
        shard = self.shard_map.shard_of(order.pickup_lat, order.pickup_lng)
        entry = codec.encode(OrderIn(order.tenant, order.id))
        self.redis.xadd(keys.stream(shard), {codec.ENTRY_FIELD: entry})

    def withdraw(self, order_id: str) -> None:
        """The order left the pool (cancelled): every shard drops it (only its own has it)."""
        entry = {codec.ENTRY_FIELD: codec.encode(OrderOut(order_id))}
        pipe = self.redis.pipeline(transaction=False)
        for shard in self.shard_map.shards:
            pipe.xadd(keys.stream(shard), entry)
        pipe.execute()

    def run(self) -> NoReturn:
        """Batches run in the shards (`run_for` asks them for one now)."""
        raise DispatchInShards()

    def run_for(self, tenant_id: str) -> TenantRun:
        """`POST /v1/dispatch/run`: every shard runs a batch now; their reports for the
        tenant, together."""
        mode, offers, unassigned = "", [], {}
        for shard in self.shard_map.shards:
            req = Request("run", "", tenant_id)
            reply = codec.run_decoder.decode(self._call(shard, req, self.batch_timeout_s))
            mode = mode or reply.mode
            offers += reply.offers
            unassigned.update(reply.unassigned)
        return TenantRun(mode=mode, offers=offers, unassigned=unassigned)

    def assign_by_hand(self, tenant_id: str, order_id: str, courier_id: str, actor: Any) -> Order:
        """The shard owning the order's pickup assigns it (and tells the courier's shard its
        load, when that is another one)."""
        order = self.store.get_order(tenant_id, order_id)
        shard = self.shard_map.shard_of(order.pickup_lat, order.pickup_lng)
        owner = self.redis.hget(keys.OWNER, courier_id)
        req = Request("assign", "", tenant_id, courier=courier_id, orders=[(tenant_id, order_id)])
        req.k = -1 if owner is None else int(owner)
        reply = codec.answer_decoder.decode(self._call(shard, req))
        if reply.order_id is None:
            self._refused(shard, reply, "order", order_id)
        return self.store.get_order(tenant_id, order_id)

    def position(self, courier_id: str) -> Position | None:
        """The courier's last position, from its shard's snapshot (None if it never pinged)."""
        state = self._snapshot(courier_id)
        return None if state is None else Position(state.lat, state.lng)

    def courier_message(self, courier_id: str) -> CourierMessage | None:
        """The courier's last state as its shard saved it (None if no shard holds it)."""
        s = self._snapshot(courier_id)
        if s is None:
            return None
        return CourierMessage(
            id=courier_id,
            lat=s.lat,
            lng=s.lng,
            ts=s.ts,
            status=s.status,
            heading=s.heading,
            speed=s.speed,
            vehicle=s.vehicle or None,
            load=s.load,
            capacity=s.capacity,
        )

    def set_status(self, tenant_id: str, courier_id: str, status: str) -> None:
        """A status set over REST: on the stream of the courier's shard, in order with its
        pings; for a courier no shard holds yet, kept for the shard of its first ping."""
        owner = self.redis.hget(keys.OWNER, courier_id)
        if owner is None:
            self.redis.hset(keys.PENDING_STATUS, courier_id, status)
            # a first ping applied meanwhile may have looked before this HSET: its shard
            # announced itself first, so asking again finds it
            owner = self.redis.hget(keys.OWNER, courier_id)
            if owner is None:
                return
        entry = codec.encode(StatusIn(tenant_id, courier_id, status))
        self.redis.xadd(keys.stream(int(owner)), {codec.ENTRY_FIELD: entry})

    def _snapshot(self, courier_id: str) -> CourierSnapshot | None:
        owner = self.redis.hget(keys.OWNER, courier_id)
        if owner is None:
            return None
        raw = self.redis.hget(keys.last_positions(int(owner)), courier_id)
        return None if raw is None else codec.snapshot_decoder.decode(raw)

    def release_load(self, courier_id: str, units: int) -> None:
        """The courier carries ``units`` less (delivered, failed): its shard updates its index."""
        owner = self.redis.hget(keys.OWNER, courier_id)
        shards = self.shard_map.shards
        if owner is not None:  # its shard first; the others if it moved meanwhile
            shards = [int(owner), *(s for s in shards if s != int(owner))]
        for shard in shards:
            req = Request("release", "", None, courier=courier_id, k=units)
            if codec.answer_decoder.decode(self._call(shard, req)).error is None:
                return

    def follow(self, order: Order) -> None:
        """An order changed on this worker (picked up, delivered): its courier's shard reads it
        again for the ETAs it refreshes."""
        if not order.courier_id:
            return
        owner = self.redis.hget(keys.OWNER, order.courier_id)
        if owner is not None:
            entry = codec.encode(OrderIn(order.tenant, order.id))
            self.redis.xadd(keys.stream(int(owner)), {codec.ENTRY_FIELD: entry})

    def load_pool(self, tenant_ids: list[str]) -> None:
        """Nothing here: each shard loads the waiting orders whose pickup it owns."""

    def answer(
        self, tenant_id: str, courier_id: str | None, offer_id: str, *, accept: bool
    ) -> Order:
        """The shard that made the offer (its id starts ``s<shard>.``) answers it."""
        shard = _shard_of_offer(offer_id)
        if shard not in self.shard_map.shards:
            raise NotFound("offer", offer_id)
        req = Request("answer", "", tenant_id, courier=courier_id, offer_id=offer_id)
        req.accept = accept
        reply = codec.answer_decoder.decode(self._call(shard, req))
        if reply.order_id is None:
            self._refused(shard, reply, "offer", offer_id)
        return self.store.get_order(tenant_id, reply.order_id)

    def _refused(self, shard: int, reply: AnswerReply, kind: str, key: str) -> NoReturn:
        """Raise what the shard raised: the errors the API maps by class, else `ShardRefused`."""
        if reply.error == "OfferNotYours":
            raise OfferNotYours(key)
        if reply.error == "NotFound":
            raise NotFound(kind, key)
        raise ShardRefused(shard, str(reply.error), reply.detail)

    def _call(self, shard: int, request: Request, timeout_s: float | None = None) -> bytes:
        return rpc.call_sync(self.redis, shard, request, timeout_s or self.timeout_s)


def _shard_of_offer(offer_id: str) -> int:
    """The shard in an offer id (``s<shard>.<boot>.<n>``, `scaling.shard.Shard`); -1 if none."""
    head = offer_id.split(".", 1)[0]
    return int(head[1:]) if head[:1] == "s" and head[1:].isdigit() else -1
