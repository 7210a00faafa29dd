"""A shard process: consumes its Redis Stream into its own live index, acknowledges after
applying, snapshots last positions, hands couriers over, answers queries, publishes cells."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from api.dispatch_flow import DispatchService, RunReport
from api.eta_flow import EtaRefresher
from api.outbound import CourierMessage, FenceEventMessage
from api.runtime import courier_message_of, order_message
from geo.cells import cell_of, cells_of, parent_cells
from orders.model import Actor, ActorKind, Order, OrderState
from scaling import codec, keys, rpc
from scaling.border_index import BorderIndex, restore
from scaling.codec import (
    AnswerReply,
    CellUpdate,
    CourierSnapshot,
    Entry,
    Event,
    Handover,
    LendReply,
    OrderIn,
    OrderOut,
    Pings,
    Request,
    RunReply,
    StatusIn,
    Takeover,
)
from scaling.errors import ShardTimeout
from scaling.shard_map import ShardMap, load
from store.errors import NotFound
from store.interface import Store
from store.records import GeofenceRecord
from tracking import CourierState, FenceEvent, LiveIndex
from tracking.hub import Hub, Message

log = logging.getLogger("hexdispatch.shard")

REPLY_TTL_S = 30
"""A reply nobody collected (the caller timed out) expires."""
DISPATCH_OPS = frozenset({"answer", "assign", "release", "settle"})
"""Requests that change dispatch state: they wait for a running batch."""
LEND_S = 10.0
"""How long a courier lent for one dispatch run stays lent if the borrower never says what it
did with it (it says so right after its run; a courier it offered an order stays lent until
the offer closes)."""


def snapshot_of(state: CourierState) -> CourierSnapshot:
    return CourierSnapshot(
        tenant=state.tenant or "",
        vehicle=state.vehicle or "",
        capacity=state.capacity,
        load=state.load,
        status=state.status,
        lat=state.lat,
        lng=state.lng,
        ts=state.ts,
        speed=state.speed,
        heading=state.heading,
        accuracy=state.accuracy,
        idle_since=state.idle_since,
    )


class RelayHub(Hub):
    """The shard's hub: what its dispatch publishes (offers, order changes) waits in
    ``outbox`` for the next commit, which PUBLISHes it on the courier and cell channels."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: list[tuple[str, list[tuple[str, Hashable]], Message]] = []

    def publish_event(
        self, tenant: str, topics: Iterable[tuple[str, Hashable]], msg: Message
    ) -> int:
        self.outbox.append((tenant, list(topics), msg))
        return 0


@dataclass
class _Deferred:
    """Entries of a courier waiting for its handover from another shard (not yet acked)."""

    since: float
    """`time.monotonic` when the first one arrived."""
    entries: list[tuple[bytes, Entry]] = field(default_factory=list)


@dataclass
class _Commit:
    """What one batch writes to Redis in one MULTI: acks with the state they produced."""

    acks: list[bytes] = field(default_factory=list)
    touched: dict[str, None] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    events: list[tuple[str, FenceEventMessage]] = field(default_factory=list)
    orders: list[OrderIn | OrderOut] = field(default_factory=list)
    """Tenant and message of each fence event, placed where the courier was when it happened
    (it may be handed over before the commit)."""
    sends: list[tuple[int, bytes]] = field(default_factory=list)
    pending_status: dict[str, str] = field(default_factory=dict)


class Shard:
    """One engine shard.

    Parameters
    ----------
    shard_id
        This shard's id in the shard map.
    redis
        An asyncio Redis client (bytes responses).
    shard_map
        The map workers route by (a courier is handed over when its pings move shards).
    resolution, console_resolution
        Live index and console-cell resolutions (the API's ``h3_resolution`` and
        ``console_resolution``).
    batch
        Stream entries read per round.
    handover_wait_s
        How long entries of a courier wait for its handover before being applied without it.
    store
        Where the active geofences are read from (every shard holds every fence: a fence may
        straddle shards, and events only come from the couriers a shard holds); None: no fences.
    fence_refresh_s
        How often the fences are re-read from the store (changes made through any worker).
    dispatch_window_s, offer_timeout_s
        With a store, the shard dispatches the orders whose pickup it owns, every window.
    eta_refresh_s, eta_threshold_s
        With a store, the ETAs of the orders its couriers carry are refreshed as they move
        (`api.eta_flow.EtaRefresher`) and written once a second.
    request_timeout_s
        Bound on asking a neighbouring shard for its couriers near this shard's pickups.
    """

    def __init__(
        self,
        shard_id: int,
        redis: Redis,
        shard_map: ShardMap,
        *,
        resolution: int = 9,
        console_resolution: int = 6,
        batch: int = 2000,
        handover_wait_s: float = 5.0,
        store: Store | None = None,
        fence_refresh_s: float = 2.0,
        dispatch_window_s: float = 2.0,
        offer_timeout_s: float = 30.0,
        eta_refresh_s: float = 15.0,
        eta_threshold_s: float = 30.0,
        request_timeout_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = shard_id
        # Any: redis-py types replies as bytes | str whatever decode_responses says (bytes here)
        self.redis: Any = redis
        self.shard_map = shard_map
        self.console_resolution = console_resolution
        self.batch = batch
        self.handover_wait_s = handover_wait_s
        self.clock = clock
        self.index = LiveIndex(resolution=resolution, clock=clock)
        self.stream = keys.stream(shard_id)
        self.consumer = keys.consumer(shard_id)
        self.waiting: dict[str, _Deferred] = {}
        self.handed_in: dict[str, int] = {}
        self.handed_to: dict[str, int] = {}
        """Where each courier this shard gave up went (a late status set follows it)."""
        self.announced: set[str] = set()
        """Couriers whose owner entry already names this shard."""
        self.applied = 0
        """Stream entries applied and acknowledged since start."""
        self._last_trim = 0.0
        self.store = store
        self.fence_refresh_s = fence_refresh_s
        self._fence_versions: dict[str, float] = {}
        self._last_fences = 0.0
        self.hub = RelayHub()
        self.dispatch_window_s = dispatch_window_s
        self._last_dispatch = time.monotonic()
        self.dispatch: DispatchService | None = None
        self.request_timeout_s = request_timeout_s
        self.border = BorderIndex(self.index, clock)
        self.lent: dict[str, tuple[int, float]] = {}
        """Own courier → the shard it is lent to, until (`time.monotonic`)."""
        self.borrowed: dict[str, int] = {}
        """Courier of another shard lent to this one → its shard."""
        self._accepted: dict[str, list[tuple[str, str, int]]] = {}
        """Borrowed courier → ``(tenant, order id, size)`` of the offers it accepted here."""
        self._changed: dict[str, None] = {}
        """Couriers whose load a request changed: their snapshot goes out with the next commit."""
        self._batch = asyncio.Lock()
        self._solving = False
        """A batch is running on its thread (the pool and the offers are its own)."""
        self._held_orders: list[OrderIn | OrderOut] = []
        """Order changes read while a batch ran, applied after it."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.etas: EtaRefresher | None = None
        self._last_eta_flush = time.monotonic()
        if store is not None:
            self.etas = EtaRefresher(
                store,
                self.index,
                threading.RLock(),
                self.hub,
                clock=clock,
                console_resolution=console_resolution,
                interval_s=eta_refresh_s,
                threshold_s=eta_threshold_s,
            )
            self.dispatch = DispatchService(
                store,
                self.index,
                self.hub,
                self._publish_order,
                offer_timeout_s=offer_timeout_s,
                clock=clock,
                candidates=self.border,
                # unique across shards and restarts: a worker finds the shard by the prefix
                offer_prefix=f"s{shard_id}.{secrets.token_hex(3)}.",
            )

    # ---------------------------------------------------------------- start-up

    async def prepare(self) -> None:
        """Create the consumer group, then restore the last positions snapshot."""
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(self.stream, keys.GROUP, id="0", mkstream=True)
        await self.refresh_fences()
        saved = await self.redis.hgetall(keys.last_positions(self.id))
        if saved:
            ids = [k.decode() for k in saved]
            snaps = [codec.snapshot_decoder.decode(v) for v in saved.values()]
            restore(self.index, ids, snaps)
            self.announced.update(ids)
        if self.dispatch is not None and self.etas is not None and self.store is not None:
            tenants = [t.id for t in self.store.list_tenants()]
            self.dispatch.load_pool(tenants, keep=self._owns_pickup)
            self.etas.load(tenants)

    def _owns_pickup(self, order: Order) -> bool:
        return self.shard_map.shard_of(order.pickup_lat, order.pickup_lng) == self.id

    async def recover(self) -> int:
        """Apply every entry delivered before a restart but never acknowledged: this
        consumer's pending list, then entries other consumers of the group left pending."""
        done, last = 0, "0"
        while True:
            got = await self.redis.xreadgroup(
                keys.GROUP, self.consumer, {self.stream: last}, count=self.batch
            )
            entries = got[0][1] if got else []
            if not entries:
                break
            last = entries[-1][0]
            await self.handle(entries)
            done += len(entries)
        start: bytes | str = "0-0"
        while True:
            start, claimed, _ = await self.redis.xautoclaim(
                self.stream, keys.GROUP, self.consumer, 0, start, count=self.batch
            )
            if claimed:
                await self.handle(claimed)
                done += len(claimed)
            if start in (b"0-0", "0-0"):
                break
        return done

    # ---------------------------------------------------------------- main loop

    async def run(self, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
        """Consume until ``stop`` is set; requests are answered on a second connection."""
        control = self.redis.pubsub()
        await control.subscribe(keys.CONTROL)
        await self.prepare()
        await self.recover()
        server = asyncio.create_task(self.serve_requests(stop))
        if ready is not None:
            ready()
        try:
            while not stop.is_set():
                try:
                    got = await self.redis.xreadgroup(
                        keys.GROUP, self.consumer, {self.stream: ">"}, count=self.batch, block=50
                    )
                except RedisTimeout:
                    # the loop was held longer than the client's socket timeout (a long batch
                    # asked over REST): what Redis delivered meanwhile is in the pending list
                    log.warning("shard %s: stream read timed out; re-reading pending", self.id)
                    await self.recover()
                    continue
                if got:
                    await self.handle(got[0][1])
                await self._release_expired()
                await self._trim()
                if time.monotonic() - self._last_fences > self.fence_refresh_s:
                    await self.refresh_fences()
                await self._dispatch_due()
                await self._flush_etas()
                if await control.get_message(ignore_subscribe_messages=True, timeout=0.0):
                    self.shard_map = await load(self.redis)
        finally:
            stop.set()
            await server
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await control.aclose()

    async def _dispatch_due(self) -> None:
        """One dispatch batch per window over the orders whose pickup this shard owns, on a
        task: the stream is read on meanwhile."""
        if self.dispatch is None or time.monotonic() - self._last_dispatch < self.dispatch_window_s:
            return
        if self._batch.locked():
            return
        self._last_dispatch = time.monotonic()
        self._spawn(self.run_batch())

    def _spawn(self, work: Awaitable[Any]) -> None:
        async def logged() -> None:
            try:
                await work
            except Exception:
                log.exception("shard %s: dispatch work failed", self.id)

        task = asyncio.create_task(logged())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_batch(self) -> RunReport:
        """One batch over the orders this shard owns, with the couriers its neighbours lend
        it near them (one batch at a time: a loan serves the run it was made for)."""
        assert self.dispatch is not None
        async with self._batch:
            pickups = self._pickups()
            await self._borrow(pickups)
            now = time.monotonic()
            self.lent = {c: lent for c, lent in self.lent.items() if lent[1] > now}
            self.border.lent_out = set(self.lent)
            # The batch runs on a thread over a copy of the couriers near the pickups, so the
            # loop goes on applying pings to the live index; order changes and offer answers
            # that arrive meanwhile wait for it (`_held_orders`, `_dispatch_op`).
            live = self.dispatch.index
            self.dispatch.index = self.border.freeze(pickups)
            self._solving = True
            try:
                report = await asyncio.to_thread(self.dispatch.run)
            finally:
                self._solving = False
                self.dispatch.index = live
                self.border.thaw()
            held, self._held_orders = self._held_orders, []
            self._pool(held)
            await self._settle()
            await self._commit(_Commit())
            return report

    def _pickups(self) -> list[tuple[float, float, float]]:
        """``(lat, lng, radius)`` of the waiting orders without an outstanding offer."""
        assert self.dispatch is not None
        offered = self.dispatch.offers.offered_orders()
        return [
            (o.pickup_lat, o.pickup_lng, o.max_pickup_m)
            for o in self.dispatch.dispatcher.pool()
            if o.id not in offered
        ]

    async def _borrow(self, pickups: list[tuple[float, float, float]]) -> None:
        """Ask the shards owning cells within the pickup radius of a waiting order for their
        free couriers near it (a neighbour that does not answer in time is left out)."""
        asks: dict[int, list[tuple[float, float, float]]] = {}
        if len(self.shard_map.shards) > 1:
            for point in pickups:
                for shard in self.shard_map.shards_near(*point) - {self.id}:
                    asks.setdefault(shard, []).append(point)
        replies = await asyncio.gather(*(self._ask_lend(s, p) for s, p in asks.items()))
        lent: dict[str, CourierSnapshot] = {}
        for shard, got in zip(asks, replies, strict=True):
            for courier, snap in got:
                lent[courier] = snap
                self.borrowed[courier] = shard
        self.border.borrow(lent)

    async def _ask_lend(
        self, shard: int, points: list[tuple[float, float, float]]
    ) -> list[tuple[str, CourierSnapshot]]:
        req = Request("lend", "", points=points, origin=self.id)
        try:
            raw = await rpc.call(self.redis, shard, req, self.request_timeout_s)
        except ShardTimeout:
            log.warning("shard %s: shard %s lent nothing in time", self.id, shard)
            return []
        return codec.lend_decoder.decode(raw).couriers

    async def _settle(self) -> None:
        """Tell the owners of borrowed couriers which ones this shard's offers still hold
        (kept until the offer's timeout) and give the others back, with the load of the
        orders they accepted."""
        if not self.borrowed or self.dispatch is None:
            return
        held = self.dispatch.offers.held_units()
        lease = self.dispatch.offers.timeout_s + LEND_S
        by_owner: dict[int, Request] = {}
        for courier, owner in list(self.borrowed.items()):
            req = by_owner.setdefault(owner, Request("settle", "", origin=self.id, lease_s=lease))
            if held.get(courier):
                req.keep.append(courier)
                continue
            del self.borrowed[courier]
            took = self._accepted.pop(courier, [])
            req.couriers.append(courier)
            req.loads.append(sum(size for *_, size in took))
            req.orders += [(tenant, order_id) for tenant, order_id, _ in took]
        await asyncio.gather(*(rpc.tell(self.redis, s, r) for s, r in by_owner.items()))

    async def _flush_etas(self) -> None:
        """Write the refreshed ETAs once a second (in a thread: store round trips)."""
        if self.etas is None or time.monotonic() - self._last_eta_flush < 1.0:
            return
        self._last_eta_flush = time.monotonic()
        await asyncio.to_thread(self.etas.flush)

    async def _trim(self) -> None:
        """Drop acknowledged entries from the stream (never one still pending), once a second."""
        now = time.monotonic()
        if now - self._last_trim < 1.0:
            return
        self._last_trim = now
        pending = await self.redis.xpending(self.stream, keys.GROUP)
        if pending["pending"]:
            minid = pending["min"]
        else:
            groups = await self.redis.xinfo_groups(self.stream)
            minid = next(g["last-delivered-id"] for g in groups if g["name"] == keys.GROUP.encode())
        await self.redis.xtrim(self.stream, minid=minid, approximate=False)

    async def _release_expired(self) -> None:
        now = time.monotonic()
        late = [c for c, d in self.waiting.items() if now - d.since > self.handover_wait_s]
        if not late:
            return
        released: list[tuple[bytes, Entry]] = []
        for courier in late:
            log.warning("shard %s: no handover for %s; applying its pings", self.id, courier)
            released += self.waiting.pop(courier).entries
        await self._handle_decoded(released, trusted=True)

    async def refresh_fences(self) -> None:
        """Mirror the store's active fences (added, changed, deactivated or deleted) into the
        index, publishing the events the change causes."""
        self._last_fences = time.monotonic()
        if self.store is None:
            return
        records = await asyncio.to_thread(self._active_fences)
        commit = _Commit()
        for fence_id in set(self._fence_versions) - set(records):
            commit.events += self._placed(self.index.remove_fence(fence_id))
            del self._fence_versions[fence_id]
        for fence_id, record in records.items():
            if self._fence_versions.get(fence_id) == record.updated_at:
                continue
            events: list[FenceEvent] = []
            if fence_id in self._fence_versions:
                events += self.index.remove_fence(fence_id)
            events += self.index.add_fence(
                fence_id, record.geometry, kind=record.kind, tenant=record.tenant_id
            )
            commit.events += self._placed(events)
            self._fence_versions[fence_id] = record.updated_at
        if commit.events:
            await self._commit(commit)

    def _active_fences(self) -> dict[str, GeofenceRecord]:
        assert self.store is not None
        return {
            record.id: record
            for tenant in self.store.list_tenants()
            for record in self.store.list_geofences(tenant.id, active=True)
        }

    # ---------------------------------------------------------------- applying

    async def handle(self, raw: Iterable[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Apply stream entries in order and commit their effects with their acks."""
        decoded, gone = [], []
        for i, fields in raw:
            if fields:
                decoded.append((i, codec.entry_decoder.decode(fields[codec.ENTRY_FIELD])))
            else:  # pending, but trimmed away: nothing left to apply
                gone.append(i)
        await self._handle_decoded(decoded, gone=gone)

    async def _handle_decoded(
        self,
        entries: list[tuple[bytes, Entry]],
        *,
        trusted: bool = False,
        gone: Sequence[bytes] = (),
    ) -> None:
        commit = _Commit(acks=list(gone))
        run: list[Pings] = []
        todo = deque(entries)
        while todo:
            eid, entry = todo.popleft()
            if isinstance(entry, OrderIn | OrderOut):
                commit.orders.append(entry)
                commit.acks.append(eid)
                continue
            courier = (
                entry.then.courier if isinstance(entry, Handover | Takeover) else entry.courier
            )
            if isinstance(entry, Takeover):
                self._apply(run, commit)
                run = []
                self.handed_to.pop(courier, None)
                self._take(entry, commit)
                run.append(entry.then)
                commit.acks.append(eid)
                waited = self.waiting.pop(courier, None)
                if waited is not None:  # its first entry names this origin: applied now
                    todo.extendleft(reversed(waited.entries))
                continue
            if courier in self.waiting:
                self.waiting[courier].entries.append((eid, entry))
                continue
            if isinstance(entry, StatusIn):
                self._apply(run, commit)
                run = []
                self._set_status(entry, commit)
                commit.acks.append(eid)
                continue
            prev = entry.then.prev if isinstance(entry, Handover) else entry.prev
            if (
                not trusted
                and prev >= 0
                and prev != self.id
                and self.handed_in.pop(courier, None) != prev
            ):
                self.waiting[courier] = _Deferred(time.monotonic(), [(eid, entry)])
                continue
            if isinstance(entry, Handover):
                self._apply(run, commit)
                run = []
                self.handed_to[courier] = entry.to
                state = self._give_up(courier, commit)
                takeover = Takeover(state=state, then=entry.then, origin=self.id)
                commit.sends.append((entry.to, codec.encode(takeover)))
                commit.acks.append(eid)
                continue
            run.append(entry)
            commit.acks.append(eid)
        self._apply(run, commit)
        if self._solving:  # the batch's thread holds the pool: after it
            self._held_orders += commit.orders
        else:
            self._pool(commit.orders)
        if self.etas is not None and commit.touched:
            self.etas.couriers_moved(list(commit.touched))
        await self._commit(commit)

    def _set_status(self, entry: StatusIn, commit: _Commit) -> None:
        """A status set over REST: here, or on to the shard this courier went to, or kept for
        the shard of its next first ping (this shard restarted and lost it)."""
        if entry.courier in self.index:
            self.index.set_attrs(entry.courier, status=entry.status)
            commit.touched[entry.courier] = None
        elif entry.courier in self.handed_to:
            commit.sends.append((self.handed_to[entry.courier], codec.encode(entry)))
        else:
            commit.pending_status[entry.courier] = entry.status

    def _pool(self, changes: list[OrderIn | OrderOut]) -> None:
        """Orders into or out of this shard's dispatch pool; changed orders its couriers carry
        (for their ETAs)."""
        if self.dispatch is None or self.etas is None or self.store is None:
            return
        for change in changes:
            if isinstance(change, OrderOut):
                self.dispatch.offers.withdraw_order(change.order_id)
                self.dispatch.withdraw(change.order_id)
                continue
            try:
                order = self.store.get_order(change.tenant, change.order_id)
            except NotFound:
                continue
            if order.state is OrderState.CREATED:
                self.dispatch.submit(order)
            self.etas.track(order)

    def _publish_order(self, tenant: str, order: Order) -> None:
        """An order change for the consoles of its ends' cells and its courier's driver."""
        if self.etas is not None:
            self.etas.track(order)
        res = self.console_resolution
        topics: list[tuple[str, Hashable]] = [
            ("cell", cell_of(order.pickup_lat, order.pickup_lng, res)),
            ("cell", cell_of(order.dropoff_lat, order.dropoff_lng, res)),
        ]
        if order.courier_id:
            topics.append(("courier", order.courier_id))
        self.hub.publish_event(tenant, topics, order_message(order))

    def _apply(self, run: list[Pings], commit: _Commit) -> None:
        """One `LiveIndex.upsert_many` over the pings of several entries, in order."""
        if not run:
            return
        ids: list[Hashable] = []
        rows: list[codec.PingRow] = []
        first: dict[str, Pings] = {}
        for entry in run:
            ids += [entry.courier] * len(entry.pings)
            rows += entry.pings
            if entry.courier not in self.index:
                first.setdefault(entry.courier, entry)
        if not rows:
            return
        cols = list(zip(*rows, strict=True))
        attrs: dict[str, Any] = {}
        if first:
            none = None
            attrs = {
                "tenant": [first[c].tenant if c in first else none for c in ids],
                "vehicle": [first[c].vehicle if c in first else none for c in ids],
                "capacity": [first[c].capacity if c in first else none for c in ids],
            }
        result = self.index.upsert_many(
            ids,
            cols[0],
            cols[1],
            cols[2],
            speed=cols[3],
            heading=cols[4],
            accuracy=cols[5],
            **attrs,
        )
        for i in np.flatnonzero(result.accepted).tolist():
            commit.touched[str(ids[i])] = None
        commit.events += self._placed(result.events)
        self.applied += len(run)

    def _give_up(self, courier: str, commit: _Commit) -> CourierSnapshot | None:
        if courier not in self.index:
            return None
        state = snapshot_of(self.index.get(courier))
        self.index.remove(courier)  # no exit events: it moved shards, not out of its fences
        commit.touched.pop(courier, None)
        commit.removed.add(courier)
        self.announced.discard(courier)
        return state

    def _take(self, entry: Takeover, commit: _Commit) -> None:
        courier = entry.then.courier
        self.handed_in[courier] = entry.origin
        if entry.state is None:
            return
        if courier in self.index:
            # pings applied without the handover (it came late): the older state loses
            if self.index.get(courier).ts >= entry.state.ts:
                return
            self.index.remove(courier)
        # at its last position in the old shard: inside the same fences, no enter events
        restore(self.index, [courier], [entry.state])
        commit.touched[courier] = None
        commit.removed.discard(courier)

    async def _commit(self, commit: _Commit) -> None:
        outbox, self.hub.outbox = self.hub.outbox, []
        for courier in self._changed:
            if courier in self.index:
                commit.touched[courier] = None
        self._changed.clear()
        if not (
            commit.touched
            or commit.acks
            or commit.sends
            or commit.events
            or outbox
            or commit.pending_status
        ):
            return
        new: list[str] = []
        pipe = self.redis.pipeline(transaction=True)
        if commit.touched:
            states = [self.index.get(c) for c in commit.touched]
            pipe.hset(
                keys.last_positions(self.id),
                mapping={str(s.courier_id): codec.encode(snapshot_of(s)) for s in states},
            )
            new = [c for c in commit.touched if c not in self.announced]
            if new:
                pipe.hset(keys.OWNER, mapping=dict.fromkeys(new, self.id))
                self.announced.update(new)
        else:
            states = []
        for channel, update in self._updates(states, commit.events):
            pipe.publish(channel, codec.encode(update))
        for channel, update in _relayed(outbox):
            pipe.publish(channel, codec.encode(update))
        if commit.removed:
            pipe.hdel(keys.last_positions(self.id), *commit.removed)
        for shard, data in commit.sends:
            pipe.xadd(keys.stream(shard), {codec.ENTRY_FIELD: data})
        if commit.pending_status:
            pipe.hset(keys.PENDING_STATUS, mapping=commit.pending_status)
        if commit.acks:
            pipe.xack(self.stream, keys.GROUP, *commit.acks)
        await pipe.execute()
        if new:
            await self._take_pending_status(new)

    async def _take_pending_status(self, couriers: list[str]) -> None:
        """Statuses set over REST before any shard held these couriers, now that this shard
        has announced it holds them (a status set after this read finds the owner and comes
        through the stream)."""
        found = await self.redis.hmget(keys.PENDING_STATUS, couriers)
        got = {c: s.decode() for c, s in zip(couriers, found, strict=True) if s is not None}
        if not got:
            return
        for courier, status in got.items():
            if courier in self.index:
                self.index.set_attrs(courier, status=status)
                self._changed[courier] = None
        await self.redis.hdel(keys.PENDING_STATUS, *got)
        await self._commit(_Commit())  # publishes and saves the changed statuses

    def _placed(self, events: list[FenceEvent]) -> list[tuple[str, FenceEventMessage]]:
        """Fence events as messages, at the courier's position now."""
        out = []
        for event in events:
            where = self.index.get(event.courier_id)
            msg = FenceEventMessage(
                event=str(event.kind),
                fence_id=str(event.fence_id),
                courier_id=str(event.courier_id),
                ts=event.ts,
                lat=where.lat,
                lng=where.lng,
            )
            out.append((where.tenant or "", msg))
        return out

    def _updates(
        self, states: list[CourierState], events: list[tuple[str, FenceEventMessage]]
    ) -> list[tuple[str, CellUpdate]]:
        """One publication per console cell and tenant: every courier that moved in it, and
        the fence events of couriers now in it."""
        grouped: dict[tuple[int, str], CellUpdate] = {}

        def update(cell: int, tenant: str) -> CellUpdate:
            key = (cell, tenant)
            if key not in grouped:
                grouped[key] = CellUpdate(tenant=tenant, couriers=[])
            return grouped[key]

        lats = np.fromiter((s.lat for s in states), float, len(states))
        lngs = np.fromiter((s.lng for s in states), float, len(states))
        cells = cells_of(lats, lngs, self.console_resolution).tolist()
        for cell, state in zip(cells, states, strict=True):
            update(cell, state.tenant or "").couriers.append(courier_message_of(state))
        for tenant, msg in events:
            assert msg.lat is not None and msg.lng is not None
            update(cell_of(msg.lat, msg.lng, self.console_resolution), tenant).events.append(msg)
        return [(keys.cell_channel(cell), u) for (cell, _), u in grouped.items()]

    # ---------------------------------------------------------------- requests

    async def serve_requests(self, stop: asyncio.Event) -> None:
        """Answer `Request` calls pushed on this shard's request list until ``stop``."""
        conn = self.redis.client()
        try:
            while not stop.is_set():
                try:
                    got = await conn.blpop([keys.requests(self.id)], timeout=0.2)
                except RedisTimeout:  # the loop was held (a long batch): the caller timed out
                    log.warning("shard %s: request read timed out", self.id)
                    continue
                if got is None:
                    continue
                req = codec.request_decoder.decode(got[1])
                if req.op == "run":
                    # on a task of its own: this list keeps answering loans meanwhile (a
                    # neighbour's batch may be waiting for one)
                    self._spawn(self._run_for(req))
                elif req.op in DISPATCH_OPS:
                    self._spawn(self._dispatch_op(req))  # after a running batch, in order
                else:
                    answer = self.answer(req)
                    await self._commit(_Commit())  # what answering published
                    await self._reply(req, answer)
        finally:
            await conn.aclose()

    async def _dispatch_op(self, req: Request) -> None:
        """A request that changes dispatch state, once no batch is running (the batch's thread
        holds the dispatcher; waiting here keeps the loop free)."""
        async with self._batch:
            answer = self.answer(req)
            if req.op in ("answer", "assign"):
                await self._settle()  # a borrowed courier took an order or declined
            await self._commit(_Commit())  # what answering published
        await self._reply(req, answer)

    async def _reply(self, req: Request, answer: Any) -> None:
        if not req.reply:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(req.reply, codec.encode(answer))
        pipe.expire(req.reply, REPLY_TTL_S)
        await pipe.execute()

    def answer(
        self, req: Request
    ) -> codec.NearestReply | codec.CellsReply | AnswerReply | LendReply | None:
        """The reply to one request (queries of this shard's index, offer answers, loans)."""
        if req.op == "answer":
            return self._answer_offer(req)
        if req.op == "release":
            return self._release(req)
        if req.op == "lend":
            return self._lend(req)
        if req.op == "settle":
            self._settled(req)
            return None
        if req.op == "assign":
            return self._assign(req)
        if req.op == "nearest":
            found = self.index.nearest(req.lat, req.lng, req.k, tenant=req.tenant)
            return codec.NearestReply(found=[(str(c), m) for c, m in found])
        return codec.CellsReply(couriers=self.couriers_in_cells(req.tenant, req.cells))

    def _answer_offer(self, req: Request) -> AnswerReply:
        if self.dispatch is None or req.tenant is None:
            return AnswerReply(error="NotFound", detail="no dispatch in this shard")
        try:
            order = self.dispatch.answer(req.tenant, req.courier, req.offer_id, accept=req.accept)
        except Exception as exc:  # the worker re-raises it by class name
            return AnswerReply(error=type(exc).__name__, detail=str(exc))
        if req.accept and order.courier_id in self.borrowed:
            took = self._accepted.setdefault(order.courier_id, [])
            took.append((order.tenant, order.id, order.size))
        return AnswerReply(order_id=order.id)

    async def _run_for(self, req: Request) -> None:
        """`POST /v1/dispatch/run` on a worker: a batch now, reported for its tenant."""
        reply = RunReply(mode="", offers=[], unassigned={})
        if self.dispatch is not None and req.tenant is not None:
            share = self.dispatch.share_of(await self.run_batch(), req.tenant)
            reply = RunReply(mode=share.mode, offers=share.offers, unassigned=share.unassigned)
        await self._reply(req, reply)

    def _assign(self, req: Request) -> AnswerReply:
        """A dispatcher gives an order whose pickup this shard owns to a courier by hand; a
        courier of another shard gets the load there (a settle without a loan)."""
        if self.dispatch is None or req.tenant is None or req.courier is None or not req.orders:
            return AnswerReply(error="NotFound", detail="no dispatch in this shard")
        _, order_id = req.orders[0]
        actor = Actor(ActorKind.DISPATCHER, req.tenant)
        try:
            order = self.dispatch.assign_by_hand(req.tenant, order_id, req.courier, actor)
        except Exception as exc:  # the worker re-raises it by class name
            return AnswerReply(error=type(exc).__name__, detail=str(exc))
        if req.courier not in self.index and req.k >= 0:  # k: the courier's shard
            self._accepted.setdefault(req.courier, []).append((req.tenant, order.id, order.size))
            self.borrowed.setdefault(req.courier, req.k)
        return AnswerReply(order_id=order.id)

    def _lend(self, req: Request) -> LendReply:
        """This shard's free couriers near another shard's pickups, lent to it (not offered
        here, nor lent to a third shard) until it settles or `LEND_S` passes."""
        if not req.points or not len(self.index):
            return LendReply(couriers=[])
        lats, lngs, radii = (np.array(col) for col in zip(*req.points, strict=True))
        _, rows, _ = self.index.radius_pairs(lats, lngs, radii, min_free_capacity=1)
        cols = self.index.columns(np.unique(rows))
        held = self.dispatch.offers.held_units() if self.dispatch is not None else {}
        now = time.monotonic()
        out = []
        for courier, status in zip(cols.ids.tolist(), cols.status.tolist(), strict=True):
            lender = self.lent.get(courier)
            # a courier the running batch may offer is not lent (it would be offered twice)
            if status == "offline" or held.get(courier) or courier in self.border.in_batch:
                continue
            if lender is not None and lender[0] != req.origin and lender[1] > now:
                continue
            self.lent[courier] = (req.origin, now + LEND_S)
            out.append((courier, snapshot_of(self.index.get(courier))))
        return LendReply(couriers=out)

    def _settled(self, req: Request) -> None:
        """A borrower gives couriers back (with the load of what they accepted there) and
        keeps the ones its offers hold."""
        for courier, units in zip(req.couriers, req.loads, strict=True):
            if self.lent.get(courier, (None, 0.0))[0] == req.origin:
                del self.lent[courier]
            if units and self.dispatch is not None:
                self.dispatch.add_load(courier, units)
                self._changed[courier] = None
        until = time.monotonic() + req.lease_s
        for courier in req.keep:
            self.lent[courier] = (req.origin, until)
        self._pool([OrderIn(tenant, order_id) for tenant, order_id in req.orders])

    def _release(self, req: Request) -> AnswerReply:
        """A courier this shard holds carries ``req.k`` units less."""
        if self.dispatch is None or req.courier is None or req.courier not in self.index:
            return AnswerReply(error="NotFound", detail="not in this shard")
        self.dispatch.release_load(req.courier, req.k)
        self._changed[req.courier] = None
        return AnswerReply()

    def couriers_in_cells(self, tenant: str | None, cells: list[int]) -> list[CourierMessage]:
        rows = self.index.snapshot(tenant=tenant) if tenant else self.index.snapshot()
        if not len(rows.courier_ids) or not cells:
            return []
        coarse = parent_cells(rows.cells, self.console_resolution)
        keep = np.flatnonzero(np.isin(coarse, np.asarray(cells, dtype=np.int64)))
        return [courier_message_of(self.index.get(rows.courier_ids[i])) for i in keep.tolist()]


def _relayed(
    outbox: list[tuple[str, list[tuple[str, Hashable]], Message]],
) -> list[tuple[str, CellUpdate]]:
    """Dispatch's publications on the channels of their courier and cell topics."""
    out: list[tuple[str, CellUpdate]] = []
    for tenant, topics, msg in outbox:
        event: Event = msg
        for kind, key in topics:
            if kind == "courier":
                channel = keys.courier_channel(str(key))
            elif kind == "cell" and isinstance(key, int):
                channel = keys.cell_channel(key)
            else:
                continue
            out.append((channel, CellUpdate(tenant=tenant, couriers=[], events=[event])))
    return out


async def run_shard(
    shard_id: int,
    redis_url: str,
    *,
    resolution: int = 9,
    console_resolution: int = 6,
    database_url: str | None = None,
) -> None:
    """`hexdispatch shard`: run one shard until SIGTERM or SIGINT; fences come from the
    PostGIS store at ``database_url`` when given."""
    import signal

    from store.factory import open_store

    redis = Redis.from_url(redis_url)
    store = open_store(database_url) if database_url else None
    try:
        shard = Shard(
            shard_id,
            redis,
            await load(redis),
            resolution=resolution,
            console_resolution=console_resolution,
            store=store,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await shard.run(stop, ready=lambda: print(f"shard {shard_id} ready", flush=True))
    finally:
        await redis.aclose()
        if store is not None:
            store.close()
