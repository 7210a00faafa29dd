"""Mobile-money sandbox shaped like M-Pesa's STK push (Daraja ``stkpush`` + callbacks).

``initiate`` answers at once that the push was accepted (``CheckoutRequestID``); the outcome
arrives later as a signed callback with a ``ResultCode``: 0 success, 1032 cancelled by the
user, 1 insufficient funds, 1037 the phone could not be reached in time. Like the real
service, callbacks are sometimes delivered twice, and a success can follow a timeout (the
customer approved just after it). Refunds are reversals confirmed by a later callback.

Test payers (like a sandbox's magic numbers): a phone ending in 1032, 1 (as ``...0001``) or
1037 always gets that result; ``...0000`` always succeeds; other numbers are drawn from the
seeded generator with the configured probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from payments.errors import MalformedCallback
from payments.intents import PaymentIntent, PaymentMethod, ProviderUpdate, UpdateKind
from payments.providers.base import Sandbox

SUCCESS, INSUFFICIENT_FUNDS, CANCELLED_BY_USER, UNREACHABLE = 0, 1, 1032, 1037
RESULT_DESC = {
    SUCCESS: "The service request is processed successfully.",
    INSUFFICIENT_FUNDS: "The balance is insufficient for the transaction.",
    CANCELLED_BY_USER: "Request cancelled by user",
    UNREACHABLE: "DS timeout user cannot be reached",
}
MAGIC_SUFFIXES = {
    "0000": SUCCESS,
    "0001": INSUFFICIENT_FUNDS,
    "1032": CANCELLED_BY_USER,
    "1037": UNREACHABLE,
}


@dataclass(frozen=True, slots=True)
class MobileMoneyOdds:
    """Probabilities and delays of the sandbox's behaviour."""

    success: float = 0.7
    failure: float = 0.15
    duplicate: float = 0.25
    late_success_after_timeout: float = 0.3
    min_delay_s: float = 3.0
    max_delay_s: float = 40.0
    timeout_s: float = 60.0


@dataclass
class _Push:
    amount_minor: int
    currency: str
    succeeded: bool = False
    refunded_minor: int = 0


class MobileMoneySandbox(Sandbox):
    """M-Pesa STK-push-like payments (see the module docstring for the test payers)."""

    name = "mpesa_sandbox"
    method = PaymentMethod.MOBILE_MONEY
    signature_header = "Sandbox-MoMo-Signature"

    def __init__(
        self,
        *,
        secret: str,
        clock: Callable[[], float],
        seed: int = 0,
        odds: MobileMoneyOdds | None = None,
    ) -> None:
        super().__init__(secret=secret, clock=clock, seed=seed)
        self.odds = odds or MobileMoneyOdds()
        self._pushes: dict[str, _Push] = {}
        self._refunds: dict[str, str] = {}

    def _delay(self) -> float:
        return self.rng.uniform(self.odds.min_delay_s, self.odds.max_delay_s)

    def _send(self, delay_s: float, payload: dict[str, Any]) -> None:
        self._schedule(delay_s, payload)
        if self.rng.random() < self.odds.duplicate:
            self._schedule(delay_s + self._delay(), payload)

    def _outcome(self, payer: str | None) -> int:
        for suffix, code in MAGIC_SUFFIXES.items():
            if payer is not None and payer.endswith(suffix):
                return code
        draw = self.rng.random()
        if draw < self.odds.success:
            return SUCCESS
        if draw < self.odds.success + self.odds.failure:
            return self.rng.choice([INSUFFICIENT_FUNDS, CANCELLED_BY_USER])
        return UNREACHABLE

    def _stk_callback(self, ref: str, code: int) -> dict[str, Any]:
        push = self._pushes[ref]
        callback: dict[str, Any] = {
            "MerchantRequestID": f"mr_{ref}",
            "CheckoutRequestID": ref,
            "ResultCode": code,
            "ResultDesc": RESULT_DESC[code],
        }
        if code == SUCCESS:
            callback["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": push.amount_minor},
                    {"Name": "Currency", "Value": push.currency},
                    {"Name": "MpesaReceiptNumber", "Value": self._id("R").upper()},
                ]
            }
        return {"Body": {"stkCallback": callback}}

    def initiate(self, intent: PaymentIntent, *, payer: str | None = None) -> ProviderUpdate:
        ref = self._id("ws_CO")
        self._pushes[ref] = _Push(intent.amount_minor, intent.currency)
        code = self._outcome(payer)
        if code == UNREACHABLE:
            self._send(self.odds.timeout_s, self._stk_callback(ref, code))
            if self.rng.random() < self.odds.late_success_after_timeout:
                self._pushes[ref].succeeded = True
                self._send(self.odds.timeout_s + self._delay(), self._stk_callback(ref, SUCCESS))
        else:
            self._pushes[ref].succeeded = code == SUCCESS
            self._send(self._delay(), self._stk_callback(ref, code))
        return ProviderUpdate(f"{ref}:accepted", ref, UpdateKind.PENDING, self.clock())

    def capture(self, provider_ref: str, amount_minor: int) -> ProviderUpdate:
        raise self._refuse("operation", "capture", "STK push payments are captured on approval")

    def refund(self, provider_ref: str, refund_id: str, amount_minor: int) -> ProviderUpdate | None:
        push = self._pushes.get(provider_ref)
        if push is None:
            raise self._refuse("provider_ref", provider_ref, "unknown")
        if refund_id in self._refunds:
            return None  # idempotent: the first request's callback is on its way
        if not push.succeeded or amount_minor > push.amount_minor - push.refunded_minor:
            raise self._refuse("amount_minor", amount_minor, "more than the reversible amount")
        push.refunded_minor += amount_minor
        self._refunds[refund_id] = provider_ref
        result = {
            "Result": {
                "ResultType": 0,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "OriginatorConversationID": refund_id,
                "TransactionID": provider_ref,
                "ReferenceData": {"Amount": amount_minor, "Currency": push.currency},
            }
        }
        self._send(self._delay(), result)
        return None

    def cancel(self, provider_ref: str) -> ProviderUpdate:
        # An STK push cannot be withdrawn: we stop waiting, and a later success is "late".
        return ProviderUpdate(
            f"{provider_ref}:abandoned", provider_ref, UpdateKind.CANCELLED, self.clock()
        )

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> ProviderUpdate:
        doc = self._verified_json(headers, body, now)
        try:
            if "Result" in doc:
                r = doc["Result"]
                ref, refund_id = r["TransactionID"], r["OriginatorConversationID"]
                return ProviderUpdate(
                    f"{ref}:refund:{refund_id}",
                    ref,
                    UpdateKind.REFUNDED,
                    now,
                    amount_minor=int(r["ReferenceData"]["Amount"]),
                    currency=r["ReferenceData"]["Currency"],
                    refund_id=refund_id,
                )
            cb = doc["Body"]["stkCallback"]
            ref, code = cb["CheckoutRequestID"], int(cb["ResultCode"])
            items = {i["Name"]: i["Value"] for i in cb.get("CallbackMetadata", {}).get("Item", [])}
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedCallback(self.name, repr(exc)) from None
        kind = {SUCCESS: UpdateKind.SUCCEEDED, UNREACHABLE: UpdateKind.TIMED_OUT}.get(
            code, UpdateKind.FAILED
        )
        return ProviderUpdate(
            f"{ref}:{code}",
            ref,
            kind,
            now,
            amount_minor=items.get("Amount"),
            currency=items.get("Currency"),
            reason=None if code == SUCCESS else str(cb["ResultDesc"]),
        )
