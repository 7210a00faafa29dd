import random
import threading
import time

import pytest

from dispatch.dispatcher import Dispatcher, load_onto
from dispatch.errors import InvalidInput, InvalidParams, OfferConflict, UnknownId
from dispatch.offers import Offer, OfferBook
from dispatch.scheduler import BatchScheduler
from tests.dispatch.fleet import live_fleet
from tests.dispatch.test_engine import NOW, courier, order
from tests.dispatch.test_offers import FakeClock


def test_runs_every_window_on_a_fake_clock() -> None:
    clock = FakeClock(0.0)
    calls: list[float] = []
    sched = BatchScheduler(lambda: calls.append(clock.now), clock=clock)
    assert sched.window_s == 2.0
    for t in (0.5, 1.99, 2.0, 3.0, 4.1, 4.2):
        clock.now = t
        sched.tick()
    assert calls == [2.0, 4.1]


def test_trigger_runs_at_once_and_restarts_the_window() -> None:
    clock = FakeClock(0.0)
    calls: list[float] = []
    sched = BatchScheduler(lambda: calls.append(clock.now), clock=clock)
    clock.now = 0.5
    sched.trigger()
    assert sched.tick() and calls == [0.5]
    clock.now = 2.0
    assert not sched.tick()
    clock.now = 2.5
    assert sched.tick() and calls == [0.5, 2.5]


def test_a_failing_run_is_counted_and_the_loop_goes_on() -> None:
    clock = FakeClock(0.0)

    def boom() -> None:
        raise RuntimeError("index down")

    sched = BatchScheduler(boom, clock=clock)
    sched.trigger()
    assert sched.tick()
    assert sched.failures == 1 and isinstance(sched.last_error, RuntimeError)
    with pytest.raises(InvalidParams):
        BatchScheduler(boom, window_s=0)


def test_thread_runs_on_demand_and_stops() -> None:
    ran = threading.Event()
    sched = BatchScheduler(ran.set, window_s=3_600.0)
    sched.start()
    try:
        sched.trigger()
        assert ran.wait(10.0)
    finally:
        sched.stop()
    assert sched.runs >= 1


def make_dispatcher(couriers: list[dict[str, object]], clock: FakeClock) -> Dispatcher:
    index = live_fleet(couriers, NOW)
    return Dispatcher(
        index, OfferBook(clock=clock), load_onto(index), clock=lambda: NOW + clock.now
    )


def test_dispatcher_offer_cycle_end_to_end() -> None:
    clock = FakeClock(0.0)
    d = make_dispatcher([courier("c1"), courier("c2", 0.01)], clock)
    d.submit([order("o1")])
    first = d.run_once()
    assert [(m.order_id, m.courier_id) for m in first.matches] == [("o1", "c1")]
    (offer,) = d.last_offers
    # While the offer is out, the order is not dispatched again.
    assert d.run_once().matches == ()
    d.reject(offer.id)
    second = d.run_once()
    assert [(m.order_id, m.courier_id) for m in second.matches] == [("o1", "c2")]
    clock.now += 30.0  # c2 lets it time out: no courier left
    third = d.run_once()
    assert third.unassigned == {"o1": "no_candidate_in_radius"}
    assert d.offers.exclusions() == {"o1": frozenset({"c1", "c2"})}


def test_accept_moves_units_into_load_and_leaves_the_pool() -> None:
    clock = FakeClock(0.0)
    d = make_dispatcher([courier("c1", capacity=2)], clock)
    d.submit([order("o1"), order("o2"), order("o3")])
    result = d.run_once()
    assert len(result.matches) == 2 and len(result.unassigned) == 1
    accepted = d.accept(d.last_offers[0].id)
    assert d.index.get(accepted.courier_id).load == 1  # type: ignore[attr-defined]
    assert d.index.get(accepted.courier_id).status == "busy"  # type: ignore[attr-defined]
    assert {o.id for o in d.pool()} == {"o1", "o2", "o3"} - {d.last_offers[0].order_id}
    # c1 now carries 1 and holds 1 offer: full, so the third order still waits.
    assert d.run_once().matches == ()
    d.cancel(result.matches[1].order_id)
    assert d.offers.offered_orders() == set()
    with pytest.raises(UnknownId):
        d.cancel("nope")
    with pytest.raises(InvalidInput):
        d.submit([order("o9"), {"id": "o10"}])  # type: ignore[list-item]
    assert "o9" not in {o.id for o in d.pool()}


def test_concurrent_replies_during_batches_never_overbook() -> None:
    rng = random.Random(3)
    couriers = [courier(f"c{i}", 0.001 * i, capacity=2) for i in range(6)]
    clock = FakeClock(0.0)
    d = make_dispatcher(couriers, clock)
    d.submit([order(f"o{i}") for i in range(30)])
    accepted: list[str] = []
    made: list[Offer] = []
    stop = threading.Event()

    def replier() -> None:
        while not stop.is_set():
            if not made:
                time.sleep(0.001)
                continue
            offer = rng.choice(made)
            try:
                if rng.random() < 0.5:
                    accepted.append(d.accept(offer.id).order_id)
                else:
                    d.reject(offer.id)
            except OfferConflict:
                pass  # another replier won, or the offer is already closed

    threads = [threading.Thread(target=replier) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(60):
        d.run_once()
        made.extend(d.last_offers)
        time.sleep(0.002)  # let the repliers in between batches
    stop.set()
    for t in threads:
        t.join()
    assert len(accepted) == len(set(accepted)) > 0
    held = d.offers.held_units()
    index = d.index
    for c in couriers:
        state = index.get(c["id"])  # type: ignore[attr-defined]
        assert state.load + held.get(c["id"], 0) <= c["capacity"]
    assert not set(accepted) & {o.id for o in d.pool()}
