"""The engine of one process (`api.runtime.Runtime`: live index, dispatch, orders, payments),
driven by direct calls from a simulation instead of HTTP and websockets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from api import order_flow
from api.dispatch_flow import RunReport
from api.runtime import Runtime
from api.settings import Settings
from dispatch.engine import DispatchParams
from dispatch.errors import DispatchError
from dispatch.modes import Mode
from orders import lifecycle
from orders.errors import IllegalTransition
from orders.lifecycle import OrderDraft
from orders.model import Actor, ActorKind, Order, ProofKind, ProofOfDelivery
from payments.intents import PaymentMethod, create_intent
from payments.statements import Tariff
from sims.city import City
from sims.fleet import Fleet, Phase
from store.errors import NotFound, StaleVersion
from store.memory import MemoryStore
from tracking.results import BatchResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SIM_TENANT = "sim"
CURRENCY = "KES"
TARIFF = Tariff(
    CURRENCY, courier_base_minor=10_000, courier_per_km_minor=3_000, platform_fee_bps=1_000
)
"""What a delivered order bills: KES 100 a delivery plus KES 30 a km to the courier, 10 % fee."""

ANSWER_ERRORS = (NotFound, StaleVersion, DispatchError, IllegalTransition, PermissionError)
"""What answering an offer may run into when the world moved on (offer expired, order gone)."""


@dataclass(frozen=True)
class Delivered:
    order: Order
    settled: bool


class LocalEngine:
    """Direct calls on a `Runtime` for one tenant.

    Pings go to the live index in one `upsert_many` per tick (numpy columns, no per-ping
    objects); with ``publish`` each accepted courier is also published to the hub, so a
    console connected to the same runtime sees the fleet move (`sims.live_demo`).
    """

    def __init__(self, runtime: Runtime, tenant_id: str, *, publish: bool = False) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.index = runtime.index
        self.tenant_id = tenant_id
        self.publish = publish
        self.ids: npt.NDArray[np.object_] = np.empty(0, dtype=object)
        self._actor = Actor(ActorKind.TENANT, tenant_id)

    @classmethod
    def embedded(
        cls, *, clock: Callable[[], float], offer_timeout_s: float, window_s: float
    ) -> LocalEngine:
        """A fresh runtime on the in-memory store, with one tenant; no background threads
        (the simulation runs dispatch itself, on simulated time)."""
        settings = Settings(
            dispatch_auto=False,
            offer_timeout_s=offer_timeout_s,
            dispatch_window_s=window_s,
            courier_base_minor=TARIFF.courier_base_minor,
            courier_per_km_minor=TARIFF.courier_per_km_minor,
            platform_fee_bps=TARIFF.platform_fee_bps,
        )
        store = MemoryStore()
        store.create_tenant("simulation", tenant_id=SIM_TENANT)
        return cls(Runtime(settings, store, clock=clock), SIM_TENANT)

    def set_mode(self, mode: Mode) -> None:
        self.runtime.dispatch.dispatcher.params = DispatchParams(mode=mode)

    def add_zone(self, city: City) -> None:
        """The city's service zone, stored: orders must lie in it. It is not put in the live
        index: a fence enclosing the whole city would only add enter events."""
        self.store.create_geofence(
            self.tenant_id, "service_zone", city.zone_geojson(), name=city.name
        )

    def register(self, fleet: Fleet, at: float) -> None:
        """Create the couriers and put them in the index at their start positions."""
        for cid, vehicle in zip(fleet.ids, fleet.vehicle.tolist(), strict=True):
            courier = self.store.create_courier(
                self.tenant_id, courier_id=cid, vehicle=vehicle, capacity=1
            )
            self.runtime.register_courier(courier)
        self.ids = np.array(fleet.ids, dtype=object)
        status = np.where(fleet.phase == Phase.OFFLINE, "offline", "idle").tolist()
        self.index.upsert_many(
            self.ids,
            fleet.lat,
            fleet.lng,
            at,
            tenant=self.tenant_id,
            vehicle=fleet.vehicle.tolist(),
            capacity=1,
            load=0,
            status=status,
        )

    def ingest(
        self,
        rows: IntArray,
        lats: FloatArray,
        lngs: FloatArray,
        ts: float,
        speed: FloatArray,
        heading: FloatArray,
        accuracy: FloatArray,
    ) -> BatchResult:
        result = self.index.upsert_many(
            self.ids[rows], lats, lngs, ts, speed=speed, heading=heading, accuracy=accuracy
        )
        if self.publish:
            for cid in self.ids[rows[result.accepted]].tolist():
                self.runtime.publish_courier(self.tenant_id, cid)
            self.runtime.publish_fence_events(self.tenant_id, result.events)
        return result

    def set_status(self, courier_id: str, status: str) -> None:
        self.index.set_attrs(courier_id, status=status)
        if self.publish:
            self.runtime.publish_courier(self.tenant_id, courier_id)

    def create_order(
        self,
        order_id: str,
        at: float,
        pickup: tuple[float, float],
        dropoff: tuple[float, float],
        amount_minor: int,
        cash: bool,
    ) -> Order:
        """Create (and store) an order with its cash-on-delivery intent, into the pool."""
        draft = OrderDraft(pickup[0], pickup[1], dropoff[0], dropoff[1], amount_minor, CURRENCY)
        created = lifecycle.create_order(
            draft, order_id=order_id, tenant=self.tenant_id, at=at, actor=self._actor
        )
        order, _ = self.store.create_order(created)
        if cash:
            self.store.save_payment(
                create_intent(
                    order, PaymentMethod.CASH_ON_DELIVERY, "cash", intent_id=f"pi-{order_id}", at=at
                )
            )
        self.runtime.publish_order(self.tenant_id, order)
        self.runtime.dispatch.submit(order)
        return order

    def run_dispatch(self) -> RunReport:
        return self.runtime.dispatch.run()

    def answer(self, offer_id: str, courier_id: str, *, accept: bool) -> Order:
        """Raises one of `ANSWER_ERRORS` when the offer or its order moved on meanwhile."""
        return self.runtime.dispatch.answer(self.tenant_id, courier_id, offer_id, accept=accept)

    def cancel(self, order_id: str, at: float) -> Order:
        """The customer gave up waiting: cancelled, out of the pool, its payment closed.

        Raises `IllegalTransition` when the order got a courier meanwhile."""
        order = order_flow.apply(
            self.runtime,
            self.tenant_id,
            order_id,
            lambda o: lifecycle.cancel(
                o, at=at, actor=self._actor, reason="customer waited too long"
            ),
        )
        self.runtime.dispatch.withdraw(order_id)
        return order

    def pick_up(self, order_id: str, courier_id: str, at: float) -> Order:
        return order_flow.apply(
            self.runtime,
            self.tenant_id,
            order_id,
            lambda order: lifecycle.pick_up(order, courier_id, at=at),
        )

    def deliver(self, order_id: str, courier_id: str, at: float) -> Delivered:
        """Deliver with a photo proof; `api.order_flow` bills it, settles its cash and frees
        the courier's capacity in the same step."""
        proof = ProofOfDelivery(ProofKind.PHOTO, reference=f"photo-{order_id}")
        captured = {
            i.id for i in self.store.payments_of_order(self.tenant_id, order_id) if i.captured_minor
        }
        order = order_flow.apply(
            self.runtime,
            self.tenant_id,
            order_id,
            lambda o: lifecycle.deliver(o, courier_id, proof, at=at),
        )
        settled = any(
            i.captured_minor > 0 and i.id not in captured
            for i in self.store.payments_of_order(self.tenant_id, order_id)
        )
        if self.publish:
            self.runtime.publish_courier(self.tenant_id, courier_id)
        return Delivered(order, settled)
