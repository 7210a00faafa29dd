"""Card sandbox shaped like Stripe / Paystack: authorize, capture, refund, signed webhooks.

Test cards (as in Stripe's test mode): ``4242424242424242`` authorizes; ``4000000000000002``
is declined; ``4000000000003220`` needs 3-D Secure, so ``initiate`` answers ``pending`` and the
authorization (or its failure, when the customer abandons) arrives by webhook. Capture is
answered synchronously and also announced by a ``charge.captured`` webhook; refunds are
confirmed by a ``charge.refunded`` webhook. Webhooks carry an event id (``evt_...``) and are
sometimes delivered twice, as the real services do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from payments.errors import MalformedCallback
from payments.intents import PaymentIntent, PaymentMethod, ProviderUpdate, UpdateKind
from payments.providers.base import Sandbox

CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_3DS = "4000000000003220"

EVENT_KINDS = {
    "payment_intent.amount_capturable_updated": UpdateKind.AUTHORIZED,
    "payment_intent.payment_failed": UpdateKind.FAILED,
    "charge.captured": UpdateKind.SUCCEEDED,
    "charge.refunded": UpdateKind.REFUNDED,
}


@dataclass(frozen=True, slots=True)
class CardOdds:
    """Probabilities and delays of the sandbox's behaviour."""

    three_ds_completed: float = 0.8
    duplicate: float = 0.25
    min_delay_s: float = 1.0
    max_delay_s: float = 30.0


@dataclass
class _Charge:
    amount_minor: int
    currency: str
    status: str  # requires_action | authorized | captured | failed | voided
    captured_minor: int = 0
    refunded_minor: int = 0


class CardSandbox(Sandbox):
    """Stripe/Paystack-like card payments (see the module docstring for the test cards)."""

    name = "card_sandbox"
    method = PaymentMethod.CARD
    signature_header = "Sandbox-Card-Signature"

    def __init__(
        self,
        *,
        secret: str,
        clock: Callable[[], float],
        seed: int = 0,
        odds: CardOdds | None = None,
    ) -> None:
        super().__init__(secret=secret, clock=clock, seed=seed)
        self.odds = odds or CardOdds()
        self._charges: dict[str, _Charge] = {}
        self._refunds: set[str] = set()

    def _webhook(self, event_type: str, ref: str, **extra: Any) -> None:
        charge = self._charges[ref]
        event = {
            "id": self._id("evt"),
            "type": event_type,
            "created": int(self.clock()),
            "data": {
                "object": {
                    "id": ref,
                    "amount": charge.amount_minor,
                    "amount_captured": charge.captured_minor,
                    "currency": charge.currency.lower(),
                    **extra,
                }
            },
        }
        delay = self.rng.uniform(self.odds.min_delay_s, self.odds.max_delay_s)
        self._schedule(delay, event)
        if self.rng.random() < self.odds.duplicate:
            self._schedule(delay + self.rng.uniform(0.0, self.odds.max_delay_s), event)

    def _charge(self, ref: str) -> _Charge:
        charge = self._charges.get(ref)
        if charge is None:
            raise self._refuse("provider_ref", ref, "unknown")
        return charge

    def initiate(self, intent: PaymentIntent, *, payer: str | None = None) -> ProviderUpdate:
        card = payer or CARD_OK
        ref = self._id("pi")
        now = self.clock()
        if card == CARD_DECLINED:
            self._charges[ref] = _Charge(intent.amount_minor, intent.currency, "failed")
            return ProviderUpdate(
                f"{ref}:authorize", ref, UpdateKind.FAILED, now, reason="card_declined"
            )
        if card == CARD_3DS:
            self._charges[ref] = _Charge(intent.amount_minor, intent.currency, "requires_action")
            if self.rng.random() < self.odds.three_ds_completed:
                self._charges[ref].status = "authorized"
                self._webhook("payment_intent.amount_capturable_updated", ref)
            else:
                self._charges[ref].status = "failed"
                self._webhook(
                    "payment_intent.payment_failed", ref, last_payment_error="authentication_failed"
                )
            return ProviderUpdate(
                f"{ref}:authorize", ref, UpdateKind.PENDING, now, reason="requires_action: 3ds"
            )
        self._charges[ref] = _Charge(intent.amount_minor, intent.currency, "authorized")
        return ProviderUpdate(
            f"{ref}:authorize",
            ref,
            UpdateKind.AUTHORIZED,
            now,
            amount_minor=intent.amount_minor,
            currency=intent.currency,
        )

    def capture(self, provider_ref: str, amount_minor: int) -> ProviderUpdate:
        charge = self._charge(provider_ref)
        if charge.status != "authorized":
            raise self._refuse(
                "provider_ref", provider_ref, f"cannot capture a {charge.status} charge"
            )
        if not 0 < amount_minor <= charge.amount_minor:
            raise self._refuse("amount_minor", amount_minor, "outside (0, authorized amount]")
        charge.status = "captured"
        charge.captured_minor = amount_minor
        self._webhook("charge.captured", provider_ref)
        return ProviderUpdate(
            f"{provider_ref}:capture",
            provider_ref,
            UpdateKind.SUCCEEDED,
            self.clock(),
            amount_minor=amount_minor,
            currency=charge.currency,
        )

    def refund(self, provider_ref: str, refund_id: str, amount_minor: int) -> ProviderUpdate | None:
        charge = self._charge(provider_ref)
        if refund_id in self._refunds:
            return None  # idempotent on the refund id
        if charge.status != "captured":
            raise self._refuse(
                "provider_ref", provider_ref, f"cannot refund a {charge.status} charge"
            )
        if not 0 < amount_minor <= charge.captured_minor - charge.refunded_minor:
            raise self._refuse("amount_minor", amount_minor, "more than the refundable amount")
        charge.refunded_minor += amount_minor
        self._refunds.add(refund_id)
        self._webhook(
            "charge.refunded", provider_ref, refund={"id": refund_id, "amount": amount_minor}
        )
        return None

    def cancel(self, provider_ref: str) -> ProviderUpdate:
        charge = self._charge(provider_ref)
        if charge.status == "captured":
            raise self._refuse("provider_ref", provider_ref, "captured: refund it instead")
        charge.status = "voided"
        return ProviderUpdate(
            f"{provider_ref}:void", provider_ref, UpdateKind.CANCELLED, self.clock()
        )

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> ProviderUpdate:
        doc = self._verified_json(headers, body, now)
        try:
            kind = EVENT_KINDS[doc["type"]]
            obj = doc["data"]["object"]
            refund = obj.get("refund") or {}
            amount = (
                refund.get("amount")
                if kind is UpdateKind.REFUNDED
                else obj.get("amount_captured" if kind is UpdateKind.SUCCEEDED else "amount")
            )
            return ProviderUpdate(
                str(doc["id"]),
                str(obj["id"]),
                kind,
                now,
                amount_minor=None if amount is None else int(amount),
                currency=str(obj["currency"]).upper(),
                refund_id=refund.get("id"),
                reason=obj.get("last_payment_error"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedCallback(self.name, repr(exc)) from None
