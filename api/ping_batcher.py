"""Driver pings from every connection, applied together once per event-loop iteration."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from api.messages import WirePing
from api.outbound import PingResult

Item = tuple[str, str, Sequence[WirePing]]
"""``(tenant, courier, pings)``: one driver message."""
Outcome = list[PingResult] | Exception


class PingSink(Protocol):
    """Where driver messages go: this batcher (embedded) or `scaling.gateway.Gateway`."""

    async def ingest(
        self, tenant: str, courier_id: str, pings: Sequence[WirePing]
    ) -> list[PingResult]: ...


class PingBatcher:
    """Collects the driver messages decoded during one loop iteration and applies them in one
    call, so the live index's per-call cost is shared by every connection that sent pings.

    Parameters
    ----------
    apply
        Applies items in order and returns, per item, its per-ping results or the error that
        refused it (`api.runtime.Runtime.ingest_many`).
    delay_s
        How long the first message of a batch waits for others (0: to the end of the current
        loop iteration). A few milliseconds make batches of many couriers, and the index's
        cost per batch grows with the most pings any one courier has in it, not with the
        number of couriers.
    """

    def __init__(
        self, apply: Callable[[Sequence[Item]], list[Outcome]], delay_s: float = 0.0
    ) -> None:
        self.apply = apply
        self.delay_s = delay_s
        self._pending: list[tuple[Item, asyncio.Future[list[PingResult]]]] = []

    async def ingest(
        self, tenant: str, courier_id: str, pings: Sequence[WirePing]
    ) -> list[PingResult]:
        """The per-ping results of one message, once the batch it joined has been applied."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[PingResult]] = loop.create_future()
        if not self._pending:
            # runs after every callback already queued in this iteration (the other
            # connections' reads, whose messages join this batch), or after the delay
            if self.delay_s > 0:
                loop.call_later(self.delay_s, self._flush)
            else:
                loop.call_soon(self._flush)
        self._pending.append(((tenant, courier_id, pings), future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            outcomes = self.apply([item for item, _ in batch])
        except Exception as exc:  # a bug in apply must not leave connections waiting forever
            outcomes = [exc] * len(batch)
        resolve(zip([future for _, future in batch], outcomes, strict=True))


def resolve(replies: Iterable[tuple[asyncio.Future[list[PingResult]], Outcome]]) -> None:
    """Answer each waiting message with its results or its error (unless it gave up)."""
    for future, outcome in replies:
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
