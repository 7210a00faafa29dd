"""Live-state fan-out: tenant-scoped topics, per-courier coalescing and bounded queues."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

Topic = tuple[str, str, Hashable]
"""``(tenant, kind, key)``: kind is ``cell``, ``courier`` or ``order``; the tenant is part of the
key so that no publication of one tenant can reach a subscriber of another."""

Message = dict[str, Any]

CLOSE_SLOW_CONSUMER = 4008
"""Websocket close code for a subscriber whose event queue overflowed."""


@dataclass(eq=False)
class Subscriber:
    """One live consumer (a console or a driver connection) and what is waiting for it.

    Positions are coalesced per courier: a consumer that drains slowly gets each courier's latest
    position, never a backlog. Other events (order changes, fence events, offers) are kept in
    order in a bounded queue; overflowing it marks the subscriber as overflowed, and its
    connection is closed with `CLOSE_SLOW_CONSUMER` rather than allowed to grow without bound.
    """

    tenant: str
    max_queue: int = 1000
    wakeup: Callable[[], None] | None = None
    accept: Callable[[Message], bool] | None = None
    topics: set[Topic] = field(default_factory=set)
    positions: dict[Hashable, Message] = field(default_factory=dict)
    events: deque[Message] = field(default_factory=deque)
    overflowed: bool = False
    dropped_positions: int = 0

    def pending(self) -> int:
        return len(self.positions) + len(self.events)


class Hub:
    """Topic registry and publisher; thread-safe, no I/O.

    Parameters
    ----------
    max_queue
        Default bound of a subscriber's event queue.
    """

    def __init__(self, max_queue: int = 1000) -> None:
        self.max_queue = max_queue
        self._lock = threading.Lock()
        self._by_topic: dict[Topic, set[Subscriber]] = {}

    def subscribe(
        self,
        tenant: str,
        *,
        wakeup: Callable[[], None] | None = None,
        accept: Callable[[Message], bool] | None = None,
        max_queue: int | None = None,
    ) -> Subscriber:
        """Register a consumer with no topics yet; ``accept`` can narrow what it receives."""
        return Subscriber(
            tenant=tenant,
            max_queue=self.max_queue if max_queue is None else max_queue,
            wakeup=wakeup,
            accept=accept,
        )

    def set_topics(self, sub: Subscriber, kinds_keys: Iterable[tuple[str, Hashable]]) -> None:
        """Replace the subscriber's topics; the tenant always comes from the subscriber."""
        wanted = {(sub.tenant, kind, key) for kind, key in kinds_keys}
        with self._lock:
            for topic in sub.topics - wanted:
                members = self._by_topic.get(topic)
                if members is not None:
                    members.discard(sub)
                    if not members:
                        del self._by_topic[topic]
            for topic in wanted - sub.topics:
                self._by_topic.setdefault(topic, set()).add(sub)
            sub.topics = wanted

    def unsubscribe(self, sub: Subscriber) -> None:
        self.set_topics(sub, ())

    def subscriber_count(self) -> int:
        with self._lock:
            return len({s for members in self._by_topic.values() for s in members})

    def _targets(self, tenant: str, topics: Iterable[tuple[str, Hashable]]) -> set[Subscriber]:
        found: set[Subscriber] = set()
        for kind, key in topics:
            members = self._by_topic.get((tenant, kind, key))
            if members:
                found |= members
        return found

    def publish_position(
        self,
        tenant: str,
        courier_id: Hashable,
        topics: Iterable[tuple[str, Hashable]],
        msg: Message,
    ) -> int:
        """Publish a courier's latest state; replaces any position of it not yet drained.

        Returns
        -------
        int
            How many subscribers it reached.
        """
        woken: list[Callable[[], None]] = []
        with self._lock:
            targets = self._targets(tenant, topics)
            for sub in targets:
                if sub.accept is not None and not sub.accept(msg):
                    continue
                if courier_id in sub.positions:
                    sub.dropped_positions += 1
                sub.positions[courier_id] = msg
                if sub.wakeup is not None:
                    woken.append(sub.wakeup)
        for wake in woken:
            wake()
        return len(targets)

    def publish_event(
        self, tenant: str, topics: Iterable[tuple[str, Hashable]], msg: Message
    ) -> int:
        """Publish an event that must not be coalesced (order change, fence event, offer)."""
        woken: list[Callable[[], None]] = []
        with self._lock:
            targets = self._targets(tenant, topics)
            for sub in targets:
                if sub.overflowed or (sub.accept is not None and not sub.accept(msg)):
                    continue
                if len(sub.events) >= sub.max_queue:
                    sub.overflowed = True
                else:
                    sub.events.append(msg)
                if sub.wakeup is not None:
                    woken.append(sub.wakeup)
        for wake in woken:
            wake()
        return len(targets)

    def drain(self, sub: Subscriber) -> list[Message]:
        """Take everything waiting for a subscriber: events in order, then latest positions."""
        with self._lock:
            out = list(sub.events)
            out.extend(sub.positions.values())
            sub.events.clear()
            sub.positions.clear()
        return out
