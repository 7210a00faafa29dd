import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import InvalidCoordinate
from tracking import InvalidAttribute, InvalidPing, LiveIndex, Ping, Reason

NOW = 1_700_000_000.0


def make() -> LiveIndex:
    return LiveIndex(clock=lambda: NOW)


def test_first_ping_is_accepted_and_recorded() -> None:
    index = make()
    res = index.upsert("a", -1.29, 36.82, NOW - 1, speed=3.0, heading=90.0, accuracy=5.0)
    assert res.accepted and res.reason is None
    state = index.get("a")
    assert (state.lat, state.lng, state.ts) == (-1.29, 36.82, NOW - 1)
    assert (state.speed, state.heading, state.accuracy) == (3.0, 90.0, 5.0)
    assert state.status == "idle" and state.capacity == 1 and state.load == 0


@pytest.mark.parametrize(
    ("ts", "lat", "lng", "accuracy", "reason"),
    [
        (NOW + 31, -1.29, 36.82, None, Reason.FUTURE_TIMESTAMP),
        (NOW - 100, -1.29, 36.82, None, Reason.DUPLICATE),
        (NOW - 101, -1.29, 36.82, None, Reason.OUT_OF_ORDER),
        (NOW - 99, -1.29, 36.82, 100.5, Reason.LOW_ACCURACY),
        # 1 km in 1 s is far above 70 m/s.
        (NOW - 99, -1.281, 36.82, None, Reason.IMPLIED_SPEED),
    ],
)
def test_each_rule_rejects_with_its_reason_and_never_moves(
    ts: float, lat: float, lng: float, accuracy: float | None, reason: Reason
) -> None:
    index = make()
    assert index.upsert("a", -1.29, 36.82, NOW - 100).accepted
    res = index.upsert("a", lat, lng, ts, accuracy=accuracy)
    assert not res.accepted
    assert res.reason is reason
    assert index.rejections == {reason: 1}
    state = index.get("a")
    assert (state.lat, state.lng, state.ts) == (-1.29, 36.82, NOW - 100)


def test_limits_are_inclusive_and_configurable() -> None:
    index = LiveIndex(
        clock=lambda: NOW, max_speed_mps=10.0, max_accuracy_m=20.0, future_tolerance_s=5.0
    )
    assert index.upsert("a", 0.0, 0.0, NOW - 20, accuracy=20.0).accepted
    # 99 m in 10 s is fine, 112 m in 10 s is not (0.001° of latitude is 111 m).
    assert index.upsert("a", 0.00089, 0.0, NOW - 10).accepted
    assert index.upsert("a", 0.0019, 0.0, NOW).reason is Reason.IMPLIED_SPEED
    assert index.upsert("a", 0.0, 0.0, NOW + 5).accepted
    assert index.upsert("b", 0.0, 0.0, NOW + 5.1).reason is Reason.FUTURE_TIMESTAMP
    assert index.upsert("b", 0.0, 0.0, NOW, accuracy=20.1).reason is Reason.LOW_ACCURACY


def test_scalar_malformed_input_raises_typed_errors_and_counts() -> None:
    index = make()
    with pytest.raises(InvalidCoordinate) as coord:
        index.upsert("a", math.nan, 0.0, NOW)
    assert coord.value.field == "lat"
    with pytest.raises(InvalidPing) as ts:
        index.upsert("a", 0.0, 0.0, math.inf)
    assert (ts.value.field, ts.value.value) == ("ts", math.inf)
    for name, value in [
        ("status", "asleep"),
        ("capacity", -1),
        ("heading", 361.0),
        ("speed", -1.0),
        ("colour", "red"),
    ]:
        with pytest.raises(InvalidAttribute) as attr:
            index.upsert("a", 0.0, 0.0, NOW, **{name: value})
        assert (attr.value.field, attr.value.value) == (name, value)
        assert isinstance(attr.value, ValueError)
    assert index.rejections == {
        Reason.INVALID_COORDINATE: 1,
        Reason.INVALID_TIMESTAMP: 1,
        Reason.INVALID_ATTRIBUTE: 5,
    }
    assert "a" not in index


def test_batch_reports_per_item_and_applies_only_accepted_items() -> None:
    index = make()
    index.upsert("known", 0.0, 0.0, NOW - 50)
    res = index.upsert_many(
        ["ok", "nan", "far", "future", "known", "acc", "status"],
        [0.0, math.nan, 95.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [NOW, NOW, NOW, NOW + 60, NOW - 60, NOW, NOW],
        accuracy=[1.0, None, None, None, None, 500.0, None],
        status=["busy", None, None, None, None, None, "nap"],
    )
    assert res.reasons == [
        None,
        Reason.INVALID_COORDINATE,
        Reason.INVALID_COORDINATE,
        Reason.FUTURE_TIMESTAMP,
        Reason.OUT_OF_ORDER,
        Reason.LOW_ACCURACY,
        Reason.INVALID_ATTRIBUTE,
    ]
    assert res.accepted.tolist() == [True] + [False] * 6
    assert len(index) == 2 and index.get("ok").status == "busy"
    assert index.get("known").ts == NOW - 50
    assert sum(index.rejections.values()) == 6


def test_batch_with_repeated_courier_is_applied_in_order() -> None:
    index = make()
    res = index.upsert_many(
        ["a", "a", "a", "b", "a"],
        [0.0, 0.0001, 0.0001, 1.0, 5.0],
        [0.0] * 5,
        [NOW - 30, NOW - 20, NOW - 25, NOW, NOW - 10],
    )
    assert res.reasons == [None, None, Reason.OUT_OF_ORDER, None, Reason.IMPLIED_SPEED]
    assert index.get("a").lat == 0.0001


def test_first_ping_rejected_then_next_creates_the_courier() -> None:
    index = make()
    res = index.upsert_many(["a", "a"], [0.0, 0.0], [0.0, 0.0], [NOW + 100, NOW])
    assert res.reasons == [Reason.FUTURE_TIMESTAMP, None]
    assert index.get("a").ts == NOW


def test_batch_shape_errors_raise_before_anything_applies() -> None:
    index = make()
    with pytest.raises(InvalidPing) as info:
        index.upsert_many(["a", "b"], [0.0, 0.0], [0.0], NOW)
    assert info.value.field == "lngs"
    with pytest.raises(InvalidPing) as info:
        index.upsert_many(["a", ["unhashable"]], [0.0, 0.0], [0.0, 0.0], NOW)
    assert info.value.field == "courier_ids[1]"
    assert len(index) == 0 and not index.rejections


def test_bools_are_not_coordinates() -> None:
    index = make()
    res = index.upsert_many(["a", "b"], [True, 1.0], [0.0, 0.0], NOW)
    assert res.reasons == [Reason.INVALID_COORDINATE, None]


def test_numpy_batch_and_scalar_ts() -> None:
    index = make()
    ids = np.arange(5)
    res = index.upsert_many(
        ids, np.zeros(5), np.linspace(0, 0.01, 5), NOW, capacity=np.array([1, 2, 3, 4, 5])
    )
    assert res.n_accepted == 5
    assert index.get(4).capacity == 5


pings = st.lists(
    st.tuples(
        st.integers(0, 3),  # courier
        st.floats(-0.01, 0.01),  # lat
        st.floats(-0.01, 0.01),  # lng
        st.sampled_from([-5.0, 0.0, 1.0, 10.0, 40.0, 100.0]),  # ts step from the previous ping
        st.one_of(st.none(), st.floats(0.0, 150.0)),  # accuracy
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(pings)
def test_single_upserts_equal_one_batch(
    seq: list[tuple[int, float, float, float, float | None]],
) -> None:
    # The scalar path and the vectorized batch path judge and apply pings identically.
    single, batch = make(), make()
    ts, times = NOW - 1000.0, []
    for _, _, _, step, _ in seq:
        ts += step
        times.append(ts)
    reasons = [
        single.upsert(c, la, ln, t, accuracy=acc).reason
        for (c, la, ln, _, acc), t in zip(seq, times, strict=True)
    ]
    res = batch.upsert_many(
        [p[0] for p in seq],
        [p[1] for p in seq],
        [p[2] for p in seq],
        times,
        accuracy=[p[4] for p in seq],
    )
    assert res.reasons == reasons
    assert single.rejections == batch.rejections
    assert len(single) == len(batch)
    for c in range(4):
        if c in single:
            assert single.get(c) == batch.get(c)


def test_ingest_ping_records() -> None:
    index = make()
    res = index.ingest(
        [
            Ping("a", 0.0, 0.0, NOW - 10, speed=5.0, heading=10.0, accuracy=3.0),
            Ping("a", 0.0, 0.0, NOW - 20),
            Ping("b", 0.0, 0.0, NOW, accuracy=300.0),
        ]
    )
    assert res.reasons == [None, Reason.OUT_OF_ORDER, Reason.LOW_ACCURACY]
    assert (index.get("a").speed, index.get("a").heading, index.get("a").accuracy) == (
        5.0,
        10.0,
        3.0,
    )


walks = st.lists(
    st.tuples(
        st.integers(0, 5),  # courier
        st.floats(-0.002, 0.002),  # lat step from the courier's previous ping
        st.floats(-0.002, 0.002),  # lng step
        st.sampled_from([-1.0, 0.0, 5.0, 10.0, 30.0]),  # ts step: most pings are accepted
        st.one_of(st.none(), st.integers(1, 4)),  # capacity sent with the ping
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(walks, st.booleans())
def test_several_pings_per_courier_in_one_batch_equal_single_upserts(
    seq: list[tuple[int, float, float, float, int | None]], known_first: bool
) -> None:
    # Chains of one courier's pings are judged in one pass; rejected chains go by rounds.
    single, batch = make(), make()
    if known_first:
        for index in (single, batch):
            index.upsert_many([0, 1, 2], [0.0] * 3, [0.0] * 3, NOW - 2000.0)
    pos: dict[int, list[float]] = {}
    ids, lats, lngs, times, caps = [], [], [], [], []
    for c, dla, dln, step, cap in seq:
        p = pos.setdefault(c, [0.0, 0.0, NOW - 1000.0])
        p[0] += dla
        p[1] += dln
        p[2] += step
        ids.append(c)
        lats.append(p[0])
        lngs.append(p[1])
        times.append(p[2])
        caps.append(cap)
    reasons = [
        single.upsert_many([c], [la], [ln], [t], capacity=[cap]).reason(0)
        for c, la, ln, t, cap in zip(ids, lats, lngs, times, caps, strict=True)
    ]
    res = batch.upsert_many(ids, lats, lngs, times, capacity=caps)
    assert res.reasons == reasons
    assert single.rejections == batch.rejections
    assert len(single) == len(batch)
    for c in range(6):
        assert (c in single) == (c in batch)
        if c in single:
            assert single.get(c) == batch.get(c)
    assert sorted(single.within(0.0, 0.0, 50_000)) == sorted(batch.within(0.0, 0.0, 50_000))
