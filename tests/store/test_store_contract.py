"""The store contract: every test runs against the in-memory store and the PostGIS store."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from geo.errors import InvalidCoordinate, InvalidGeometry
from orders.lifecycle import accept, offer, pick_up
from orders.model import Actor, ActorKind, OrderState, Position, TimeWindow
from orders.webhooks import new_endpoint, outbox_for_order_events
from payments.errors import AlreadyReversed, DuplicateEntry
from payments.intents import (
    IntentState,
    PaymentMethod,
    PaymentResult,
    ProviderUpdate,
    UpdateKind,
    apply_update,
    cancel_intent,
    collect_cash,
    create_intent,
)
from payments.ledger import (
    Account,
    AccountKind,
    JournalEntry,
    balances,
    journal_entry,
    reversal_of,
    totals_per_currency,
)
from store.errors import (
    AlreadyExists,
    IdempotencyConflict,
    InvalidRecord,
    NotFound,
    OutsideServiceZone,
    StaleVersion,
)
from store.interface import Store
from tests.store.conftest import new_order, square

ZONE = square(13.30, 52.45, 0.2)  # Berlin-ish: lng 13.30..13.50, lat 52.45..52.65
INSIDE = (52.50, 13.35)
OUTSIDE = (52.80, 13.35)


@pytest.fixture
def tenant(store: Store) -> str:
    t = store.create_tenant("Acme", tenant_id="acme")
    store.create_geofence(t.id, "service_zone", ZONE, name="city", fence_id="zone-1")
    return t.id


@pytest.fixture
def other(store: Store) -> str:
    return store.create_tenant("Other", tenant_id="other").id


def test_the_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


# -- tenants and API keys -------------------------------------------------------------------


def test_tenant_create_get_and_duplicate(store: Store) -> None:
    t = store.create_tenant("Acme", tenant_id="acme")
    assert store.get_tenant("acme") == t
    with pytest.raises(AlreadyExists):
        store.create_tenant("Again", tenant_id="acme")
    with pytest.raises(NotFound) as info:
        store.get_tenant("nope")
    assert (info.value.kind, info.value.id) == ("tenant", "nope")


def test_list_tenants(store: Store) -> None:
    assert store.list_tenants() == []
    b = store.create_tenant("B", tenant_id="b")
    a = store.create_tenant("A", tenant_id="a")
    assert store.list_tenants() == [a, b]


def test_generated_ids_are_unique(store: Store) -> None:
    a, b = store.create_tenant("A"), store.create_tenant("B")
    assert a.id != b.id and a.id.startswith("ten_")


def test_api_key_lookup_by_secret_and_revocation(store: Store, tenant: str, other: str) -> None:
    key, secret = store.create_api_key(tenant, "backoffice")
    assert secret not in repr(key)
    found = store.tenant_for_api_key(secret)
    assert found is not None and found.id == tenant
    assert store.tenant_for_api_key(secret + "x") is None
    with pytest.raises(NotFound):
        store.revoke_api_key(other, key.id)
    assert store.tenant_for_api_key(secret) is not None
    store.revoke_api_key(tenant, key.id)
    assert store.tenant_for_api_key(secret) is None


def test_api_key_for_unknown_tenant(store: Store) -> None:
    with pytest.raises(NotFound):
        store.create_api_key("ghost")


# -- couriers -------------------------------------------------------------------------------


def test_couriers_are_scoped_to_their_tenant(store: Store, tenant: str, other: str) -> None:
    c = store.create_courier(tenant, courier_id="c1", name="Ann", vehicle="car", capacity=3)
    store.create_courier(other, courier_id="c2")
    assert store.get_courier(tenant, "c1") == c
    assert [x.id for x in store.list_couriers(tenant)] == ["c1"]
    with pytest.raises(NotFound):
        store.get_courier(other, "c1")
    with pytest.raises(AlreadyExists):
        store.create_courier(other, courier_id="c1")


def test_courier_bad_fields_and_unknown_tenant(store: Store, tenant: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        store.create_courier(tenant, courier_id="bad id!", capacity=-1)
    assert info.value.field == "courier_id"
    with pytest.raises(InvalidRecord) as info:
        store.create_courier(tenant, capacity=-1)
    assert info.value.field == "capacity"
    with pytest.raises(NotFound) as nf:
        store.create_courier("ghost", courier_id="c9")
    assert nf.value.kind == "tenant"


# -- geofences ------------------------------------------------------------------------------


def test_geofence_geojson_round_trip_and_listing(store: Store, tenant: str, other: str) -> None:
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            square(0.0, 0.0, 1.0)["coordinates"],
            square(2.123456789012345, 0.0, 1.0)["coordinates"],
        ],
    }
    hub = store.create_geofence(tenant, "hub", multi, name="hubs", fence_id="hub-1")
    assert hub.geometry == multi
    assert store.get_geofence(tenant, "hub-1") == hub
    assert [f.id for f in store.list_geofences(tenant)] == ["hub-1", "zone-1"]
    assert [f.id for f in store.list_geofences(tenant, kind="hub")] == ["hub-1"]
    assert store.list_geofences(other) == []
    with pytest.raises(NotFound):
        store.get_geofence(other, "hub-1")


def test_geofence_update_and_delete(store: Store, tenant: str, other: str) -> None:
    moved = square(1.0, 1.0, 0.5)
    f = store.update_geofence(tenant, "zone-1", name="moved", geometry=moved, active=False)
    assert (f.name, f.geometry, f.active) == ("moved", moved, False)
    assert store.list_geofences(tenant, active=True) == []
    with pytest.raises(NotFound):
        store.update_geofence(other, "zone-1", active=True)
    with pytest.raises(NotFound):
        store.delete_geofence(other, "zone-1")
    store.delete_geofence(tenant, "zone-1")
    with pytest.raises(NotFound):
        store.get_geofence(tenant, "zone-1")


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
UNCLOSED = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}
# Berlin as [lat, lng]: lat 52 read as lng is fine, lng 13 as lat fine; Sydney swapped is out of range.
SWAPPED = {
    "type": "Polygon",
    "coordinates": [[[-33.9, 151.1], [-33.8, 151.1], [-33.8, 151.3], [-33.9, 151.1]]],
}


@pytest.mark.parametrize(
    ("geometry", "field", "words"),
    [
        (BOWTIE, "coordinates", "Self-intersection"),
        (UNCLOSED, "coordinates[0]", "not closed"),
        (SWAPPED, "coordinates[0][0]", "looks like [lat, lng]"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},
            "coordinates[0]",
            "at least 4",
        ),
        ({"type": "Point", "coordinates": [0, 0]}, "type", "Polygon or MultiPolygon"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [float("nan"), 0], [1, 1], [0, 0]]]},
            "coordinates[0][1]",
            "not a finite number",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]},
            "coordinates",
            "Self-intersection",
        ),
    ],
)
def test_invalid_polygons_are_refused_before_the_database(
    store: Store, tenant: str, geometry: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidGeometry) as info:
        store.create_geofence(tenant, "service_zone", geometry)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert words in str(info.value)
    with pytest.raises(InvalidGeometry):
        store.update_geofence(tenant, "zone-1", geometry=geometry)
    assert [f.id for f in store.list_geofences(tenant)] == ["zone-1"]
    assert store.get_geofence(tenant, "zone-1").geometry == ZONE


def test_geofence_kind_is_checked(store: Store, tenant: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        store.create_geofence(tenant, "parking", ZONE)  # type: ignore[arg-type]
    assert info.value.field == "kind"


def test_in_service_zone_counts_only_active_service_zones_of_the_tenant(
    store: Store, tenant: str, other: str
) -> None:
    store.create_geofence(tenant, "restricted", square(20.0, 20.0, 1.0))
    store.create_geofence(tenant, "service_zone", square(30.0, 30.0, 1.0), active=False)
    store.create_geofence(other, "service_zone", square(40.0, 40.0, 1.0))
    lats = [52.5, 20.5, 30.5, 40.5, 52.45, 52.65]
    lngs = [13.4, 20.5, 30.5, 40.5, 13.40, 13.50]  # the last two lie on the edge and a corner
    assert store.in_service_zone(tenant, lats, lngs).tolist() == [
        True,
        False,
        False,
        False,
        True,
        True,
    ]


# -- orders -------------------------------------------------------------------------------

DISPATCH = Actor(ActorKind.SYSTEM, "dispatch")


def test_order_create_get_list_and_events(store: Store, tenant: str, other: str) -> None:
    created = new_order(tenant, INSIDE, INSIDE, size=2, pickup_window=TimeWindow(10.0, 20.0))
    order, is_new = store.create_order(created)
    assert is_new and order == created.order
    assert store.get_order(tenant, order.id) == order
    assert store.list_orders(tenant) == [order]
    assert store.list_orders(tenant, state=OrderState.DELIVERED) == []
    assert store.list_order_events(tenant, order.id) == list(created.events)
    with pytest.raises(NotFound):
        store.get_order(other, order.id)
    with pytest.raises(NotFound):
        store.list_order_events(other, order.id)
    assert store.list_orders(other) == []


def test_orders_list_newest_first(store: Store, tenant: str) -> None:
    ids = [
        store.create_order(new_order(tenant, INSIDE, INSIDE, at=t))[0].id for t in (1.0, 3.0, 2.0)
    ]
    assert [o.id for o in store.list_orders(tenant)] == [ids[1], ids[2], ids[0]]
    assert [o.id for o in store.list_orders(tenant, limit=1)] == [ids[1]]


@pytest.mark.parametrize(
    ("pickup", "dropoff", "points"),
    [
        (OUTSIDE, INSIDE, ("pickup",)),
        (INSIDE, OUTSIDE, ("dropoff",)),
        (OUTSIDE, OUTSIDE, ("pickup", "dropoff")),
    ],
)
def test_order_outside_service_zone_is_refused_naming_the_point(
    store: Store,
    tenant: str,
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    points: tuple[str, ...],
) -> None:
    with pytest.raises(OutsideServiceZone) as info:
        store.create_order(
            new_order(tenant, pickup, dropoff), idempotency_key="k1", fingerprint="f"
        )
    assert info.value.points == points
    assert all(p in str(info.value) for p in points)
    assert store.list_orders(tenant) == []
    # The refused request kept nothing: its key is free for a corrected request.
    assert store.create_order(
        new_order(tenant, INSIDE, INSIDE), idempotency_key="k1", fingerprint="g"
    )[1]


def test_zone_check_ignores_other_tenants_inactive_and_non_service_fences(
    store: Store, tenant: str, other: str
) -> None:
    with pytest.raises(OutsideServiceZone):
        store.create_order(new_order(other, INSIDE, INSIDE))
    store.update_geofence(tenant, "zone-1", active=False)
    store.create_geofence(tenant, "hub", ZONE)
    with pytest.raises(OutsideServiceZone):
        store.create_order(new_order(tenant, INSIDE, INSIDE))
    store.update_geofence(tenant, "zone-1", active=True)
    assert store.create_order(new_order(tenant, INSIDE, INSIDE))[1]


def test_order_on_the_zone_boundary_is_accepted(store: Store, tenant: str) -> None:
    order, created = store.create_order(new_order(tenant, (52.45, 13.40), (52.65, 13.50)))
    assert created and order.dropoff_lng == 13.50


def test_idempotency_same_fingerprint_returns_first_other_conflicts(
    store: Store, tenant: str, other: str
) -> None:
    store.create_geofence(other, "service_zone", ZONE)
    first, created = store.create_order(
        new_order(tenant, INSIDE, INSIDE), idempotency_key="abc", fingerprint="f1"
    )
    again, created_again = store.create_order(
        new_order(tenant, INSIDE, INSIDE), idempotency_key="abc", fingerprint="f1"
    )
    assert created and not created_again and again == first
    with pytest.raises(IdempotencyConflict):
        store.create_order(
            new_order(tenant, INSIDE, INSIDE), idempotency_key="abc", fingerprint="f2"
        )
    theirs, created_theirs = store.create_order(
        new_order(other, INSIDE, INSIDE), idempotency_key="abc", fingerprint="f1"
    )
    assert created_theirs and theirs.id != first.id
    assert len(store.list_orders(tenant)) == 1
    with pytest.raises(InvalidRecord) as info:
        store.create_order(new_order(tenant, INSIDE, INSIDE), idempotency_key="no-body")
    assert info.value.field == "fingerprint"


def test_duplicate_order_id_is_refused(store: Store, tenant: str) -> None:
    store.create_order(new_order(tenant, INSIDE, INSIDE, order_id="o1"))
    with pytest.raises(AlreadyExists):
        store.create_order(new_order(tenant, INSIDE, INSIDE, order_id="o1"))


def test_pin_failures_count_per_order_within_the_tenant(
    store: Store, tenant: str, other: str
) -> None:
    first, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    second, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    assert store.pin_failures(tenant, first.id) == 0
    assert [store.count_pin_failure(tenant, first.id) for _ in range(3)] == [1, 2, 3]
    assert store.pin_failures(tenant, first.id) == 3
    assert store.pin_failures(tenant, second.id) == 0
    for call in (store.pin_failures, store.count_pin_failure):
        with pytest.raises(NotFound):
            call(other, first.id)
    assert store.pin_failures(tenant, first.id) == 3


def test_transitions_write_order_events_and_outbox_and_check_versions(
    store: Store, tenant: str, other: str
) -> None:
    store.create_courier(tenant, courier_id="c1")
    endpoint = new_endpoint(
        "ep1", tenant, "https://example.com/hook", "s" * 32, ["order.offered", "order.assigned"]
    )
    order, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    offered = offer(order, "c1", at=2000.0, actor=DISPATCH, position=Position(52.5, 13.4))
    outbox = outbox_for_order_events(offered.events, [endpoint])
    assert store.save_transition(offered, outbox=outbox) == offered.order
    assert store.get_order(tenant, order.id) == offered.order
    with pytest.raises(StaleVersion) as info:
        store.save_transition(offer(order, "c1", at=2001.0, actor=DISPATCH))
    assert (info.value.expected, info.value.actual) == (1, 2)
    accepted = accept(offered.order, "c1", at=2100.0)
    store.save_transition(accepted, outbox=outbox_for_order_events(accepted.events, [endpoint]))
    events = store.list_order_events(tenant, order.id)
    assert events == [
        *new_order(tenant, INSIDE, INSIDE, order_id=order.id).events,
        *offered.events,
        *accepted.events,
    ]
    assert events[1].courier_position == Position(52.5, 13.4)
    pending = store.pending_outbox(tenant)
    assert [m.event_type for m in pending] == ["order.offered", "order.assigned"]
    assert pending[0] == outbox[0]
    picked = pick_up(accepted.order, "c1", at=2200.0)
    store.save_transition(picked, outbox=outbox)  # already enqueued: deterministic ids, no-op
    assert len(store.pending_outbox(tenant)) == 2
    assert store.pending_outbox(other) == []


def test_transition_to_unknown_courier_or_other_tenant_changes_nothing(
    store: Store, tenant: str
) -> None:
    order, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    with pytest.raises(NotFound) as info:
        store.save_transition(offer(order, "ghost", at=2000.0, actor=DISPATCH))
    assert info.value.kind == "courier"
    assert store.get_order(tenant, order.id) == order
    assert len(store.list_order_events(tenant, order.id)) == 1


# -- tracks ---------------------------------------------------------------------------------


def test_track_is_a_time_ordered_linestring_within_the_window(
    store: Store, tenant: str, other: str
) -> None:
    store.create_courier(tenant, courier_id="c1")
    store.create_courier(tenant, courier_id="c2")
    t0 = 1_700_000_000.0
    store.append_positions(
        ["c1", "c1", "c2"], [t0 + 20, t0, t0 + 5], [52.52, 52.50, 1.0], [13.42, 13.40, 1.0]
    )
    store.append_positions(["c1"], [t0 + 10], [52.51], [13.41], speed=[4.5])
    store.flush_positions()
    line = store.courier_track(tenant, "c1", t0, t0 + 20)
    assert line == {
        "type": "LineString",
        "coordinates": [[13.40, 52.50], [13.41, 52.51], [13.42, 52.52]],
    }
    short = store.courier_track(tenant, "c1", t0 + 5, t0 + 20)
    assert short is not None and short["coordinates"] == [[13.41, 52.51], [13.42, 52.52]]
    assert store.courier_track(tenant, "c1", t0 + 15, t0 + 30) is None  # one point only
    assert store.courier_track(tenant, "c2", t0, t0 + 20) is None
    with pytest.raises(NotFound):
        store.courier_track(other, "c1", t0, t0 + 20)


def test_couriers_inside_a_fence_during_an_interval(store: Store, tenant: str, other: str) -> None:
    for cid in ("in-early", "in-late", "never", "edge"):
        store.create_courier(tenant, courier_id=cid)
    store.create_courier(other, courier_id="theirs")
    t0 = 1_700_000_000.0
    store.append_positions(
        ["in-early", "in-early", "in-late", "never", "edge", "theirs"],
        [t0, t0 + 100, t0 + 500, t0 + 50, t0 + 60, t0 + 60],
        [52.50, 52.90, 52.50, 52.90, 52.65, 52.50],
        [13.40, 13.40, 13.40, 13.40, 13.45, 13.40],
    )
    store.flush_positions()
    assert store.couriers_in_fence(tenant, "zone-1", t0, t0 + 200) == ["edge", "in-early"]
    assert store.couriers_in_fence(tenant, "zone-1", t0 + 1, t0 + 1000) == ["edge", "in-late"]
    with pytest.raises(NotFound):
        store.couriers_in_fence(other, "zone-1", t0, t0 + 1000)


def test_pings_of_unknown_couriers_are_dropped(store: Store, tenant: str) -> None:
    store.create_courier(tenant, courier_id="c1")
    store.append_positions(["ghost", "c1", "c1"], [1.0, 2.0, 3.0], [0.0, 0.5, 0.6], [0.0, 0.5, 0.6])
    store.flush_positions()
    assert store.courier_track(tenant, "c1", 0.0, 10.0) == {
        "type": "LineString",
        "coordinates": [[0.5, 0.5], [0.6, 0.6]],
    }
    assert store.dropped_unknown_couriers == 1  # type: ignore[attr-defined]


def test_invalid_positions_are_refused_whole(store: Store, tenant: str) -> None:
    store.create_courier(tenant, courier_id="c1")
    with pytest.raises(ValueError, match="lat"):
        store.append_positions(["c1", "c1"], [1.0, 2.0], [0.0, 91.0], [0.0, 0.0])
    with pytest.raises(InvalidRecord):
        store.append_positions(["c1"], [1.0, 2.0], [0.0], [0.0])
    store.flush_positions()
    assert store.courier_track(tenant, "c1", 0.0, 10.0) is None


# -- ledger ---------------------------------------------------------------------------------


def _entry(tenant: str, entry_id: str, amount: int, order_id: str | None = None) -> JournalEntry:
    return journal_entry(
        entry_id,
        tenant=tenant,
        kind="receipt",
        currency="EUR",
        lines=[
            (Account(tenant, AccountKind.CUSTOMER_RECEIVABLE), amount),
            (Account(tenant, AccountKind.COURIER_EARNINGS, "c1"), -amount),
        ],
        at=1_700_000_000.123456789,
        order_id=order_id,
        meta={"note": "x"},
    )


def test_journal_entries_post_once_and_read_back_in_order(
    store: Store, tenant: str, other: str
) -> None:
    a, b = _entry(tenant, "receipt:1", 500, "o1"), _entry(tenant, "receipt:2", 700, "o2")
    assert store.post_journal_entries([a, b]) == 2
    assert store.post_journal_entries([a]) == 0  # a callback arriving twice posts once
    assert store.journal_entries(tenant) == [a, b]
    assert store.journal_entries(tenant, order_id="o2") == [b]
    assert store.journal_entries(other) == []
    assert totals_per_currency(store.journal_entries(tenant)) == {"EUR": 0}


def test_journal_posting_is_all_or_nothing(store: Store, tenant: str) -> None:
    store.post_journal_entries([_entry(tenant, "receipt:1", 500)])
    with pytest.raises(DuplicateEntry):
        store.post_journal_entries(
            [_entry(tenant, "receipt:2", 100), _entry(tenant, "receipt:1", 999)]
        )
    assert [e.id for e in store.journal_entries(tenant)] == ["receipt:1"]
    with pytest.raises(NotFound):
        store.post_journal_entries([_entry("ghost", "receipt:9", 1)])


def test_reversals_happen_once_and_only_of_known_entries(store: Store, tenant: str) -> None:
    entry = _entry(tenant, "receipt:1", 500)
    store.post_journal_entries([entry])
    reversal = reversal_of(entry, entry_id="reversal:receipt:1", at=2.0, reason="refund")
    assert store.post_journal_entries([reversal]) == 1
    again = reversal_of(entry, entry_id="reversal2:receipt:1", at=3.0, reason="again")
    with pytest.raises(AlreadyReversed):
        store.post_journal_entries([again])
    unknown = reversal_of(
        _entry(tenant, "receipt:404", 5), entry_id="reversal:404", at=3.0, reason="x"
    )
    with pytest.raises(AlreadyReversed):
        store.post_journal_entries([unknown])
    assert [e.id for e in store.journal_entries(tenant)] == ["receipt:1", "reversal:receipt:1"]
    assert (
        balances(store.journal_entries(tenant))[
            (Account(tenant, AccountKind.CUSTOMER_RECEIVABLE), "EUR")
        ]
        == 0
    )


def test_in_service_zone_refuses_invalid_coordinates(store: Store, tenant: str) -> None:
    with pytest.raises(InvalidCoordinate) as info:
        store.in_service_zone(tenant, [52.5, float("nan")], [13.4, 200.0])
    assert {p[0] for p in info.value.problems} == {"lat[1]", "lng[1]"}


# -- payments -------------------------------------------------------------------------------


def test_mobile_money_payment_lifecycle_with_a_duplicate_callback(
    store: Store, tenant: str, other: str
) -> None:
    order, _ = store.create_order(
        new_order(tenant, INSIDE, INSIDE, amount_minor=900, currency="KES")
    )
    created = create_intent(order, PaymentMethod.MOBILE_MONEY, "mpesa", intent_id="pi_1", at=1000.5)
    assert store.save_payment(created) == created.intent
    update = ProviderUpdate(
        "cb-1", "ws_CO_1", UpdateKind.SUCCEEDED, at=1010.25, amount_minor=900, currency="KES"
    )
    paid = apply_update(store.get_payment(tenant, "pi_1"), update, billed=False)
    assert paid.entries and paid.intent.state is IntentState.SUCCEEDED
    store.save_payment(paid)
    stored = store.get_payment(tenant, "pi_1")
    assert stored == paid.intent
    assert store.payment_by_provider_ref("mpesa", "ws_CO_1") == stored
    assert store.payments_of_order(tenant, order.id) == [stored]
    # The callback arrives again: the domain says nothing changed, the store writes nothing.
    again = apply_update(stored, update, billed=False)
    assert not again.changed and store.save_payment(again) == stored
    assert [e.kind for e in store.list_payment_events(tenant, "pi_1")] == [
        "payment.requires_action",
        "payment.succeeded",
    ]
    assert [e.id for e in store.journal_entries(tenant)] == [e.id for e in paid.entries]
    assert totals_per_currency(store.journal_entries(tenant)) == {"KES": 0}
    with pytest.raises(NotFound):
        store.get_payment(other, "pi_1")
    assert store.payments_of_order(other, order.id) == []


def test_payment_writes_are_optimistic_and_all_or_nothing(store: Store, tenant: str) -> None:
    order, _ = store.create_order(new_order(tenant, INSIDE, INSIDE))
    created = create_intent(
        order, PaymentMethod.CASH_ON_DELIVERY, "cash", intent_id="pi_1", at=1000.0
    )
    store.save_payment(created)
    with pytest.raises(AlreadyExists):
        store.save_payment(created)
    cash = collect_cash(created.intent, "c1", at=2000.0)
    cancelled = cancel_intent(created.intent, at=2000.0, reason="changed mind")
    store.save_payment(cash)
    with pytest.raises(StaleVersion):
        store.save_payment(cancelled)
    assert store.get_payment(tenant, "pi_1").state is IntentState.SUCCEEDED
    # A step whose journal entry clashes with a posted one writes nothing at all.
    clash = PaymentResult(
        replace(cash.intent, version=cash.intent.version + 1, failure_reason="x"),
        entries=(replace(cash.entries[0], at=9.0),),
    )
    with pytest.raises(DuplicateEntry):
        store.save_payment(clash)
    assert store.get_payment(tenant, "pi_1") == cash.intent
    assert len(store.list_payment_events(tenant, "pi_1")) == 2
    with pytest.raises(NotFound):
        store.save_payment(
            create_intent(
                replace(order, id="ghost"), PaymentMethod.CARD, "card", intent_id="pi_2", at=1.0
            )
        )
