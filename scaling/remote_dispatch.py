"""An API worker's dispatch in front of shards: orders go to the shard that owns their pickup,
offer answers to the shard that made the offer (`api.dispatch_flow.DispatchService`'s role)."""

from __future__ import annotations

import secrets
from typing import Any, NoReturn

import redis

from api.dispatch_flow import OfferNotYours
from orders.model import Order, Position
from scaling import codec, keys
from scaling.codec import OrderIn, OrderOut, Request
from scaling.errors import DispatchInShards, ShardRefused, ShardTimeout
from scaling.shard_map import ShardMap
from store.errors import NotFound
from store.interface import Store


class _OfferBook:
    """The part of `dispatch.OfferBook` the order routes touch: the shard withdraws a
    cancelled order's offer itself, with the order."""

    def withdraw_order(self, order_id: str) -> None:
        return None


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
        """Batches run in the shards every window (`POST /v1/dispatch/run` is a conflict)."""
        raise DispatchInShards()

    def assign_by_hand(
        self, tenant_id: str, order_id: str, courier_id: str, actor: Any
    ) -> NoReturn:
        """Not forwarded yet: assigning by hand needs the courier's shard and the order's."""
        raise DispatchInShards()

    def position(self, courier_id: str) -> Position | None:
        """The courier's last position, from its shard's snapshot (None if it never pinged)."""
        owner = self.redis.hget(keys.OWNER, courier_id)
        if owner is None:
            return None
        raw = self.redis.hget(keys.last_positions(int(owner)), courier_id)
        if raw is None:
            return None
        state = codec.snapshot_decoder.decode(raw)
        return Position(state.lat, state.lng)

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

    def load_pool(self, tenant_ids: list[str]) -> None:
        """Nothing here: each shard loads the waiting orders whose pickup it owns."""

    def answer(
        self, tenant_id: str, courier_id: str | None, offer_id: str, *, accept: bool
    ) -> Order:
        """Ask each shard in turn; the one that made the offer answers it."""
        for shard in self.shard_map.shards:
            req = Request("answer", "", tenant_id, courier=courier_id, offer_id=offer_id)
            req.accept = accept
            reply = codec.answer_decoder.decode(self._call(shard, req))
            if reply.order_id is not None:
                return self.store.get_order(tenant_id, reply.order_id)
            if reply.error == "OfferNotYours":
                raise OfferNotYours(offer_id)
            if reply.error not in (None, "NotFound"):
                raise ShardRefused(shard, reply.error, reply.detail)
        raise NotFound("offer", offer_id)

    def _call(self, shard: int, request: Request) -> bytes:
        request.reply = f"{keys.PREFIX}:reply:{secrets.token_hex(8)}"
        self.redis.rpush(keys.requests(shard), codec.encode(request))
        got = self.redis.blpop([request.reply], timeout=self.timeout_s)
        if got is None:
            raise ShardTimeout(shard, request.op, self.timeout_s)
        return bytes(got[1])
