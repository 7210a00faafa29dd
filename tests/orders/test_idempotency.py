from __future__ import annotations

import itertools
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.errors import IdempotencyConflict, InvalidIdempotencyKey
from orders.idempotency import (
    Decision,
    IdempotencyRecord,
    InMemoryIdempotency,
    Outcome,
    decide,
    fingerprint,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def test_fingerprint_ignores_key_order_and_whitespace() -> None:
    a = fingerprint("post", "/v1/orders", b'{"a": 1, "b": [1, 2]}')
    b = fingerprint("POST", "/v1/orders", '{"b":[1,2],"a":1}')
    assert a == b
    assert a != fingerprint("POST", "/v1/orders", b'{"a": 2, "b": [1, 2]}')
    assert a != fingerprint("PUT", "/v1/orders", b'{"a": 1, "b": [1, 2]}')
    assert a != fingerprint("POST", "/v1/orders/x", b'{"a": 1, "b": [1, 2]}')
    assert fingerprint("POST", "/p", b"\xff\xfe") != fingerprint("POST", "/p", b"\xff\xfd")
    assert fingerprint("POST", "/p", None) == fingerprint("POST", "/p", b"")


@given(json_values)
def test_fingerprint_is_stable_under_reserialization(value: object) -> None:
    import json

    compact = json.dumps(value, separators=(",", ":"))
    spaced = json.dumps(value, indent=2)
    assert fingerprint("POST", "/p", compact) == fingerprint("POST", "/p", spaced)


def test_decide_rule() -> None:
    rec = IdempotencyRecord("t", "k", "f1", "result", created_at=100.0)
    assert decide(None, "f1", now=0.0) is Decision.RUN
    assert decide(rec, "f1", now=101.0) is Decision.REPLAY
    assert decide(rec, "f2", now=101.0) is Decision.CONFLICT
    assert decide(rec, "f2", now=100.0 + 86_400.0) is Decision.RUN


def test_same_key_same_body_replays_and_different_body_conflicts() -> None:
    store: InMemoryIdempotency[str] = InMemoryIdempotency()
    counter = itertools.count(1)
    first = store.execute("t1", "k1", "f", lambda: f"order-{next(counter)}", now=0.0)
    again = store.execute("t1", "k1", "f", lambda: f"order-{next(counter)}", now=5.0)
    assert (first.result, first.replayed) == ("order-1", False)
    assert (again.result, again.replayed) == ("order-1", True)
    with pytest.raises(IdempotencyConflict) as info:
        store.execute("t1", "k1", "g", lambda: "never", now=6.0)
    assert info.value.value == "k1" and isinstance(info.value, ValueError)
    other_tenant = store.execute("t2", "k1", "g", lambda: f"order-{next(counter)}", now=6.0)
    assert other_tenant == Outcome("order-2", replayed=False)


def test_a_failed_request_keeps_nothing() -> None:
    store: InMemoryIdempotency[int] = InMemoryIdempotency()

    def boom() -> int:
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        store.execute("t", "k", "f", boom, now=0.0)
    assert store.get("t", "k") is None
    assert store.execute("t", "k", "f", lambda: 7, now=1.0) == Outcome(7, replayed=False)
    assert store.execute("t", "k", "f", lambda: 0, now=2.0) == Outcome(7, replayed=True)


def test_keys_expire() -> None:
    store: InMemoryIdempotency[int] = InMemoryIdempotency(ttl_s=10.0)
    store.execute("t", "k", "f", lambda: 1, now=0.0)
    assert store.execute("t", "k", "other", lambda: 2, now=10.0).result == 2
    assert store.purge(now=15.0) == 0
    assert store.purge(now=20.0) == 1 and store.get("t", "k") is None


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ключ"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        InMemoryIdempotency[int]().execute("t", key, "f", lambda: 1, now=0.0)


def test_concurrent_requests_with_one_key_create_exactly_one_order() -> None:
    store: InMemoryIdempotency[str] = InMemoryIdempotency()
    created: list[str] = []
    created_lock = threading.Lock()
    start = threading.Barrier(16)
    results: list[tuple[str, bool]] = []

    def create() -> str:
        time.sleep(0.01)  # widen the race window: others arrive while this one runs
        with created_lock:
            created.append(f"order-{len(created) + 1}")
            return created[-1]

    def request(key: str) -> None:
        start.wait()
        out = store.execute("t", key, fingerprint("POST", "/v1/orders", b"{}"), create, now=0.0)
        with created_lock:
            results.append((out.result, out.replayed))

    threads = [threading.Thread(target=request, args=(f"k{i % 2}",)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 2  # one per key
    assert len(results) == 16
    by_order = {r for r, _ in results}
    assert by_order == set(created)
    assert sum(1 for _, replayed in results if not replayed) == 2


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["t1", "t2"]),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["x", "y"]),
        ),
        max_size=30,
    )
)
def test_matches_a_dictionary_model(requests: list[tuple[str, str, str]]) -> None:
    store: InMemoryIdempotency[int] = InMemoryIdempotency()
    model: dict[tuple[str, str], tuple[str, int]] = {}
    runs = 0
    for i, (tenant, key, body) in enumerate(requests):
        fp = fingerprint("POST", "/v1/orders", body.encode())
        first = model.get((tenant, key))
        if first is not None and first[0] != fp:
            with pytest.raises(IdempotencyConflict):
                store.execute(tenant, key, fp, lambda: -1, now=float(i))
            continue
        out = store.execute(tenant, key, fp, lambda i=i: i, now=float(i))  # type: ignore[misc]
        if first is None:
            model[(tenant, key)] = (fp, i)
            runs += 1
        assert out == Outcome(model[(tenant, key)][1], replayed=first is not None)
    assert runs == len(model)
