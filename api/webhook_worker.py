"""The webhook delivery worker: claims due outbox messages, signs, POSTs, records each attempt.

The outbox is written by the store in the transaction of each state change; this worker only
reads it. Per pass it claims up to ``batch`` due messages (heads of their (endpoint, order)
queues, so event k+1 of an order is never sent before event k succeeded), sends each
endpoint's messages one after another (endpoints in parallel, at most ``concurrency`` at a
time), and records every attempt with `orders.webhooks.record_attempt` (backoff with jitter,
disabling after ``policy.disable_after`` consecutive failures).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import httpx2

from api.webhook_targets import target_refusal
from orders.webhooks import (
    Attempt,
    Claimed,
    RetryPolicy,
    SendResult,
    WebhookRequest,
    build_request,
    record_attempt,
)
from store.interface import Store

log = logging.getLogger(__name__)


class WebhookWorker:
    """Delivers webhooks from ``store`` until cancelled (`run`), or one pass at a time.

    Parameters
    ----------
    store
        Where the outbox, endpoints and delivery log live.
    clock
        UTC epoch seconds: signing time, due times and backoff are all read from it, so a test
        can move it an hour on without sleeping.
    client
        The HTTP client (one is made, and closed by `aclose`, when omitted).
    policy
        Backoff and when to disable an endpoint.
    batch, lease_s, concurrency, timeout_s, poll_s
        Messages claimed per pass; how long a claimed message is hidden from other workers;
        endpoints served at once; per-request timeout; idle wait between passes.
    allow_private_hosts
        Send to loopback / private hosts too; otherwise each URL is resolved again before a
        send (`api.webhook_targets`) and a refused one is a failed attempt.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float],
        client: httpx2.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        batch: int = 100,
        lease_s: float = 60.0,
        concurrency: int = 8,
        timeout_s: float = 10.0,
        poll_s: float = 1.0,
        allow_private_hosts: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self._own_client = client is None
        self.client = client or httpx2.AsyncClient(follow_redirects=False)
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.batch = batch
        self.lease_s = lease_s
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.allow_private_hosts = allow_private_hosts
        self._slots = asyncio.Semaphore(concurrency)

    async def run_once(self) -> list[Attempt]:
        """Claim what is due now, send it, record it; the attempts made."""
        claimed = await asyncio.to_thread(
            self.store.claim_webhook_messages,
            self.clock(),
            limit=self.batch,
            lease_s=self.lease_s,
        )
        by_endpoint: dict[str, list[Claimed]] = {}
        for c in claimed:
            by_endpoint.setdefault(c.endpoint.id, []).append(c)
        done = await asyncio.gather(*(self._serve(items) for items in by_endpoint.values()))
        return [a for attempts in done for a in attempts]

    async def _serve(self, items: list[Claimed]) -> list[Attempt]:
        """One endpoint's claimed messages in order; after a failure the endpoint backs off
        and the rest are given back unsent."""
        async with self._slots:
            endpoint = items[0].endpoint
            made: list[Attempt] = []
            for k, c in enumerate(items):
                request = build_request(
                    c.message, endpoint, now=self.clock(), attempt=c.state.attempts + 1
                )
                result = await self._send(request)
                state, endpoint, attempt = record_attempt(
                    c.message,
                    c.state,
                    endpoint,
                    result,
                    now=self.clock(),
                    policy=self.policy,
                    rng=self.rng,
                )
                await asyncio.to_thread(self.store.record_webhook_attempt, state, endpoint, attempt)
                made.append(attempt)
                if not attempt.ok:
                    rest = [x.message.id for x in items[k + 1 :]]
                    if rest:
                        await asyncio.to_thread(self.store.release_webhook_messages, rest)
                    break
            return made

    async def _send(self, request: WebhookRequest) -> SendResult:
        # Registration checked the URL, but its host may resolve elsewhere by now.
        refusal = await asyncio.to_thread(
            target_refusal, request.url, allow_private_hosts=self.allow_private_hosts
        )
        if refusal is not None:
            return SendResult(None, f"refused: url {refusal}")
        try:
            response = await self.client.post(
                request.url,
                content=request.body,
                headers=dict(request.headers),
                timeout=self.timeout_s,
            )
        except Exception as exc:  # the receiver's side of I/O: any failure is a failed attempt
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(response.status_code)

    async def run(self) -> None:
        """Deliver until cancelled; a pass that found nothing waits ``poll_s``."""
        while True:
            try:
                made = await self.run_once()
            except Exception:  # the store may be down for a while: keep the worker alive
                log.exception("webhook delivery pass failed")
                made = []
            if not made:
                await asyncio.sleep(self.poll_s)

    async def aclose(self) -> None:
        """Close the HTTP client if this worker made it."""
        if self._own_client:
            await self.client.aclose()
