"""Courier earnings: a base plus a per-km part per delivery, and statements over a period."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orders.model import Problem, money_problems
from payments.errors import InvalidPayment
from payments.ledger import AccountKind, JournalEntry

BILLING = "billing"
"""Kind of the journal entry posted once per delivered order (see `payments.postings`)."""


@dataclass(frozen=True, slots=True)
class Tariff:
    """A tenant's prices in one currency.

    Attributes
    ----------
    courier_base_minor
        Paid to the courier per delivery.
    courier_per_km_minor
        Paid to the courier per kilometre of route distance (pickup to drop-off).
    platform_fee_bps
        Platform fee in basis points of the order amount (floor).
    """

    currency: str
    courier_base_minor: int
    courier_per_km_minor: int
    platform_fee_bps: int = 0

    def __post_init__(self) -> None:
        problems: list[Problem] = money_problems(
            "courier_base_minor", self.courier_base_minor, self.currency
        )
        problems += [
            p
            for p in money_problems(
                "courier_per_km_minor", self.courier_per_km_minor, self.currency
            )
            if p[0] != "currency"  # reported once, above
        ]
        fee = self.platform_fee_bps
        if isinstance(fee, bool) or not isinstance(fee, int) or not 0 <= fee <= 10_000:
            problems.append(("platform_fee_bps", fee, "must be an integer in [0, 10000]"))
        if problems:
            raise InvalidPayment(problems)


@dataclass(frozen=True, slots=True)
class Earning:
    """A courier's pay for one delivery."""

    base_minor: int
    distance_minor: int
    distance_m: int

    @property
    def total_minor(self) -> int:
        return self.base_minor + self.distance_minor


def delivery_earning(distance_m: float, tariff: Tariff) -> Earning:
    """Base plus ``per_km * km``, in integer minor units, the distance part rounded half up.

    Raises
    ------
    InvalidPayment
        A negative or non-finite distance.
    """
    if not distance_m >= 0 or distance_m == float("inf"):
        raise InvalidPayment([("distance_m", distance_m, "must be finite and >= 0")])
    metres = round(distance_m)
    distance_minor = (metres * tariff.courier_per_km_minor + 500) // 1000
    return Earning(tariff.courier_base_minor, distance_minor, metres)


def platform_fee(amount_minor: int, tariff: Tariff) -> int:
    """The platform's fee on an order amount (floor of ``amount * bps / 10000``)."""
    return amount_minor * tariff.platform_fee_bps // 10_000


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One delivery on a courier statement."""

    order_id: str
    delivered_at: float
    distance_m: int
    base_minor: int
    distance_minor: int

    @property
    def total_minor(self) -> int:
        return self.base_minor + self.distance_minor


@dataclass(frozen=True, slots=True)
class CourierStatement:
    """A courier's deliveries and earnings in ``[start, end)``."""

    tenant: str
    courier_id: str
    currency: str
    start: float
    end: float
    lines: tuple[StatementLine, ...]

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def total_distance_m(self) -> int:
        return sum(line.distance_m for line in self.lines)


def courier_statement(
    entries: Iterable[JournalEntry],
    *,
    tenant: str,
    courier_id: str,
    currency: str,
    start: float,
    end: float,
) -> CourierStatement:
    """The statement read from the ledger's billing entries (reversed ones left out).

    Reading the ledger rather than recomputing from today's tariff keeps a statement equal to
    what was actually credited to the courier, whatever the tariff has become since.
    """
    entries = list(entries)
    reversed_ids = {e.reverses for e in entries if e.reverses is not None}
    lines = []
    for e in entries:
        if e.kind != BILLING or e.id in reversed_ids or e.tenant != tenant:
            continue
        if e.currency != currency or not start <= e.at < end:
            continue
        if not any(
            p.account.kind is AccountKind.COURIER_EARNINGS and p.account.holder == courier_id
            for p in e.postings
        ):
            continue
        lines.append(
            StatementLine(
                order_id=e.order_id or "",
                delivered_at=e.at,
                distance_m=int(e.meta["distance_m"]),
                base_minor=int(e.meta["courier_base_minor"]),
                distance_minor=int(e.meta["courier_distance_minor"]),
            )
        )
    lines.sort(key=lambda line: (line.delivered_at, line.order_id))
    return CourierStatement(tenant, courier_id, currency, start, end, tuple(lines))
