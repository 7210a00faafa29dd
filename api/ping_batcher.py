"""Driver pings from every connection, applied together once per event-loop iteration."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from api.messages import WirePing

Item = tuple[str, str, Sequence[WirePing]]
"""``(tenant, courier, pings)``: one driver message."""
Outcome = list[dict[str, Any]] | Exception


class PingBatcher:
    """Collects the driver messages decoded during one loop iteration and applies them in one
    call, so the live index's per-call cost is shared by every connection that sent pings.

    Parameters
    ----------
    apply
        Applies items in order and returns, per item, its per-ping results or the error that
        refused it (`api.runtime.Runtime.ingest_many`).
    """

    def __init__(self, apply: Callable[[Sequence[Item]], list[Outcome]]) -> None:
        self.apply = apply
        self._pending: list[tuple[Item, asyncio.Future[list[dict[str, Any]]]]] = []

    async def ingest(
        self, tenant: str, courier_id: str, pings: Sequence[WirePing]
    ) -> list[dict[str, Any]]:
        """The per-ping results of one message, once the batch it joined has been applied."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        if not self._pending:
            # runs after every callback already queued in this iteration: those are the other
            # connections' reads, whose messages join this batch
            loop.call_soon(self._flush)
        self._pending.append(((tenant, courier_id, pings), future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            outcomes = self.apply([item for item, _ in batch])
        except Exception as exc:  # a bug in apply must not leave connections waiting forever
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
