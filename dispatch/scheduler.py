"""Batching loop: run a dispatch every window (default 2 s) or at once on demand."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from dispatch.errors import InvalidParams

DEFAULT_WINDOW_S = 2.0

log = logging.getLogger(__name__)


class BatchScheduler:
    """Call ``run`` once per window, or as soon as `trigger` asks for it.

    `tick` does one step against the injected clock, so tests drive it without threads or
    sleeps; `start` runs the same step in a daemon thread until `stop`.

    Parameters
    ----------
    run
        The work of one batch, e.g. `dispatch.dispatcher.Dispatcher.run_once`.
    window_s
        Seconds between runs.
    clock
        Monotonic seconds.
    """

    def __init__(
        self,
        run: Callable[[], object],
        *,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not math.isfinite(window_s) or window_s <= 0:
            raise InvalidParams([("window_s", window_s, "must be positive and finite")])
        self._run = run
        self.window_s = window_s
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_due = clock() + window_s
        self.runs = 0
        self.failures = 0
        self.last_error: BaseException | None = None

    def trigger(self) -> None:
        """Ask for a run now (e.g. ``POST /v1/dispatch/run``)."""
        self._wake.set()

    def tick(self) -> bool:
        """Run if the window has elapsed or a run was asked for; True when it ran.

        A failing run is logged and counted, and the loop goes on with the next window.
        """
        now = self._clock()
        if not self._wake.is_set() and now < self.next_due:
            return False
        self._wake.clear()
        self.next_due = now + self.window_s
        try:
            self._run()
        except Exception as err:
            self.failures += 1
            self.last_error = err
            log.exception("dispatch run failed")
        self.runs += 1
        return True

    def start(self) -> None:
        """Run `tick` in a daemon thread until `stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="dispatch-batches", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread after the run in progress, if any."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(max(0.0, self.next_due - self._clock()))
            if self._stop.is_set():
                break
            self.tick()
