"""The server's live state: store, live index, fan-out hub; shared by REST and websockets."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from shapely.geometry import box

from api.dispatch_flow import DispatchService
from api.eta_flow import EtaRefresher
from api.frame_encoder import FrameEncoder
from api.messages import WirePing, epoch_seconds
from api.outbound import (
    ACCEPTED,
    AnsweredMessage,
    CourierMessage,
    FenceEventMessage,
    FenceView,
    MessageId,
    OrderMessage,
    PingResult,
    SnapshotMessage,
)
from api.ping_batcher import PingBatcher, PingSink
from api.settings import Settings
from geo.cells import cell_of, cells_of_valid, check_resolution, parent_cells, polygon_cover
from geo.errors import InvalidParameter
from orders.model import Order
from payments.providers import bundled
from store.errors import NotFound
from store.interface import Store
from store.records import Courier, GeofenceRecord
from tracking import CourierState, LiveIndex
from tracking.fences import FenceEvent
from tracking.hub import Hub

OPEN_STATES = ("created", "offered", "assigned", "picked_up")
SNAPSHOT_ORDERS = 1000
"""Per state, the newest orders a console snapshot considers."""

PING_BATCH_DELAY_S = 0.005
"""How long a websocket ping message waits for others to share its index update."""
"""The result of every accepted ping, shared (never mutated): acks list thousands of them."""

Bbox = tuple[float, float, float, float]
"""``(min_lng, min_lat, max_lng, max_lat)``, GeoJSON order."""


def parse_bbox(values: Sequence[float], field: str = "bbox") -> Bbox:
    """Check a GeoJSON-order bbox; it must not cross the antimeridian (split it instead)."""
    if len(values) != 4:
        raise InvalidParameter(field, list(values), "need [min_lng, min_lat, max_lng, max_lat]")
    w, s, e, n = (float(v) for v in values)
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise InvalidParameter(field, list(values), "not finite")
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise InvalidParameter(
            field,
            list(values),
            "need -180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90",
        )
    return (w, s, e, n)


def parse_bbox_query(text: str, field: str = "bbox") -> Bbox:
    """A ``min_lng,min_lat,max_lng,max_lat`` query parameter as a checked bbox."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidParameter(field, text, "need four comma-separated numbers") from None
    return parse_bbox(values, field)


def in_bbox(lat: float, lng: float, bbox: Bbox) -> bool:
    return bbox[0] <= lng <= bbox[2] and bbox[1] <= lat <= bbox[3]


def order_message(order: Order) -> OrderMessage:
    return OrderMessage(
        id=order.id,
        state=order.state,
        courier_id=order.courier_id,
        pickup=(order.pickup_lng, order.pickup_lat),
        dropoff=(order.dropoff_lng, order.dropoff_lat),
        version=order.version,
    )


def courier_message_of(state: CourierState) -> CourierMessage:
    """What consoles get for a courier's latest state."""
    return CourierMessage(
        id=str(state.courier_id),
        lat=state.lat,
        lng=state.lng,
        ts=state.ts,
        status=state.status,
        heading=state.heading,
        speed=state.speed,
        vehicle=state.vehicle,
        load=state.load,
        capacity=state.capacity,
    )


@dataclass
class Metrics:
    """Counters exposed at /metrics (Prometheus text format)."""

    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self.lock:
            self.counters[key] = self.counters.get(key, 0.0) + value

    def render(self, gauges: dict[str, float]) -> str:
        lines: list[str] = []
        with self.lock:
            items = sorted(self.counters.items())
        seen: set[str] = set()
        for (name, labels), value in items:
            if name not in seen:
                lines.append(f"# TYPE {name} counter")
                seen.add(name)
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value:g}" if labels else f"{name} {value:g}")
        for name, value in sorted(gauges.items()):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {value:g}")
        return "\n".join(lines) + "\n"


class RemoteCouriers(Protocol):
    """Couriers held by shards (`scaling.remote_dispatch.RemoteDispatch`)."""

    def courier_message(self, courier_id: str) -> CourierMessage | None: ...

    def set_status(self, tenant_id: str, courier_id: str, status: str) -> None: ...


class Runtime:
    """Everything a request handler needs besides its own input.

    Pings never touch the database on their way in: the courier → tenant map is cached, the
    index update is in memory, and accepted positions go to the store's batched track buffer.
    """

    def __init__(
        self, settings: Settings, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.index = LiveIndex(resolution=settings.h3_resolution, clock=clock)
        self.hub = Hub(max_queue=settings.ws_send_queue)
        self.metrics = Metrics()
        self.console_resolution = check_resolution(settings.console_resolution)
        # The live index is not thread-safe: the event loop (pings, REST) and the dispatch
        # scheduler thread both use it, always under this lock.
        self._lock = threading.RLock()
        self.dispatch = DispatchService(
            store,
            self.index,
            self.hub,
            self.publish_order,
            offer_timeout_s=settings.offer_timeout_s,
            clock=clock,
            index_lock=self._lock,
        )
        self._couriers: dict[str, Courier] = {}
        self._pending_status: dict[str, str] = {}
        self.pings: PingSink = PingBatcher(self.ingest_many, PING_BATCH_DELAY_S)
        """Websocket pings go through here: one index update per batch of messages."""
        self.frames = FrameEncoder()
        """Console delta frames: each published message encoded once for every console."""
        self.providers = bundled(settings.payment_callback_secret.get_secret_value(), clock)
        """Payment providers by name: the bundled sandboxes (`api.payment_flow`)."""
        self.etas = EtaRefresher(
            store,
            self.index,
            self._lock,
            self.hub,
            clock=clock,
            console_resolution=self.console_resolution,
            interval_s=settings.eta_refresh_s,
            threshold_s=settings.eta_threshold_s,
        )
        """Order ETAs refreshed as couriers move (`couriers_moved` after each ingest)."""
        self.remote_couriers: RemoteCouriers | None = None
        """Where couriers live when shards hold them (`scaling.remote_dispatch`); None when
        this process's index does."""

    # ------------------------------------------------------------------ couriers

    def courier_of_tenant(self, tenant_id: str, courier_id: str) -> Courier:
        """The courier when it belongs to the tenant; another tenant's courier is NotFound."""
        return self.store.get_courier(tenant_id, courier_id)

    def cached_courier(self, tenant_id: str, courier_id: str) -> Courier:
        """The courier from a cache filled on first use (no store round trip per ping);
        another tenant's courier is NotFound."""
        courier = self._couriers.get(courier_id)
        if courier is None:
            courier = self.store.get_courier(tenant_id, courier_id)
            self.register_courier(courier)
        if courier.tenant_id != tenant_id:
            raise NotFound("courier", courier_id)
        return courier

    def register_courier(self, courier: Courier) -> None:
        self._couriers[courier.id] = courier

    def set_courier_status(self, tenant_id: str, courier: Courier, status: str) -> None:
        """Set idle / busy / offline; kept until the first ping when the courier has none."""
        if self.remote_couriers is not None:
            self.remote_couriers.set_status(tenant_id, courier.id, status)
            return
        with self._lock:
            if courier.id in self.index:
                self.index.set_attrs(courier.id, status=status)
            else:
                self._pending_status[courier.id] = status
        self.publish_courier(tenant_id, courier.id)

    # ------------------------------------------------------------------ geofences

    def load_fences(self) -> None:
        """Put every active fence of every tenant into the live index (at start-up)."""
        for tenant_id in self.store_tenants():
            for record in self.store.list_geofences(tenant_id, active=True):
                self.sync_fence(record)

    def store_tenants(self) -> list[str]:
        return [t.id for t in self.store.list_tenants()]

    def sync_fence(self, record: GeofenceRecord) -> None:
        """Mirror a stored fence into the live index (replacing any earlier version)."""
        with self._lock:
            events: list[FenceEvent] = []
            if self.index.has_fence(record.id):
                events += self.index.remove_fence(record.id)
            if record.active:
                events += self.index.add_fence(
                    record.id, record.geometry, kind=record.kind, tenant=record.tenant_id
                )
        self.publish_fence_events(record.tenant_id, events)

    def drop_fence(self, tenant_id: str, fence_id: str) -> None:
        with self._lock:
            events = self.index.remove_fence(fence_id) if self.index.has_fence(fence_id) else []
        self.publish_fence_events(tenant_id, events)

    def answer_offer(
        self, tenant_id: str, courier_id: str, offer_id: str, *, accept: bool, id: MessageId = None
    ) -> AnsweredMessage:
        """A driver accepts or rejects an offer made to its courier."""
        order = self.dispatch.answer(tenant_id, courier_id, offer_id, accept=accept)
        return AnsweredMessage(offer_id=offer_id, order=order_message(order), id=id)

    # ------------------------------------------------------------------ pings

    def ingest(
        self, tenant_id: str, courier_id: str, pings: Sequence[WirePing]
    ) -> list[PingResult]:
        """Apply a courier's pings in order; one result per ping."""
        (outcome,) = self.ingest_many([(tenant_id, courier_id, pings)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def ingest_many(
        self, items: Sequence[tuple[str, str, Sequence[WirePing]]]
    ) -> list[list[PingResult] | Exception]:
        """Apply several messages' pings ``(tenant, courier, pings)`` in one index update.

        Each courier's pings keep their order across items. Per item, its per-ping results,
        or the error that refused the whole item (an unknown courier is `NotFound`).
        One batched update instead of one per message: the index's fixed per-call cost
        (numpy set-up, validation) is paid once per flush, not once per websocket message.
        """
        outcomes: list[list[PingResult] | Exception] = [[] for _ in items]
        known: list[int] = []
        for k, (tenant_id, courier_id, _) in enumerate(items):
            try:
                self.cached_courier(tenant_id, courier_id)
            except NotFound as exc:
                outcomes[k] = exc
                continue
            known.append(k)
        if known:
            results = self._apply(known, items)
            for k, chunk in zip(known, self._split(results, known, items), strict=True):
                outcomes[k] = chunk
        return outcomes

    def _first_attributes(self, ids: Sequence[str], tenants: dict[str, str]) -> dict[str, Any]:
        """Per ping, the attributes of couriers not yet in the index (None: unchanged), so a
        reconnect storm of new couriers costs one index update, not one each."""
        fresh = {cid for cid in tenants if cid not in self.index}
        if not fresh or not ids:
            return {}
        first = {
            cid: (
                tenants[cid],
                self._couriers[cid].vehicle,
                self._couriers[cid].capacity,
                self._pending_status.pop(cid, "idle"),
            )
            for cid in fresh
        }
        none = (None, None, None, None)
        columns = list(zip(*(first.get(cid, none) for cid in ids), strict=True))
        return dict(zip(("tenant", "vehicle", "capacity", "status"), columns, strict=True))

    @staticmethod
    def _split(
        results: list[PingResult],
        ks: Sequence[int],
        items: Sequence[tuple[str, str, Sequence[WirePing]]],
    ) -> list[list[PingResult]]:
        out, at = [], 0
        for k in ks:
            n = len(items[k][2])
            out.append(results[at : at + n])
            at += n
        return out

    def _apply(
        self, ks: Sequence[int], items: Sequence[tuple[str, str, Sequence[WirePing]]]
    ) -> list[PingResult]:
        """One `upsert_many` over the pings of items ``ks``, in order; a courier not yet in
        the index gets its attributes with its pings."""
        ids: list[str] = []
        pings: list[WirePing] = []
        tenants: dict[str, str] = {}
        for k in ks:
            tenant_id, courier_id, its = items[k]
            ids += [courier_id] * len(its)
            pings += its
            tenants[courier_id] = tenant_id
        n = len(pings)
        ts = np.empty(n)
        for i, p in enumerate(pings):
            try:
                ts[i] = epoch_seconds(p.ts)
            except ValueError:
                ts[i] = math.nan
        lats = [p.lat for p in pings]
        lngs = [p.lng for p in pings]
        speed = [p.speed for p in pings]
        heading = [p.heading for p in pings]
        accuracy = [p.accuracy for p in pings]
        with self._lock:
            attrs = self._first_attributes(ids, tenants)
            result = self.index.upsert_many(
                ids, lats, lngs, ts, speed=speed, heading=heading, accuracy=accuracy, **attrs
            )
        ok = np.flatnonzero(result.accepted)
        out: list[PingResult] = [ACCEPTED] * n
        if ok.size < n:
            for i, reason in enumerate(result.reasons):
                if reason is not None:
                    out[i] = PingResult(accepted=False, reason=str(reason))
                    self.metrics.inc("hexdispatch_pings_rejected_total", reason=str(reason))
        self.metrics.inc("hexdispatch_pings_accepted_total", int(ok.size))
        if ok.size:
            okl = ok.tolist()
            self.store.append_positions(
                [ids[i] for i in okl],
                ts[ok],
                np.asarray(lats)[ok],
                np.asarray(lngs)[ok],
                np.array(speed, dtype=float)[ok],  # None becomes NaN
                np.array(heading, dtype=float)[ok],
                np.array(accuracy, dtype=float)[ok],
            )
            moved = list(dict.fromkeys(ids[i] for i in okl))
            self.publish_couriers(tenants, moved)
            self.etas.couriers_moved(moved)
        by_tenant: dict[str, list[FenceEvent]] = {}
        for event in result.events:
            by_tenant.setdefault(tenants[str(event.courier_id)], []).append(event)
        for tenant_id, events in by_tenant.items():
            self.publish_fence_events(tenant_id, events)
        return out

    # ------------------------------------------------------------------ fan-out

    def live_courier(self, courier_id: str) -> CourierMessage | None:
        """A courier's latest state wherever it is held (here, or in its shard)."""
        if self.remote_couriers is not None:
            return self.remote_couriers.courier_message(courier_id)
        return self.courier_message(courier_id)

    def courier_message(self, courier_id: Hashable) -> CourierMessage | None:
        try:
            state = self.index.get(courier_id)
        except LookupError:
            return None
        return courier_message_of(state)

    def publish_courier(self, tenant_id: str, courier_id: str) -> None:
        msg = self.courier_message(courier_id)
        if msg is None:
            return
        coarse = cell_of(msg.lat, msg.lng, self.console_resolution)
        self.hub.publish_position(
            tenant_id, courier_id, [("cell", coarse), ("courier", courier_id)], msg
        )

    def publish_couriers(self, tenants: dict[str, str], courier_ids: list[str]) -> None:
        """`publish_courier` for many couriers at once (columns read in one pass, not one
        `LiveIndex.get` each); ``tenants`` maps each courier to its tenant."""
        if not courier_ids:
            return
        cols = self.index.columns(self.index.rows_of(courier_ids))
        coarse = cells_of_valid(cols.lat, cols.lng, self.console_resolution).tolist()
        assert cols.speed is not None and cols.heading is not None
        speed = [None if math.isnan(v) else v for v in cols.speed.tolist()]
        heading = [None if math.isnan(v) else v for v in cols.heading.tolist()]
        rows = zip(
            courier_ids, cols.lat.tolist(), cols.lng.tolist(), cols.ts.tolist(),
            cols.status.tolist(), heading, speed, cols.vehicle.tolist(), cols.load.tolist(),
            cols.capacity.tolist(), coarse, strict=True,
        )  # fmt: skip
        for cid, lat, lng, ts, status, head, sp, vehicle, load, capacity, cell in rows:
            msg = CourierMessage(
                id=cid, lat=lat, lng=lng, ts=ts, status=status, heading=head, speed=sp,
                vehicle=vehicle, load=load, capacity=capacity,
            )  # fmt: skip
            self.hub.publish_position(tenants[cid], cid, [("cell", cell), ("courier", cid)], msg)

    def publish_fence_events(self, tenant_id: str, events: Sequence[FenceEvent]) -> None:
        for event in events:
            where = self.courier_message(event.courier_id)
            payload = FenceEventMessage(
                event=str(event.kind),
                fence_id=str(event.fence_id),
                courier_id=str(event.courier_id),
                ts=event.ts,
                lat=where.lat if where else None,
                lng=where.lng if where else None,
            )
            topics: list[tuple[str, Hashable]] = [("courier", event.courier_id), ("fences", "*")]
            if where:
                topics.append(("cell", cell_of(where.lat, where.lng, self.console_resolution)))
            self.hub.publish_event(tenant_id, topics, payload)
            self.metrics.inc("hexdispatch_fence_events_total", event=str(event.kind))

    def publish_order(self, tenant_id: str, order: Order) -> None:
        self.etas.track(order)
        msg = order_message(order)
        cells = {
            cell_of(order.pickup_lat, order.pickup_lng, self.console_resolution),
            cell_of(order.dropoff_lat, order.dropoff_lng, self.console_resolution),
        }
        topics: list[tuple[str, Hashable]] = [("order", order.id), *(("cell", c) for c in cells)]
        if order.courier_id:
            topics.append(("courier", order.courier_id))
        self.hub.publish_event(tenant_id, topics, msg)

    # ------------------------------------------------------------------ console views

    def cells_for_bbox(self, bbox: Bbox) -> list[int]:
        interior, boundary = polygon_cover(box(*bbox), self.console_resolution)
        cells = set(interior.tolist()) | set(boundary.tolist())
        if not cells:
            w, s, e, n = bbox
            cells.add(cell_of((s + n) / 2, (w + e) / 2, self.console_resolution))
        return sorted(cells)

    def couriers_in_cells(self, tenant_id: str, cells: Sequence[int]) -> list[CourierMessage]:
        """Latest state of the tenant's couriers inside the given coarse cells."""
        wanted = np.asarray(sorted(set(cells)), dtype=np.int64)
        rows = self.index.snapshot(tenant=tenant_id)
        if not len(rows.courier_ids):
            return []
        coarse = parent_cells(rows.cells, self.console_resolution)
        keep = np.flatnonzero(np.isin(coarse, wanted))
        out = []
        for i in keep.tolist():
            msg = self.courier_message(rows.courier_ids[i])
            if msg is not None:
                out.append(msg)
        return out

    def console_snapshot(
        self, tenant_id: str, cells: Sequence[int], id: MessageId = None
    ) -> SnapshotMessage:
        """What a console needs to draw its viewport before deltas: couriers, open orders
        touching the cells, and the tenant's active fences."""
        wanted = set(cells)
        orders = []
        for state in OPEN_STATES:
            for order in self.store.list_orders(tenant_id, state=state, limit=SNAPSHOT_ORDERS):
                ends = {
                    cell_of(order.pickup_lat, order.pickup_lng, self.console_resolution),
                    cell_of(order.dropoff_lat, order.dropoff_lng, self.console_resolution),
                }
                if ends & wanted:
                    orders.append(order_message(order))
        fences = [
            FenceView(id=f.id, kind=f.kind, name=f.name, geometry=f.geometry)
            for f in self.store.list_geofences(tenant_id, active=True)
        ]
        return SnapshotMessage(
            id=id,
            couriers=self.couriers_in_cells(tenant_id, cells),
            orders=orders,
            fences=fences,
        )
