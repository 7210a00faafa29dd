"""Payment provider adapters behind one interface, and bundled no-network sandboxes."""

from payments.providers.base import PaymentProvider, SignedCallback
from payments.providers.card import CardSandbox
from payments.providers.cash_on_delivery import CashOnDelivery
from payments.providers.mobile_money import MobileMoneySandbox

__all__ = [
    "CardSandbox",
    "CashOnDelivery",
    "MobileMoneySandbox",
    "PaymentProvider",
    "SignedCallback",
]
