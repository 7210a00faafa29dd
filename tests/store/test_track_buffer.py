"""The track buffer on its own: batching, bound, retry of failed batches, background flushes."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.errors import TrackBufferFull
from store.track_buffer import PositionBatch, TrackBuffer


def _batch(start: int, n: int) -> PositionBatch:
    ts = np.arange(start, start + n, dtype=np.float64)
    nan = np.full(n, np.nan)
    return PositionBatch(
        [f"c{i}" for i in range(start, start + n)], ts, ts / 1e6, ts / 1e6, nan, nan, nan
    )


class Sink:
    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.batches: list[PositionBatch] = []
        self.calls = 0
        self.event = threading.Event()

    def __call__(self, batch: PositionBatch) -> None:
        self.calls += 1
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("database down")
        self.batches.append(batch)
        self.event.set()

    def written_ts(self) -> list[float]:
        return [t for b in self.batches for t in b.ts.tolist()]


def test_flush_writes_every_ping_once_in_order_in_bounded_batches() -> None:
    sink = Sink()
    buf = TrackBuffer(sink, batch_size=4)
    buf.append(_batch(0, 3))
    buf.append(_batch(3, 7))
    buf.append(_batch(10, 1))
    assert buf.pending == 11
    assert buf.flush() == 11
    assert [len(b) for b in sink.batches] == [4, 4, 3]
    assert sink.written_ts() == list(range(11))
    assert sink.batches[1].courier_ids == ["c4", "c5", "c6", "c7"]
    assert buf.pending == 0 and buf.written == 11


def test_bound_refuses_a_batch_whole() -> None:
    buf = TrackBuffer(Sink(), batch_size=4, bound=10)
    buf.append(_batch(0, 8))
    with pytest.raises(TrackBufferFull) as info:
        buf.append(_batch(8, 3))
    assert (info.value.size, info.value.bound) == (8, 10)
    assert buf.pending == 8
    buf.append(_batch(8, 2))
    assert buf.pending == 10


def test_a_failed_flush_keeps_its_batch_and_retries_it_first() -> None:
    sink = Sink(fail_times=2)
    buf = TrackBuffer(sink, batch_size=5)
    buf.append(_batch(0, 8))
    for _ in range(2):
        with pytest.raises(ConnectionError):
            buf.flush()
        assert buf.pending == 8
    buf.append(_batch(8, 1))
    assert buf.flush() == 9
    assert sink.written_ts() == list(range(9))
    assert [len(b) for b in sink.batches] == [5, 4]


def test_failed_batch_counts_against_the_bound() -> None:
    buf = TrackBuffer(Sink(fail_times=1), batch_size=5, bound=6)
    buf.append(_batch(0, 5))
    with pytest.raises(ConnectionError):
        buf.flush()
    with pytest.raises(TrackBufferFull):
        buf.append(_batch(5, 2))


def test_background_flusher_writes_a_full_batch_and_retries_after_failure() -> None:
    sink = Sink(fail_times=1)
    buf = TrackBuffer(sink, batch_size=5, max_delay_s=60.0, retry_delay_s=0.01)
    buf.start()
    try:
        buf.append(_batch(0, 5))  # full batch: due at once, not after 60 s
        assert sink.event.wait(timeout=30)
        assert buf.failed_flushes == 1 and sink.written_ts() == list(range(5))
    finally:
        assert buf.close() == 0


def test_background_flusher_writes_a_partial_batch_after_the_delay() -> None:
    sink = Sink()
    buf = TrackBuffer(sink, batch_size=1000, max_delay_s=0.01)
    buf.start()
    try:
        buf.append(_batch(0, 3))
        assert sink.event.wait(timeout=30)
        assert sink.written_ts() == [0.0, 1.0, 2.0]
    finally:
        buf.close()


def test_close_flushes_what_is_left() -> None:
    sink = Sink()
    buf = TrackBuffer(sink, batch_size=1000, max_delay_s=3600.0)
    buf.start()
    buf.append(_batch(0, 7))
    assert buf.close() == 7
    assert sink.written_ts() == list(range(7))


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(5, 40),
    st.lists(st.one_of(st.integers(0, 12), st.just("flush"), st.just("fail")), max_size=30),
)
def test_any_sequence_writes_every_accepted_ping_once_in_order(
    batch_size: int, bound: int, ops: list[int | str]
) -> None:
    sink = Sink()
    buf = TrackBuffer(sink, batch_size=batch_size, bound=bound)
    accepted: list[float] = []
    next_ts = 0
    for op in ops:
        if op == "fail":
            sink.fail_times = 1
            with contextlib.suppress(ConnectionError):
                buf.flush()
            sink.fail_times = 0
        elif op == "flush":
            buf.flush()
        else:
            n = int(op)
            try:
                buf.append(_batch(next_ts, n))
            except TrackBufferFull:
                assert buf.pending + n > bound
            else:
                accepted += [float(t) for t in range(next_ts, next_ts + n)]
            next_ts += n
        assert buf.pending <= bound
    sink.fail_times = 0
    buf.flush()
    assert sink.written_ts() == accepted
    assert all(0 < len(b) <= batch_size for b in sink.batches)
