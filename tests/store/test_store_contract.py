"""The store contract: every test runs against the in-memory store and the PostGIS store."""

from __future__ import annotations

from typing import Any

import pytest

from geo.errors import InvalidGeometry
from store.errors import (
    AlreadyExists,
    IdempotencyConflict,
    InvalidRecord,
    NotFound,
    OutsideServiceZone,
    StaleVersion,
)
from store.interface import Store
from store.records import NewOrder, OutboxMessage, Transition
from tests.store.conftest import square

ZONE = square(13.30, 52.45, 0.2)  # Berlin-ish: lng 13.30..13.50, lat 52.45..52.65
INSIDE = (52.50, 13.35)
OUTSIDE = (52.80, 13.35)


def _order(
    pickup: tuple[float, float] = INSIDE, dropoff: tuple[float, float] = INSIDE, **kw: Any
) -> NewOrder:
    return NewOrder(pickup[0], pickup[1], dropoff[0], dropoff[1], **kw)


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


# -- orders ---------------------------------------------------------------------------------


def test_order_create_get_list_and_created_event(store: Store, tenant: str, other: str) -> None:
    order, created = store.create_order(
        tenant,
        _order(size=2, amount_minor=1250, currency="EUR", pickup_window=(10.0, 20.0)),
        at=1000.0,
    )
    assert created and order.state == "created" and order.version == 1
    assert (order.pickup_lat, order.pickup_lng) == INSIDE
    assert order.pickup_window == (10.0, 20.0) and order.amount_minor == 1250
    assert order.created_at == pytest.approx(1000.0)
    assert store.get_order(tenant, order.id) == order
    assert store.list_orders(tenant) == [order]
    assert store.list_orders(tenant, state="delivered") == []
    events = store.list_order_events(tenant, order.id)
    assert [(e.seq, e.kind, e.from_state, e.to_state, e.actor_id) for e in events] == [
        (1, "order.created", None, "created", tenant)
    ]
    with pytest.raises(NotFound):
        store.get_order(other, order.id)
    assert store.list_orders(other) == []


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
        store.create_order(tenant, _order(pickup, dropoff), idempotency_key="k1")
    assert info.value.points == points
    assert all(p in str(info.value) for p in points)
    assert store.list_orders(tenant) == []


def test_zone_check_ignores_other_tenants_inactive_and_non_service_fences(
    store: Store, tenant: str, other: str
) -> None:
    with pytest.raises(OutsideServiceZone):
        store.create_order(other, _order())
    store.update_geofence(tenant, "zone-1", active=False)
    store.create_geofence(tenant, "hub", ZONE)
    with pytest.raises(OutsideServiceZone):
        store.create_order(tenant, _order())
    store.update_geofence(tenant, "zone-1", active=True)
    assert store.create_order(tenant, _order())[1]


def test_order_on_the_zone_boundary_is_accepted(store: Store, tenant: str) -> None:
    order, created = store.create_order(tenant, _order((52.45, 13.40), (52.65, 13.50)))
    assert created and order.dropoff_lng == 13.50


def test_idempotency_same_body_returns_first_other_body_conflicts(
    store: Store, tenant: str, other: str
) -> None:
    store.create_geofence(other, "service_zone", ZONE)
    first, created = store.create_order(tenant, _order(), idempotency_key="abc")
    again, created_again = store.create_order(tenant, _order(), idempotency_key="abc")
    assert created and not created_again and again == first
    with pytest.raises(IdempotencyConflict):
        store.create_order(tenant, _order(size=5), idempotency_key="abc")
    theirs, created_theirs = store.create_order(other, _order(), idempotency_key="abc")
    assert created_theirs and theirs.id != first.id
    assert len(store.list_orders(tenant)) == 1


def test_invalid_order_reports_every_field(store: Store, tenant: str) -> None:
    bad = NewOrder(95.0, 13.4, 52.5, float("nan"), size=-1, amount_minor=-5, currency="eur")
    with pytest.raises(InvalidRecord) as info:
        store.create_order(tenant, bad)
    fields = {p[0] for p in info.value.problems}
    assert {"pickup_lat", "dropoff_lng", "size", "amount_minor", "currency"} <= fields
    assert store.list_orders(tenant) == []


def test_transition_writes_order_event_and_checks_version(
    store: Store, tenant: str, other: str
) -> None:
    store.create_courier(tenant, courier_id="c1")
    order, _ = store.create_order(tenant, _order())
    t = Transition(
        "assigned",
        at=2000.0,
        actor_kind="system",
        actor_id="dispatch",
        courier_id="c1",
        courier_lat=52.5,
        courier_lng=13.4,
        data={"eta_s": 300},
        outbox=(OutboxMessage("order.assigned", {"order_id": order.id}),),
    )
    updated, event = store.transition_order(tenant, order.id, 1, t)
    assert (updated.state, updated.version, updated.courier_id) == ("assigned", 2, "c1")
    assert (event.seq, event.kind, event.from_state, event.to_state) == (
        2,
        "order.assigned",
        "created",
        "assigned",
    )
    assert (event.courier_lat, event.courier_lng, event.data) == (52.5, 13.4, {"eta_s": 300})
    assert store.get_order(tenant, order.id) == updated
    assert [e.seq for e in store.list_order_events(tenant, order.id)] == [1, 2]
    with pytest.raises(StaleVersion) as info:
        store.transition_order(tenant, order.id, 1, t)
    assert (info.value.expected, info.value.actual) == (1, 2)
    with pytest.raises(NotFound):
        store.transition_order(other, order.id, 2, t)
    with pytest.raises(InvalidRecord):
        store.transition_order(tenant, order.id, 2, Transition("lost", 1.0, "system", "x"))  # type: ignore[arg-type]
    assert store.get_order(tenant, order.id) == updated


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
