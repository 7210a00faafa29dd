"""Outbound webhooks: endpoints, outbox messages and a delivery scheduler with backoff.

Flow: a state change produces events; `outbox_for_order_events` turns them into one
`OutboxMessage` per subscribed endpoint, written in the same transaction as the change (so an
event is never lost nor sent for a change that rolled back). A worker then calls
`WebhookOutbox.run_due` (or, over a database, `due_messages` + `record_attempt`):

- messages of one ordering key (the order id) go to an endpoint one at a time, in sequence
  order: a later event waits until the earlier one is delivered;
- a failure backs the whole endpoint off with exponential backoff and full jitter
  (``uniform(0, min(cap, base * 2**(failures - 1)))``), so a dead receiver costs one request
  per backoff step, not one per message;
- after ``disable_after`` consecutive failures the endpoint is disabled; its messages stay
  pending (nothing is dropped) and flow again, in order, once the tenant re-enables it;
- the body is signed at each attempt (`orders.signatures`), so a message retried an hour
  later still carries a fresh timestamp.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from orders.errors import InvalidWebhookEndpoint
from orders.idempotency import canonical_json
from orders.model import OrderEvent, Problem
from orders.signatures import SIGNATURE_HEADER, signature_header

MIN_SECRET_LENGTH = 16
EVENT_PATTERN_RE = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")
"""A subscription: ``*``, an exact type (``order.delivered``) or a prefix (``payment.*``)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A tenant's webhook receiver and its health.

    ``event_types`` holds exact types (``order.delivered``), prefixes (``order.*``) or ``*``.
    """

    id: str
    tenant: str
    url: str
    secret: str = field(repr=False)
    event_types: frozenset[str]
    enabled: bool = True
    consecutive_failures: int = 0
    retry_at: float = 0.0
    disabled_reason: str | None = None


def new_endpoint(
    endpoint_id: str, tenant: str, url: str, secret: str, event_types: Iterable[str]
) -> Endpoint:
    """Validate and build an endpoint registration.

    Raises
    ------
    InvalidWebhookEndpoint
        Listing every problem (url scheme, short secret, empty or malformed event types).
    """
    types = frozenset(event_types)
    problems: list[Problem] = []
    if not url.startswith(("https://", "http://")):
        problems.append(("url", url, "must be an http(s) URL"))
    if len(secret) < MIN_SECRET_LENGTH:
        problems.append(
            ("secret", "<redacted>", f"must be at least {MIN_SECRET_LENGTH} characters")
        )
    if not types:
        problems.append(("event_types", sorted(types), "subscribe to at least one event type"))
    problems += [
        ("event_types", t, "use an exact type, a 'prefix.*' or '*'")
        for t in sorted(types)
        if not EVENT_PATTERN_RE.match(t)
    ]
    if problems:
        raise InvalidWebhookEndpoint(problems)
    return Endpoint(endpoint_id, tenant, url, secret, types)


def reenabled(endpoint: Endpoint) -> Endpoint:
    """The endpoint once its tenant re-enables it: failures forgotten, nothing to wait for."""
    return replace(
        endpoint, enabled=True, consecutive_failures=0, retry_at=0.0, disabled_reason=None
    )


def subscribed(endpoint: Endpoint, event_type: str) -> bool:
    """Whether ``endpoint`` wants events of ``event_type``."""
    for pattern in endpoint.event_types:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One event for one endpoint. Ids are deterministic so a re-enqueue is a no-op."""

    id: str
    event_id: str
    tenant: str
    endpoint_id: str
    event_type: str
    ordering_key: str
    sequence: int
    body: bytes
    created_at: float


def outbox_for(
    *,
    tenant: str,
    event_type: str,
    ordering_key: str,
    sequence: int,
    data: Mapping[str, Any],
    at: float,
    endpoints: Iterable[Endpoint],
) -> list[OutboxMessage]:
    """Messages for one event, one per endpoint of ``tenant`` subscribed to ``event_type``.

    ``(ordering_key, sequence)`` identifies the event and orders it among its key's events.
    Disabled endpoints get the message too: it waits for them to be re-enabled.
    """
    event_id = f"{ordering_key}:{sequence}"
    body = canonical_json({"id": event_id, "type": event_type, "created": at, "data": dict(data)})
    return [
        OutboxMessage(
            id=f"{event_id}@{ep.id}",
            event_id=event_id,
            tenant=tenant,
            endpoint_id=ep.id,
            event_type=event_type,
            ordering_key=ordering_key,
            sequence=sequence,
            body=body,
            created_at=at,
        )
        for ep in endpoints
        if ep.tenant == tenant and subscribed(ep, event_type)
    ]


class PublishableEvent(Protocol):
    """What the outbox needs from a domain event (`OrderEvent`, `payments.intents.PaymentEvent`)."""

    @property
    def tenant(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> float: ...
    @property
    def ordering_key(self) -> str: ...
    def payload(self) -> dict[str, Any]: ...


def outbox_for_events(
    events: Iterable[PublishableEvent], endpoints: Iterable[Endpoint]
) -> list[OutboxMessage]:
    """Messages for domain events, keyed by their ``ordering_key`` and ordered by ``seq``."""
    eps = list(endpoints)
    out: list[OutboxMessage] = []
    for e in events:
        subs = [ep for ep in eps if ep.tenant == e.tenant and subscribed(ep, e.kind)]
        if not subs:  # no payload or body built: most tenants subscribe to few event types
            continue
        out += outbox_for(
            tenant=e.tenant,
            event_type=e.kind,
            ordering_key=e.ordering_key,
            sequence=e.seq,
            data=e.payload(),
            at=e.at,
            endpoints=subs,
        )
    return out


def outbox_for_order_events(
    events: Iterable[OrderEvent], endpoints: Iterable[Endpoint]
) -> list[OutboxMessage]:
    """Messages for order events (keyed ``order:<id>``, ordered by the event's ``seq``)."""
    return outbox_for_events(events, endpoints)


class MessageStatus(StrEnum):
    """A message waits (``pending``) until one attempt succeeds; it is never dropped."""

    PENDING = "pending"
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """Where one message stands; the store keeps it next to the message."""

    message_id: str
    status: MessageStatus = MessageStatus.PENDING
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered_at: float | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One row of the delivery log."""

    message_id: str
    event_id: str
    event_type: str
    tenant: str
    endpoint_id: str
    ordering_key: str
    number: int
    at: float
    ok: bool
    status_code: int | None
    error: str | None
    next_attempt_at: float | None = None
    """When the message is tried again (None once delivered)."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a worker took from the store to send now, with its state and endpoint."""

    message: OutboxMessage
    state: DeliveryState
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, and when to give up on an endpoint.

    The defaults retry within seconds at first and then about every 5 minutes (cap 10 min), so
    an hour of downtime is about 20 failures, far below ``disable_after`` (about 16 hours).
    """

    base_s: float = 2.0
    cap_s: float = 600.0
    disable_after: int = 100

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Delay before the next try after ``failures`` consecutive failures (>= 1)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 60))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What the sender must POST."""

    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the sender saw: an HTTP status, or a transport error."""

    status_code: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer; anything else (3xx included) is retried."""
        return self.status_code is not None and 200 <= self.status_code < 300


Sender = Callable[[WebhookRequest], SendResult]
"""Performs the HTTP POST (the api provides the real one); must not raise, but may."""


def build_request(
    message: OutboxMessage, endpoint: Endpoint, *, now: float, attempt: int
) -> WebhookRequest:
    """The signed request for one attempt."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(endpoint.secret, int(now), message.body),
        "Hexdispatch-Event-Id": message.event_id,
        "Hexdispatch-Event-Type": message.event_type,
        "Hexdispatch-Delivery-Attempt": str(attempt),
    }
    return WebhookRequest(endpoint.url, headers, message.body)


def due_messages(
    messages: Iterable[OutboxMessage],
    states: Mapping[str, DeliveryState],
    endpoints: Mapping[str, Endpoint],
    *,
    now: float,
) -> list[OutboxMessage]:
    """The messages to try now: the head of each (endpoint, ordering key) queue, if due.

    A queue's head is its pending message of lowest sequence; nothing behind it is due, which
    is what keeps per-order order. Disabled or backing-off endpoints have nothing due.
    """
    heads: dict[tuple[str, str], OutboxMessage] = {}
    for m in messages:
        state = states.get(m.id)
        if state is not None and state.status is MessageStatus.DELIVERED:
            continue
        slot = (m.endpoint_id, m.ordering_key)
        if slot not in heads or m.sequence < heads[slot].sequence:
            heads[slot] = m
    due: list[OutboxMessage] = []
    for m in heads.values():
        ep = endpoints.get(m.endpoint_id)
        state = states.get(m.id)
        if ep is None or not ep.enabled or ep.retry_at > now:
            continue
        if state is None or state.next_attempt_at <= now:
            due.append(m)
    due.sort(key=lambda m: (m.created_at, m.ordering_key, m.sequence))
    return due


def record_attempt(
    message: OutboxMessage,
    state: DeliveryState | None,
    endpoint: Endpoint,
    result: SendResult,
    *,
    now: float,
    policy: RetryPolicy,
    rng: random.Random,
) -> tuple[DeliveryState, Endpoint, Attempt]:
    """Fold one attempt's result into the message state, the endpoint health and the log."""
    state = state or DeliveryState(message.id)
    number = state.attempts + 1
    error = None if result.ok else (result.error or f"HTTP {result.status_code}")
    log = Attempt(
        message_id=message.id,
        event_id=message.event_id,
        event_type=message.event_type,
        tenant=message.tenant,
        endpoint_id=endpoint.id,
        ordering_key=message.ordering_key,
        number=number,
        at=now,
        ok=result.ok,
        status_code=result.status_code,
        error=error,
    )
    if result.ok:
        done = replace(
            state,
            status=MessageStatus.DELIVERED,
            attempts=number,
            delivered_at=now,
            last_error=None,
        )
        healthy = replace(endpoint, consecutive_failures=0, retry_at=0.0)
        return done, healthy, log
    failures = endpoint.consecutive_failures + 1
    retry_at = now + policy.backoff(failures, rng)
    log = replace(log, next_attempt_at=retry_at)
    disabled = failures >= policy.disable_after
    sick = replace(
        endpoint,
        consecutive_failures=failures,
        retry_at=retry_at,
        enabled=endpoint.enabled and not disabled,
        disabled_reason=f"{failures} consecutive failures"
        if disabled
        else endpoint.disabled_reason,
    )
    waiting = replace(state, attempts=number, next_attempt_at=retry_at, last_error=error)
    return waiting, sick, log


def query_log(
    attempts: Iterable[Attempt],
    *,
    tenant: str | None = None,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    ordering_key: str | None = None,
    ok: bool | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[Attempt]:
    """Filter delivery-log rows; every given criterion must hold (``until`` is exclusive)."""
    return [
        a
        for a in attempts
        if (tenant is None or a.tenant == tenant)
        and (endpoint_id is None or a.endpoint_id == endpoint_id)
        and (event_id is None or a.event_id == event_id)
        and (ordering_key is None or a.ordering_key == ordering_key)
        and (ok is None or a.ok == ok)
        and (since is None or a.at >= since)
        and (until is None or a.at < until)
    ]


class WebhookOutbox:
    """In-memory outbox and worker: the embedded store's implementation, and the reference.

    Parameters
    ----------
    sender
        Performs one HTTP request.
    clock
        UTC epoch seconds.
    rng
        Jitter source; seed it for reproducible schedules.
    """

    def __init__(
        self,
        sender: Sender,
        *,
        clock: Callable[[], float],
        rng: random.Random | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.sender = sender
        self.clock = clock
        self.rng = rng or random.Random(0)
        self.policy = policy or RetryPolicy()
        self.endpoints: dict[str, Endpoint] = {}
        self.messages: dict[str, OutboxMessage] = {}
        self.states: dict[str, DeliveryState] = {}
        self.log: list[Attempt] = []

    def register(self, endpoint: Endpoint) -> None:
        """Add or replace an endpoint."""
        self.endpoints[endpoint.id] = endpoint

    def enable(self, endpoint_id: str) -> Endpoint:
        """Re-enable an endpoint (tenant action): failures reset, pending messages resume."""
        ep = reenabled(self.endpoints[endpoint_id])
        self.endpoints[endpoint_id] = ep
        for m in self.messages.values():
            state = self.states.get(m.id)
            if m.endpoint_id == endpoint_id and state is not None:
                self.states[m.id] = replace(state, next_attempt_at=0.0)
        return ep

    def add(self, messages: Iterable[OutboxMessage]) -> None:
        """Enqueue messages; an id already present is left as it is."""
        for m in messages:
            self.messages.setdefault(m.id, m)

    def pending(self, endpoint_id: str | None = None) -> list[OutboxMessage]:
        """Messages not yet delivered."""
        return [
            m
            for m in self.messages.values()
            if (endpoint_id is None or m.endpoint_id == endpoint_id)
            and self.states.get(m.id, DeliveryState(m.id)).status is MessageStatus.PENDING
        ]

    def next_wake(self) -> float | None:
        """Earliest time something may become due (None when nothing can be sent)."""
        times = []
        for m in self.pending():
            ep = self.endpoints.get(m.endpoint_id)
            if ep is not None and ep.enabled:
                state = self.states.get(m.id)
                times.append(max(ep.retry_at, state.next_attempt_at if state else 0.0))
        return min(times, default=None)

    def run_due(self) -> list[Attempt]:
        """Try every due message once; returns the attempts made."""
        now = self.clock()
        made: list[Attempt] = []
        for m in due_messages(self.messages.values(), self.states, self.endpoints, now=now):
            ep = self.endpoints[m.endpoint_id]
            if not ep.enabled or ep.retry_at > now:
                continue  # failed earlier in this pass: it is backing off now
            state = self.states.get(m.id)
            request = build_request(m, ep, now=now, attempt=(state.attempts if state else 0) + 1)
            try:
                result = self.sender(request)
            except Exception as exc:  # the sender is I/O: any failure is a failed attempt
                result = SendResult(None, f"{type(exc).__name__}: {exc}")
            new_state, new_ep, attempt = record_attempt(
                m, state, ep, result, now=now, policy=self.policy, rng=self.rng
            )
            self.states[m.id] = new_state
            self.endpoints[ep.id] = new_ep
            self.log.append(attempt)
            made.append(attempt)
        return made

    def query_log(self, **criteria: Any) -> list[Attempt]:
        """`query_log` over this outbox's attempts."""
        return query_log(self.log, **criteria)
