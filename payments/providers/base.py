"""The provider adapter interface and what the sandboxes share (callback queue, signing)."""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orders.errors import SignatureInvalid
from orders.signatures import signature_header, verify
from payments.errors import ProviderRefused
from payments.intents import PaymentIntent, PaymentMethod, ProviderUpdate


class PaymentProvider(Protocol):
    """What the API needs from a payment provider; every answer is a `ProviderUpdate`.

    Synchronous answers are applied with `payments.intents.apply_update` like callbacks are,
    so "the capture call returned" and "the capture webhook arrived" are one code path.
    """

    name: str
    method: PaymentMethod

    def initiate(self, intent: PaymentIntent, *, payer: str | None = None) -> ProviderUpdate:
        """Start collecting ``intent`` (STK push, card authorization, cash order)."""
        ...

    def capture(self, provider_ref: str, amount_minor: int) -> ProviderUpdate:
        """Capture an authorized amount (card)."""
        ...

    def refund(self, provider_ref: str, refund_id: str, amount_minor: int) -> ProviderUpdate | None:
        """Return money; None when the confirmation comes later by callback.

        ``refund_id`` is the idempotency key: asking twice refunds once.
        """
        ...

    def cancel(self, provider_ref: str) -> ProviderUpdate:
        """Stop an open payment (void an authorization, abandon a push)."""
        ...

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> ProviderUpdate:
        """Verify a callback's signature and normalize it.

        Raises
        ------
        orders.errors.SignatureInvalid
            Bad or stale signature (the API answers 400; the provider retries).
        """
        ...


@dataclass(frozen=True, slots=True)
class SignedCallback:
    """An HTTP callback a provider would POST to us: headers and raw body."""

    headers: Mapping[str, str]
    body: bytes


class Sandbox:
    """Shared sandbox machinery: seeded ids and randomness, a clock, a callback queue.

    Parameters
    ----------
    secret
        Shared secret the callbacks are signed with (HMAC-SHA256, `orders.signatures`).
    clock
        UTC epoch seconds; nothing here reads the wall clock.
    seed
        Seeds ids, outcomes and delays, so a run is reproducible.
    """

    name = "sandbox"
    signature_header = "Sandbox-Signature"

    def __init__(self, *, secret: str, clock: Callable[[], float], seed: int = 0) -> None:
        self.secret = secret
        self.clock = clock
        self.rng = random.Random(seed)
        self._queue: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = 0

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.getrandbits(64):016x}"

    def _schedule(self, delay_s: float, payload: dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.clock() + delay_s, self._seq, payload))

    def _refuse(self, field: str, value: Any, reason: str) -> ProviderRefused:
        return ProviderRefused(self.name, field, value, reason)

    def next_callback_at(self) -> float | None:
        """When the next callback is due, if any."""
        return self._queue[0][0] if self._queue else None

    def due_callbacks(self) -> list[SignedCallback]:
        """Callbacks due by now, signed now (as the provider would send them)."""
        now = self.clock()
        out = []
        while self._queue and self._queue[0][0] <= now:
            _, _, payload = heapq.heappop(self._queue)
            body = json.dumps(payload, sort_keys=True).encode()
            header = signature_header(self.secret, int(now), body)
            out.append(SignedCallback({self.signature_header: header}, body))
        return out

    def _verified_json(self, headers: Mapping[str, str], body: bytes, now: float) -> Any:
        lowered = {k.lower(): v for k, v in headers.items()}
        header = lowered.get(self.signature_header.lower())
        if header is None:
            raise SignatureInvalid(f"no {self.signature_header} header")
        verify(self.secret, body, header, now=now)
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise SignatureInvalid(f"body is not JSON: {exc}") from None
