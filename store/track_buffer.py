"""A bounded buffer of accepted pings, flushed in batches by size or age; failed batches retry."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from store.errors import TrackBufferFull

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PositionBatch:
    """Columns of pings: courier ids and float64 ts/lat/lng/speed/heading/accuracy (NaN = none)."""

    courier_ids: list[str]
    ts: Floats
    lats: Floats
    lngs: Floats
    speed: Floats
    heading: Floats
    accuracy: Floats

    def __len__(self) -> int:
        return len(self.courier_ids)

    def split(self, n: int) -> tuple[PositionBatch, PositionBatch]:
        """The first ``n`` rows and the rest."""
        cols = (self.ts, self.lats, self.lngs, self.speed, self.heading, self.accuracy)
        return (
            PositionBatch(self.courier_ids[:n], *(c[:n] for c in cols)),
            PositionBatch(self.courier_ids[n:], *(c[n:] for c in cols)),
        )

    @staticmethod
    def concat(batches: list[PositionBatch]) -> PositionBatch:
        """One batch holding the rows of ``batches`` in order."""
        if len(batches) == 1:
            return batches[0]
        ids = [cid for b in batches for cid in b.courier_ids]
        names = ("ts", "lats", "lngs", "speed", "heading", "accuracy")
        cols = [np.concatenate([getattr(b, n) for b in batches]) for n in names]
        return PositionBatch(ids, *cols)


class TrackBuffer:
    """Queue pings; a flusher thread hands batches to ``sink`` (one COPY per batch).

    Parameters
    ----------
    sink
        Writes one batch; raising keeps the batch queued (it is retried first, with backoff).
    batch_size
        A flush starts once this many pings wait (default 5,000) ...
    max_delay_s
        ... or once the oldest waiting ping is this old (default 200 ms).
    bound
        Most pings held (waiting plus in flight); `append` beyond it raises `TrackBufferFull`
        so the caller can shed load instead of growing memory without bound.
    """

    def __init__(
        self,
        sink: Callable[[PositionBatch], None],
        *,
        batch_size: int = 5_000,
        max_delay_s: float = 0.2,
        bound: int = 500_000,
        retry_delay_s: float = 0.2,
        max_retry_delay_s: float = 5.0,
    ) -> None:
        self._sink = sink
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self.bound = bound
        self._retry_delay_s = retry_delay_s
        self._max_retry_delay_s = max_retry_delay_s
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()
        self._pending: deque[PositionBatch] = deque()
        self._pending_count = 0
        self._oldest: float | None = None
        self._inflight: PositionBatch | None = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self.written = 0
        self.failed_flushes = 0
        self.last_error: BaseException | None = None

    @property
    def pending(self) -> int:
        """Pings not yet written (waiting plus in flight)."""
        with self._cond:
            return self._pending_count + (len(self._inflight) if self._inflight else 0)

    def append(self, batch: PositionBatch) -> None:
        """Queue a batch of pings, all or nothing.

        Raises
        ------
        TrackBufferFull
            When the batch does not fit under the bound; nothing is queued.
        """
        if not len(batch):
            return
        with self._cond:
            held = self._pending_count + (len(self._inflight) if self._inflight else 0)
            if held + len(batch) > self.bound:
                raise TrackBufferFull(held, self.bound)
            self._pending.append(batch)
            self._pending_count += len(batch)
            first = self._oldest is None
            if first:
                self._oldest = time.monotonic()
            if first or self._pending_count >= self.batch_size:
                self._cond.notify()  # the flusher re-computes when the next flush is due

    def _take(self) -> PositionBatch | None:
        # Called under _flush_lock: the in-flight batch (a retry) comes first.
        with self._cond:
            if self._inflight is not None:
                return self._inflight
            if not self._pending_count:
                return None
            taken: list[PositionBatch] = []
            count = 0
            while self._pending and count < self.batch_size:
                head = self._pending.popleft()
                room = self.batch_size - count
                if len(head) > room:
                    head, rest = head.split(room)
                    self._pending.appendleft(rest)
                taken.append(head)
                count += len(head)
            self._pending_count -= count
            self._oldest = time.monotonic() if self._pending_count else None
            self._inflight = PositionBatch.concat(taken)
            return self._inflight

    def _flush_one(self) -> int:
        with self._flush_lock:
            batch = self._take()
            if batch is None:
                return 0
            self._sink(batch)  # raises: the batch stays in flight for the next attempt
            with self._cond:
                self._inflight = None
                self.written += len(batch)
            return len(batch)

    def flush(self) -> int:
        """Write everything queued now; return the number of pings written.

        A sink error propagates and leaves the failed batch queued.
        """
        total = 0
        while True:
            n = self._flush_one()
            if n == 0:
                return total
            total += n

    def _due(self) -> float | None:
        # Seconds until a flush is due (0 = now), None when nothing waits.
        if self._inflight is not None or self._pending_count >= self.batch_size:
            return 0.0
        if self._oldest is None:
            return None
        return max(0.0, self._oldest + self.max_delay_s - time.monotonic())

    def _run(self) -> None:
        delay = self._retry_delay_s
        while True:
            with self._cond:
                while not self._stop and (wait := self._due()) != 0.0:
                    self._cond.wait(timeout=wait)
                if self._stop:
                    return
            try:
                self._flush_one()
                delay = self._retry_delay_s
            except Exception as exc:  # keep the batch; back off and retry
                self.failed_flushes += 1
                self.last_error = exc
                log.warning("track flush failed (%s); retrying in %.1fs", exc, delay)
                with self._cond:
                    self._cond.wait_for(lambda: self._stop, timeout=delay)
                delay = min(delay * 2, self._max_retry_delay_s)

    def start(self) -> None:
        """Start the background flusher (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="track-flusher", daemon=True)
            self._thread.start()

    def close(self) -> int:
        """Stop the flusher and write what is left; return how many pings that final flush wrote."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.flush()
