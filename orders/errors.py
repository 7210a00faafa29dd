"""Typed errors of the order domain; each names the offending field and value."""

from __future__ import annotations

from typing import Any

from geo.errors import FieldProblems


class OrdersError(ValueError):
    """Base of every error raised by `orders`."""


class InvalidFields(FieldProblems, OrdersError):
    """Fields that fail validation; every problem is reported at once (``problems``)."""


class InvalidOrder(InvalidFields):
    """Order fields that fail validation."""

    what = "order"


class IllegalTransition(OrdersError):
    """A state change the lifecycle does not allow (``subject`` names the kind of record)."""

    subject = "order"

    def __init__(self, record_id: str, from_state: str, to_state: str) -> None:
        self.record_id = record_id
        self.from_state = from_state
        self.to_state = to_state
        self.field = "state"
        self.value = to_state
        super().__init__(
            f"{self.subject} {record_id!r}: illegal transition {from_state} -> {to_state}"
        )


class WrongCourier(OrdersError):
    """A courier acting on an order that is offered or assigned to another courier."""

    def __init__(self, order_id: str, expected: str | None, value: str) -> None:
        self.order_id = order_id
        self.expected = expected
        self.field = "courier_id"
        self.value = value
        super().__init__(
            f"order {order_id!r}: courier_id={value!r} is not the order's courier ({expected!r})"
        )


class ProofOfDeliveryRejected(OrdersError):
    """Proof of delivery that is missing, malformed or does not match the order (wrong PIN)."""

    def __init__(self, order_id: str, field: str, reason: str) -> None:
        self.order_id = order_id
        self.field = field
        self.value = "<redacted>" if field == "pin" else None
        self.reason = reason
        super().__init__(f"order {order_id!r}: proof of delivery {field}: {reason}")


class IdempotencyConflict(OrdersError):
    """An Idempotency-Key reused with a different request (method, path or body)."""

    def __init__(self, tenant: str, key: str) -> None:
        self.tenant = tenant
        self.field = "Idempotency-Key"
        self.value = key
        super().__init__(
            f"tenant {tenant!r}: Idempotency-Key={key!r} was already used with a different request"
        )


class InvalidIdempotencyKey(OrdersError):
    """An Idempotency-Key that is empty, too long or not printable ASCII."""

    def __init__(self, value: str, reason: str) -> None:
        self.field = "Idempotency-Key"
        self.value = value
        super().__init__(f"invalid Idempotency-Key={value!r}: {reason}")


class SignatureInvalid(OrdersError):
    """A webhook signature header that is malformed or does not match the body."""

    def __init__(self, reason: str, value: Any = None) -> None:
        self.field = "signature"
        self.value = value
        self.reason = reason
        super().__init__(f"invalid webhook signature: {reason}")


class SignatureExpired(SignatureInvalid):
    """A well-formed webhook signature whose timestamp is outside the tolerance."""

    def __init__(self, timestamp: int, now: float, tolerance_s: float) -> None:
        self.timestamp = timestamp
        super().__init__(
            f"timestamp {timestamp} is {abs(now - timestamp):.0f} s from now "
            f"(tolerance {tolerance_s:g} s)",
            timestamp,
        )


class InvalidWebhookEndpoint(InvalidFields):
    """A webhook endpoint registration with a bad url, secret or event type."""

    what = "webhook endpoint"


class UnsafeWebhookUrl(InvalidWebhookEndpoint):
    """A webhook URL that points into the server's own network (SSRF), or is not http(s)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__([("url", url, reason)])


class ConcurrentUpdate(OrdersError):
    """A write based on a stale version (someone else changed the record first).

    Raised by the store when ``version - 1`` is no longer the stored version; the API answers
    409 and the client (or the engine) reloads and retries.
    """

    def __init__(self, kind: str, record_id: str, expected_version: int, found: int | None) -> None:
        self.kind = kind
        self.record_id = record_id
        self.field = "version"
        self.value = expected_version
        self.found = found
        super().__init__(
            f"{kind} {record_id!r}: expected stored version {expected_version}, found {found}"
        )


class IdempotencyTaken(OrdersError):
    """The store's ``(tenant, key)`` insert lost a race to a concurrent request.

    Raised by `payments.changeset.ChangeSink.commit`; nothing was written, and the API re-reads
    the key's record to replay it or report a conflict.
    """

    def __init__(self, tenant: str, key: str) -> None:
        self.tenant = tenant
        self.field = "Idempotency-Key"
        self.value = key
        super().__init__(
            f"tenant {tenant!r}: Idempotency-Key={key!r} taken by a concurrent request"
        )


class PinLocked(OrdersError):
    """Too many wrong delivery PINs for an order: no more PIN attempts are taken."""

    def __init__(self, order_id: str, failures: int) -> None:
        self.order_id = order_id
        self.failures = failures
        self.field = "pin"
        self.value = "<redacted>"
        self.reason = f"locked after {failures} wrong PINs"
        super().__init__(f"order {order_id!r}: proof of delivery pin: {self.reason}")
