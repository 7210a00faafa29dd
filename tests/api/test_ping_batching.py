"""Pings of many driver messages applied in one index update; console frames encoded once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.frame_encoder import FrameEncoder
from api.messages import WirePing
from api.outbound import ACCEPTED, PingResult, encode
from api.ping_batcher import Item, Outcome, PingBatcher
from api.runtime import Runtime
from api.settings import Settings
from api.ws_common import next_tick
from store.errors import NotFound
from store.memory import MemoryStore

NOW = 1_800_000_000.0


def _runtime() -> Runtime:
    store = MemoryStore()
    for tenant in ("ta", "tb"):
        store.create_tenant(tenant, tenant_id=tenant)
        for i in range(3):
            store.create_courier(tenant, courier_id=f"{tenant}-c{i}")
    return Runtime(Settings(dispatch_auto=False), store, clock=lambda: NOW)


def _items() -> list[Item]:
    def p(ts: float, lat: float = -1.3, **kw: Any) -> WirePing:
        return WirePing(lat=lat, lng=36.8, ts=ts, **kw)

    return [
        ("ta", "ta-c0", [p(NOW - 60), p(NOW - 50, speed=3.0)]),
        ("tb", "tb-c1", [p(NOW - 40)]),
        ("ta", "ta-c0", [p(NOW - 55), p(NOW - 30)]),  # the first is older: rejected
        ("ta", "tb-c2", [p(NOW - 20)]),  # another tenant's courier: refused as a whole
        ("ta", "ta-c1", [p(NOW - 20, lat=95.0), p("2027-01-15T08:00:00Z")]),
        ("tb", "tb-c1", [p(NOW - 10, lat=-1.3001, heading=90.0)]),
    ]


def test_ingest_many_matches_one_message_at_a_time() -> None:
    together, alone = _runtime(), _runtime()
    items = _items()
    outcomes = together.ingest_many(items)
    for (tenant, courier, pings), outcome in zip(items, outcomes, strict=True):
        try:
            expected: Outcome = alone.ingest(tenant, courier, pings)
        except NotFound as exc:
            expected = exc
        if isinstance(expected, Exception):
            assert type(outcome) is type(expected)
        else:
            assert outcome == expected
    assert isinstance(outcomes[3], NotFound)
    assert outcomes[2] == [PingResult(accepted=False, reason="out_of_order"), ACCEPTED]
    for courier in ("ta-c0", "ta-c1", "tb-c1"):
        assert (courier in together.index) == (courier in alone.index)
        if courier in alone.index:
            assert together.index.get(courier) == alone.index.get(courier)
    assert together.metrics.counters == alone.metrics.counters


def test_batcher_applies_concurrent_messages_together_in_order() -> None:
    calls: list[list[Item]] = []

    def apply(items: Sequence[Item]) -> list[Outcome]:
        calls.append(list(items))
        return [ValueError("refused") if c == "bad" else [{"n": len(p)}] for _, c, p in items]

    async def main() -> list[Any]:
        batcher = PingBatcher(apply)
        ping = WirePing(lat=0.0, lng=0.0, ts=1.0)
        return await asyncio.gather(
            batcher.ingest("t", "a", [ping]),
            batcher.ingest("t", "bad", [ping]),
            batcher.ingest("t", "b", [ping, ping]),
            return_exceptions=True,
        )

    results = asyncio.run(main())
    assert [[c for _, c, _ in call] for call in calls] == [["a", "bad", "b"]]
    assert results[0] == [{"n": 1}] and results[2] == [{"n": 2}]
    assert isinstance(results[1], ValueError)


def test_batcher_with_a_delay_still_answers_every_message() -> None:
    async def main() -> list[Any]:
        batcher = PingBatcher(lambda items: [[{"c": c}] for _, c, _ in items], delay_s=0.001)
        first = await batcher.ingest("t", "a", [])
        second = await asyncio.gather(*(batcher.ingest("t", c, []) for c in "bc"))
        return [first, *second]

    assert asyncio.run(main()) == [[{"c": "a"}], [{"c": "b"}], [{"c": "c"}]]


messages = st.lists(
    st.dictionaries(
        st.sampled_from(["type", "id", "lat", "lng", "ts", "status"]),
        st.one_of(st.none(), st.text(max_size=5), st.floats(-1e3, 1e3), st.integers()),
    ),
    max_size=4,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])  # shared machine
@given(batches=st.lists(messages, max_size=4), generation=st.integers(1, 4))
def test_frame_encoder_matches_plain_encoding(
    batches: list[list[dict[str, Any]]], generation: int
) -> None:
    frames = FrameEncoder(generation=generation)
    shared = [m for batch in batches for m in batch]
    for batch in [*batches, shared, shared[::-1]]:  # reuse: cached entries, across generations
        assert frames.delta(batch) == encode({"type": "delta", "messages": batch})


def test_frame_encoder_encodes_a_shared_message_once() -> None:
    frames = FrameEncoder()
    msg = {"type": "courier", "id": "c1", "lat": 1.0}
    first = frames.message(msg)
    assert frames.message(msg) is first
    assert frames.message(dict(msg)) == first


def test_frame_text_is_shared_only_by_the_same_messages() -> None:
    frames = FrameEncoder(frames=2)
    a, b = {"type": "courier", "lat": 1}, {"type": "courier", "lat": 1.0}  # equal, not alike
    first = frames.delta_text([a])
    assert frames.delta_text([a]) is first
    assert first == frames.delta([a]).decode()
    assert frames.delta_text([b]) == '{"type":"delta","messages":[{"type":"courier","lat":1.0}]}'
    for batch in ([a, b], [b, a], [b], [a]):  # older frames are dropped, re-encoded when asked
        assert frames.delta_text(batch) == encode({"type": "delta", "messages": batch}).decode()


@pytest.mark.parametrize("n", [0, 3])
def test_ingest_of_no_pings_or_some(n: int) -> None:
    runtime = _runtime()
    pings = [WirePing(lat=-1.3, lng=36.8, ts=NOW - 100 + i) for i in range(n)]
    assert runtime.ingest("ta", "ta-c2", pings) == [ACCEPTED] * n


@given(now=st.floats(0, 1e7), interval=st.sampled_from([0.01, 0.05, 0.25, 1.0]))
def test_writers_tick_on_shared_multiples_of_the_interval(now: float, interval: float) -> None:
    tick = next_tick(now, interval)
    assert now + interval / 2 - 1e-6 <= tick <= now + 1.5 * interval + 1e-6
    assert abs(tick / interval - round(tick / interval)) < 1e-6
