"""Cash on delivery: no provider round trips; the cash is collected at the door."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from payments.errors import ProviderRefused
from payments.intents import PaymentIntent, PaymentMethod, ProviderUpdate, UpdateKind


class CashOnDelivery:
    """The cash "provider": settlement happens in `payments.settlement.on_delivered`.

    Refunds are cash handed back by the courier and are confirmed at once.
    """

    name = "cash"
    method = PaymentMethod.CASH_ON_DELIVERY

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self.clock = clock

    def initiate(self, intent: PaymentIntent, *, payer: str | None = None) -> ProviderUpdate:
        ref = f"cod_{intent.id}"
        return ProviderUpdate(f"{ref}:created", ref, UpdateKind.PENDING, self.clock())

    def capture(self, provider_ref: str, amount_minor: int) -> ProviderUpdate:
        raise ProviderRefused(
            self.name, "operation", "capture", "cash is collected by the courier on delivery"
        )

    def refund(self, provider_ref: str, refund_id: str, amount_minor: int) -> ProviderUpdate:
        return ProviderUpdate(
            f"{provider_ref}:refund:{refund_id}",
            provider_ref,
            UpdateKind.REFUNDED,
            self.clock(),
            amount_minor=amount_minor,
            refund_id=refund_id,
        )

    def cancel(self, provider_ref: str) -> ProviderUpdate:
        return ProviderUpdate(
            f"{provider_ref}:cancel", provider_ref, UpdateKind.CANCELLED, self.clock()
        )

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> ProviderUpdate:
        raise ProviderRefused(self.name, "operation", "callback", "cash sends no callbacks")
