"""Payment provider adapters behind one interface, and bundled no-network sandboxes."""

from collections.abc import Callable

from payments.providers.base import PaymentProvider, SignedCallback
from payments.providers.card import CardSandbox
from payments.providers.cash_on_delivery import CashOnDelivery
from payments.providers.mobile_money import MobileMoneySandbox


def bundled(secret: str, clock: Callable[[], float]) -> dict[str, PaymentProvider]:
    """The bundled providers by name (`PaymentProvider.name`), one per payment method; the
    sandboxes sign their callbacks with ``secret``."""
    found: list[PaymentProvider] = [
        CashOnDelivery(clock=clock),
        MobileMoneySandbox(secret=secret, clock=clock),
        CardSandbox(secret=secret, clock=clock),
    ]
    return {p.name: p for p in found}


__all__ = [
    "CardSandbox",
    "CashOnDelivery",
    "MobileMoneySandbox",
    "PaymentProvider",
    "SignedCallback",
    "bundled",
]
