"""Typed errors of payments and the ledger; each names the offending field and value."""

from __future__ import annotations

from typing import Any

from orders.errors import IllegalTransition, InvalidFields


class PaymentsError(ValueError):
    """Base of every error raised by `payments`."""


class InvalidPayment(InvalidFields, PaymentsError):
    """Payment intent fields that fail validation (method, amount, currency)."""

    what = "payment"


class IllegalPaymentTransition(IllegalTransition, PaymentsError):
    """A payment state change the intent state machine does not allow."""

    subject = "payment"


class RefundExceedsCapture(PaymentsError):
    """A refund larger than what was captured and not yet refunded."""

    def __init__(self, intent_id: str, value: int, refundable: int) -> None:
        self.intent_id = intent_id
        self.field = "amount_minor"
        self.value = value
        self.refundable = refundable
        super().__init__(
            f"payment {intent_id!r}: refund amount_minor={value} exceeds refundable {refundable}"
        )


class ProviderMismatch(PaymentsError):
    """A provider update that names another intent, amount or currency than the one it hits."""

    def __init__(self, intent_id: str, field: str, value: Any, expected: Any) -> None:
        self.intent_id = intent_id
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"payment {intent_id!r}: {field}={value!r}, expected {expected!r}")


class CallbackRejected(PaymentsError):
    """A provider callback that cannot be applied yet (the provider retries it later)."""

    def __init__(self, intent_id: str, field: str, value: Any, reason: str) -> None:
        self.intent_id = intent_id
        self.field = field
        self.value = value
        super().__init__(f"payment {intent_id!r}: callback {field}={value!r}: {reason}")


class LedgerError(PaymentsError):
    """Base of the ledger's errors."""


class InvalidEntry(InvalidFields, LedgerError):
    """A journal entry refused by the ledger; ``problems`` lists every offending line."""

    what = "journal entry"


class NonIntegerAmount(InvalidEntry):
    """Posting amounts that are not integers of minor units (floats, bools, decimals)."""


class MixedCurrencies(InvalidEntry):
    """Postings of one entry in more than one currency."""


class UnbalancedEntry(InvalidEntry):
    """Postings that do not sum to zero."""


class DuplicateEntry(LedgerError):
    """An entry id already in the ledger with different content (entries are immutable)."""

    def __init__(self, entry_id: str) -> None:
        self.field = "id"
        self.value = entry_id
        super().__init__(f"journal entry id={entry_id!r} already posted with other content")


class AlreadyReversed(LedgerError):
    """A second reversal of one entry, or a reversal of a reversal's target that is gone."""

    def __init__(self, entry_id: str, reason: str) -> None:
        self.field = "reverses"
        self.value = entry_id
        super().__init__(f"journal entry {entry_id!r}: {reason}")


class ProviderRefused(PaymentsError):
    """A provider (or its sandbox) refusing a request: unknown reference, wrong state,
    an amount above what it holds, or an operation the method does not have."""

    def __init__(self, provider: str, field: str, value: Any, reason: str) -> None:
        self.provider = provider
        self.field = field
        self.value = value
        super().__init__(f"{provider}: {field}={value!r}: {reason}")


class MalformedCallback(PaymentsError):
    """A correctly signed callback whose body does not have the provider's shape."""

    def __init__(self, provider: str, reason: str) -> None:
        self.provider = provider
        self.field = "body"
        self.value = None
        super().__init__(f"{provider}: malformed callback: {reason}")
