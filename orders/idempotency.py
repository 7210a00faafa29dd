"""Idempotency-Key semantics per tenant: request fingerprints, replay, conflict.

The rule (as Stripe and the IETF Idempotency-Key draft define it): the first request with a
key runs and its result is kept; a later request with the same key and the same fingerprint
(method, path, canonical body) gets that result again without running; the same key with a
different fingerprint is an `IdempotencyConflict`. A request that raises keeps nothing, so the
client may retry it with the same key.

`decide` is the pure rule. `InMemoryIdempotency` is the reference implementation (the embedded
store's); the PostGIS store implements the same `execute` contract with a unique constraint on
``(tenant, key)`` and the record inserted in the transaction that creates the order.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from orders.errors import IdempotencyConflict, InvalidIdempotencyKey

R = TypeVar("R")

DEFAULT_TTL_S = 24 * 3600.0
"""How long a key is remembered; a reuse after that runs the request again."""

MAX_KEY_LENGTH = 255


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no insignificant whitespace (UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def fingerprint(method: str, path: str, body: bytes | str | None) -> str:
    """SHA-256 hex of the canonical JSON of ``{method, path, body}``.

    A body that parses as JSON is canonicalized first, so key order and whitespace do not
    change the fingerprint; any other body is hashed as its raw bytes.
    """
    raw = body.encode() if isinstance(body, str) else body
    parsed: Any
    if raw is None or raw == b"":
        parsed = None
    else:
        try:
            parsed = {"json": json.loads(raw)}
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = {"sha256": hashlib.sha256(raw).hexdigest()}
    doc = {"method": method.upper(), "path": path, "body": parsed}
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def validate_key(key: str) -> str:
    """Return ``key`` when it is 1..255 printable ASCII characters, else raise."""
    if not key:
        raise InvalidIdempotencyKey(key, "must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(key[:40] + "...", f"longer than {MAX_KEY_LENGTH} characters")
    if not all(" " < ch <= "~" for ch in key):
        raise InvalidIdempotencyKey(key, "must be printable ASCII without spaces")
    return key


@dataclass(frozen=True, slots=True)
class IdempotencyRecord(Generic[R]):
    """What is kept per ``(tenant, key)``: the fingerprint and the first result."""

    tenant: str
    key: str
    fingerprint: str
    result: R
    created_at: float


class Decision(StrEnum):
    """What to do with a request given the record already kept for its key."""

    RUN = "run"
    REPLAY = "replay"
    CONFLICT = "conflict"


def decide(
    record: IdempotencyRecord[Any] | None,
    request_fingerprint: str,
    *,
    now: float,
    ttl_s: float = DEFAULT_TTL_S,
) -> Decision:
    """The pure rule: run when there is no live record, replay on a match, else conflict."""
    if record is None or now - record.created_at >= ttl_s:
        return Decision.RUN
    if record.fingerprint == request_fingerprint:
        return Decision.REPLAY
    return Decision.CONFLICT


@dataclass(frozen=True, slots=True)
class Outcome(Generic[R]):
    """A result and whether it was replayed from an earlier request."""

    result: R
    replayed: bool


class InMemoryIdempotency(Generic[R]):
    """Reference implementation: one lock per key, so concurrent requests run once.

    Requests with different keys do not wait for each other; requests with one key queue on
    that key's lock, and all but the first replay its result.
    """

    def __init__(self, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._records: dict[tuple[str, str], IdempotencyRecord[R]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, slot: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(slot, threading.Lock())

    def get(self, tenant: str, key: str) -> IdempotencyRecord[R] | None:
        """The record kept for a key, if any (expired ones included)."""
        return self._records.get((tenant, key))

    def execute(
        self,
        tenant: str,
        key: str,
        request_fingerprint: str,
        operation: Callable[[], R],
        *,
        now: float,
    ) -> Outcome[R]:
        """Run ``operation`` once per ``(tenant, key)`` and replay its result afterwards.

        Raises
        ------
        IdempotencyConflict
            The key was used with a different fingerprint.
        InvalidIdempotencyKey
            The key is empty, too long or not printable ASCII.
        """
        slot = (tenant, validate_key(key))
        with self._lock_for(slot):
            record = self._records.get(slot)
            decision = decide(record, request_fingerprint, now=now, ttl_s=self.ttl_s)
            if decision is Decision.CONFLICT:
                raise IdempotencyConflict(tenant, key)
            if decision is Decision.REPLAY and record is not None:
                return Outcome(record.result, replayed=True)
            result = operation()
            self._records[slot] = IdempotencyRecord(tenant, key, request_fingerprint, result, now)
            return Outcome(result, replayed=False)

    def purge(self, *, now: float) -> int:
        """Forget expired records; returns how many went."""
        with self._guard:
            stale = [s for s, r in self._records.items() if now - r.created_at >= self.ttl_s]
            for slot in stale:
                del self._records[slot]
                self._locks.pop(slot, None)
        return len(stale)
