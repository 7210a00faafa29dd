"""The journal entries of each money movement, with deterministic ids (one posting each).

- billing (order delivered): debit the customer receivable with the order amount; credit the
  courier's earnings (base + per km), the platform fee and the merchant with the rest;
- receipt (payment captured): debit where the money now sits (the provider's clearing
  account, or the courier's cash-held account for cash on delivery), credit the receivable;
- refund: credit where the money sat, debit the receivable if the order was not billed yet,
  else the merchant payable (refunds after delivery come out of the merchant's share).

So for a paid, delivered, unrefunded order the receivable nets to zero, and the sum of every
account is zero per currency at all times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orders.model import Order
from payments.errors import InvalidPayment
from payments.ledger import Account, AccountKind, JournalEntry, journal_entry
from payments.statements import BILLING, Tariff, delivery_earning, platform_fee

if TYPE_CHECKING:
    from payments.intents import PaymentIntent

K = AccountKind
RECEIPT = "receipt"
REFUND = "refund"


def billing_entry(
    order: Order, *, courier_id: str, distance_m: float, tariff: Tariff, at: float
) -> JournalEntry:
    """Bill a delivered order (id ``billing:<order id>``): receivable against the split."""
    if tariff.currency != order.currency:
        raise InvalidPayment(
            [("tariff.currency", tariff.currency, f"order is in {order.currency}")]
        )
    earning = delivery_earning(distance_m, tariff)
    fee = platform_fee(order.amount_minor, tariff)
    merchant = order.amount_minor - earning.total_minor - fee
    t = order.tenant
    lines = [
        (Account(t, K.CUSTOMER_RECEIVABLE), order.amount_minor),
        (Account(t, K.COURIER_EARNINGS, courier_id), -earning.total_minor),
        (Account(t, K.PLATFORM_FEES), -fee),
        (Account(t, K.MERCHANT_PAYABLE), -merchant),
    ]
    return journal_entry(
        f"{BILLING}:{order.id}",
        tenant=t,
        kind=BILLING,
        currency=order.currency,
        lines=[(acc, amount) for acc, amount in lines if amount != 0] or lines[:2],
        at=at,
        order_id=order.id,
        meta={
            "courier_id": courier_id,
            "distance_m": earning.distance_m,
            "courier_base_minor": earning.base_minor,
            "courier_distance_minor": earning.distance_minor,
            "platform_fee_minor": fee,
        },
    )


def receipt_account(intent: PaymentIntent, courier_id: str | None = None) -> Account:
    """Where captured money sits: the courier's cash for cash on delivery, else the provider."""
    if courier_id is not None:
        return Account(intent.tenant, K.CASH_HELD_BY_COURIER, courier_id)
    return Account(intent.tenant, K.PROVIDER_CLEARING, intent.provider)


def receipt_entry(
    intent: PaymentIntent, amount_minor: int, *, at: float, courier_id: str | None = None
) -> JournalEntry:
    """Money received for an intent (id ``receipt:<intent id>``: at most one per intent)."""
    return journal_entry(
        f"{RECEIPT}:{intent.id}",
        tenant=intent.tenant,
        kind=RECEIPT,
        currency=intent.currency,
        lines=[
            (receipt_account(intent, courier_id), amount_minor),
            (Account(intent.tenant, K.CUSTOMER_RECEIVABLE), -amount_minor),
        ],
        at=at,
        order_id=intent.order_id,
        intent_id=intent.id,
    )


def refund_entry(
    intent: PaymentIntent, refund_id: str, amount_minor: int, *, at: float, billed: bool
) -> JournalEntry:
    """Money returned to the customer (id ``refund:<intent id>:<refund id>``)."""
    debit = K.MERCHANT_PAYABLE if billed else K.CUSTOMER_RECEIVABLE
    return journal_entry(
        f"{REFUND}:{intent.id}:{refund_id}",
        tenant=intent.tenant,
        kind=REFUND,
        currency=intent.currency,
        lines=[
            (Account(intent.tenant, debit), amount_minor),
            (receipt_account(intent, intent.cash_courier_id), -amount_minor),
        ],
        at=at,
        order_id=intent.order_id,
        intent_id=intent.id,
        meta={"refund_id": refund_id, "billed": billed},
    )


CASH_OFFICE = "cash_office"
"""Holder of the provider-clearing account that receives cash couriers hand in."""


def cash_remittance_entry(
    tenant: str,
    courier_id: str,
    amount_minor: int,
    currency: str,
    *,
    remittance_id: str,
    at: float,
    keep_earnings_minor: int = 0,
) -> JournalEntry:
    """A courier hands in collected cash (id ``remittance:<remittance id>``).

    ``keep_earnings_minor`` of the cash held is kept by the courier as pay instead of being
    handed in: it settles that much of the courier's earnings.
    """
    held = Account(tenant, K.CASH_HELD_BY_COURIER, courier_id)
    lines = [(held, -(amount_minor + keep_earnings_minor))]
    if amount_minor:
        lines.append((Account(tenant, K.PROVIDER_CLEARING, CASH_OFFICE), amount_minor))
    if keep_earnings_minor:
        lines.append((Account(tenant, K.COURIER_EARNINGS, courier_id), keep_earnings_minor))
    return journal_entry(
        f"remittance:{remittance_id}",
        tenant=tenant,
        kind="remittance",
        currency=currency,
        lines=lines,
        at=at,
        meta={"courier_id": courier_id},
    )
