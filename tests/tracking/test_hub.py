import threading

from tracking.hub import Hub


def test_positions_are_coalesced_per_courier() -> None:
    hub = Hub()
    sub = hub.subscribe("t1")
    hub.set_topics(sub, [("cell", 1)])
    for i in range(5):
        hub.publish_position("t1", "c1", [("cell", 1)], {"id": "c1", "seq": i})
    hub.publish_position("t1", "c2", [("cell", 1)], {"id": "c2", "seq": 0})
    got = hub.drain(sub)
    assert got == [{"id": "c1", "seq": 4}, {"id": "c2", "seq": 0}]
    assert sub.dropped_positions == 4
    assert hub.drain(sub) == []


def test_events_keep_order_and_come_before_positions() -> None:
    hub = Hub()
    sub = hub.subscribe("t1")
    hub.set_topics(sub, [("order", "o1"), ("courier", "c1")])
    hub.publish_position("t1", "c1", [("courier", "c1")], {"type": "position"})
    hub.publish_event("t1", [("order", "o1")], {"type": "order", "state": "assigned"})
    hub.publish_event("t1", [("order", "o1")], {"type": "order", "state": "picked_up"})
    assert [m.get("state", m["type"]) for m in hub.drain(sub)] == [
        "assigned",
        "picked_up",
        "position",
    ]


def test_tenants_never_see_each_other() -> None:
    hub = Hub()
    a = hub.subscribe("A")
    b = hub.subscribe("B")
    hub.set_topics(a, [("cell", 7)])
    hub.set_topics(b, [("cell", 7)])
    assert hub.publish_position("A", "c1", [("cell", 7)], {"id": "c1"}) == 1
    hub.publish_event("A", [("cell", 7)], {"type": "fence"})
    assert hub.drain(b) == []
    assert len(hub.drain(a)) == 2


def test_overflow_marks_subscriber_and_bounds_memory() -> None:
    hub = Hub()
    sub = hub.subscribe("t", max_queue=3)
    hub.set_topics(sub, [("order", "o")])
    for i in range(10):
        hub.publish_event("t", [("order", "o")], {"i": i})
    assert sub.overflowed
    assert len(sub.events) == 3


def test_changing_topics_and_unsubscribe() -> None:
    hub = Hub()
    sub = hub.subscribe("t")
    hub.set_topics(sub, [("cell", 1), ("cell", 2)])
    hub.set_topics(sub, [("cell", 2), ("cell", 3)])
    assert hub.publish_position("t", "c", [("cell", 1)], {}) == 0
    assert hub.publish_position("t", "c", [("cell", 3)], {}) == 1
    hub.unsubscribe(sub)
    assert hub.subscriber_count() == 0
    assert hub.publish_position("t", "c", [("cell", 3)], {}) == 0


def test_accept_filter_and_wakeup() -> None:
    hub = Hub()
    woken = threading.Event()
    sub = hub.subscribe("t", wakeup=woken.set, accept=lambda m: m.get("lat", 0) > 0)
    hub.set_topics(sub, [("cell", 1)])
    hub.publish_position("t", "c1", [("cell", 1)], {"lat": -1})
    assert not woken.is_set()
    hub.publish_position("t", "c2", [("cell", 1)], {"lat": 1})
    assert woken.is_set()
    assert hub.drain(sub) == [{"lat": 1}]


def test_concurrent_publishers_lose_no_event() -> None:
    hub = Hub(max_queue=100_000)
    sub = hub.subscribe("t")
    hub.set_topics(sub, [("order", "o")])

    def work(n: int) -> None:
        for i in range(1000):
            hub.publish_event("t", [("order", "o")], {"n": n, "i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = hub.drain(sub)
    assert len(got) == 4000
    for n in range(4):
        assert [m["i"] for m in got if m["n"] == n] == list(range(1000))
