from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import great_circle_m
from orders.eta import InvalidRoute, PairwiseTravel, PlannedStop, StopKind, refresh_etas, stop_etas
from orders.model import Order, OrderState, Position
from routing.travel_time import GreatCircleTravelTime
from tests.orders.conftest import make_order

SPEED = 5.0
TRAVEL: PairwiseTravel = GreatCircleTravelTime(speeds_mps={"bike": SPEED}, default_vehicle="bike")
START = Position(-1.30, 36.80)


def assigned(order_id: str, state: OrderState = OrderState.ASSIGNED) -> Order:
    return replace(make_order(order_id), state=state, courier_id="c1")


def stops_for(*orders: Order) -> list[PlannedStop]:
    pickups = [PlannedStop(o.id, StopKind.PICKUP, o.pickup_lat, o.pickup_lng) for o in orders]
    drops = [PlannedStop(o.id, StopKind.DROPOFF, o.dropoff_lat, o.dropoff_lng) for o in orders]
    return pickups + drops


def brute_force(position: Position, at: float, stops: list[PlannedStop]) -> list[float]:
    out, t, lat, lng = [], at, position.lat, position.lng
    for s in stops:
        t += great_circle_m(lat, lng, s.lat, s.lng) / SPEED
        t = max(t, s.earliest) if s.earliest is not None else t
        out.append(t)
        t += s.service_s
        lat, lng = s.lat, s.lng
    return out


def test_stop_etas_match_a_leg_by_leg_oracle() -> None:
    a = replace(assigned("a"), dropoff_lat=-1.25)
    stops = stops_for(assigned("b"), a)
    stops[1] = replace(stops[1], earliest=5_000.0, service_s=120.0)
    stops[2] = replace(stops[2], service_s=60.0)
    got = stop_etas(START, 1_000.0, stops, TRAVEL)
    assert got.tolist() == pytest.approx(brute_force(START, 1_000.0, stops))
    assert got[1] == 5_000.0  # arrived early, waited for the window


def test_refresh_sets_etas_and_emits_events() -> None:
    a, b = assigned("a"), assigned("b", OrderState.PICKED_UP)
    stops = [s for s in stops_for(a, b) if not (s.order_id == "b" and s.kind is StopKind.PICKUP)]
    out = refresh_etas([a, b], START, 1_000.0, stops, TRAVEL)
    assert [t.order.id for t in out] == ["a", "b"]
    expected = brute_force(START, 1_000.0, stops)
    ta, tb = out
    assert ta.order.pickup_eta == pytest.approx(expected[0])
    assert ta.order.dropoff_eta == pytest.approx(expected[1])
    assert tb.order.pickup_eta is None and tb.order.dropoff_eta == pytest.approx(expected[2])
    (event,) = ta.events
    assert event.kind == "order.eta_updated" and event.from_state is event.to_state
    assert event.seq == ta.order.version == a.version + 1
    assert event.data["previous_pickup_eta"] is None and event.courier_position == START


def test_small_changes_are_not_news() -> None:
    a = assigned("a")
    (first,) = refresh_etas([a], START, 1_000.0, stops_for(a), TRAVEL)
    nearby = Position(START.lat + 0.0001, START.lng)  # ~11 m: ~2 s at 5 m/s
    assert refresh_etas([first.order], nearby, 1_000.0, stops_for(a), TRAVEL) == []
    (moved,) = refresh_etas([first.order], START, 1_100.0, stops_for(a), TRAVEL)
    assert moved.order.pickup_eta == pytest.approx(first.order.pickup_eta + 100.0)  # type: ignore[operator]
    assert refresh_etas([first.order], START, 1_100.0, stops_for(a), TRAVEL, threshold_s=200) == []


def test_route_etas_are_used_without_a_provider_and_inactive_orders_are_skipped() -> None:
    a, done = assigned("a"), assigned("d", OrderState.DELIVERED)
    stops = [
        PlannedStop("a", StopKind.PICKUP, 0.0, 0.0, eta=2_000.0),
        PlannedStop("a", StopKind.DROPOFF, 0.0, 0.0, eta=2_600.0),
        PlannedStop("d", StopKind.DROPOFF, 0.0, 0.0, eta=2_900.0),
    ]
    (t,) = refresh_etas([a, done], START, 1_000.0, stops)
    assert (t.order.pickup_eta, t.order.dropoff_eta) == (2_000.0, 2_600.0)
    with pytest.raises(InvalidRoute) as info:
        stop_etas(START, 1_000.0, [replace(stops[0], eta=None), replace(stops[1], eta=None)])
    assert [p[0] for p in info.value.problems] == ["stops[0].eta", "stops[1].eta"]
    assert stop_etas(START, 1_000.0, [], TRAVEL).shape == (0,)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1.4, -1.2), st.floats(36.7, 36.9), st.floats(0, 600), st.floats(0, 300)
        ),
        min_size=1,
        max_size=8,
    ),
    st.floats(0.0, 1e6),
)
def test_stop_etas_property(raw: list[tuple[float, float, float, float]], at: float) -> None:
    stops = [
        PlannedStop(f"o{i}", StopKind.DROPOFF, lat, lng, earliest=at + wait, service_s=svc)
        for i, (lat, lng, wait, svc) in enumerate(raw)
    ]
    got = stop_etas(START, at, stops, TRAVEL)
    assert got.tolist() == pytest.approx(brute_force(START, at, stops))
    assert bool(np.all(np.diff(got) >= 0))  # time only moves forward
