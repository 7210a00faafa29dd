"""Double-entry ledger: balanced journal entries in integer minor units, balances derived.

Sign convention: a posting's amount is positive for a debit and negative for a credit, so
every entry sums to zero and so does the whole ledger, per currency. Asset accounts (customer
receivable, cash held by couriers, provider clearing) carry positive balances; liability and
revenue accounts (courier earnings, merchant payable, platform fees) negative ones.

Entries are immutable and identified by deterministic ids (``receipt:<intent>``, ...), so the
store's unique constraint on the id makes every posting happen at most once even when a
provider callback arrives twice. A correction is a reversing entry, never an edit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from orders.model import CURRENCY_RE, Problem
from payments.errors import (
    AlreadyReversed,
    DuplicateEntry,
    InvalidEntry,
    MixedCurrencies,
    NonIntegerAmount,
    UnbalancedEntry,
)


class AccountKind(StrEnum):
    """The accounts every tenant has (courier and provider ones per holder)."""

    CUSTOMER_RECEIVABLE = "customer_receivable"
    COURIER_EARNINGS = "courier_earnings"
    PLATFORM_FEES = "platform_fees"
    MERCHANT_PAYABLE = "merchant_payable"
    CASH_HELD_BY_COURIER = "cash_held_by_courier"
    PROVIDER_CLEARING = "provider_clearing"
    """Funds collected by a card or mobile-money provider and not yet paid out to us."""


@dataclass(frozen=True, slots=True, order=True)
class Account:
    """A ledger account: tenant, kind, and the holder (courier id, provider name) if any."""

    tenant: str
    kind: AccountKind
    holder: str = ""

    def __str__(self) -> str:
        return f"{self.tenant}/{self.kind}" + (f"/{self.holder}" if self.holder else "")


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of an entry: ``amount_minor`` > 0 debits the account, < 0 credits it."""

    account: Account
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A balanced set of postings in one currency; build it with `journal_entry`."""

    id: str
    tenant: str
    kind: str
    currency: str
    postings: tuple[Posting, ...]
    at: float
    order_id: str | None = None
    intent_id: str | None = None
    reverses: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def journal_entry(
    entry_id: str,
    *,
    tenant: str,
    kind: str,
    currency: str,
    lines: Iterable[tuple[Account, Any]],
    at: float,
    order_id: str | None = None,
    intent_id: str | None = None,
    reverses: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> JournalEntry:
    """Validate and build an entry whose postings all use ``currency``.

    Raises
    ------
    NonIntegerAmount
        Any amount that is not a plain int (every such line is listed).
    InvalidEntry
        Fewer than two lines, a bad currency code, or an account of another tenant.
    UnbalancedEntry
        Amounts that do not sum to zero.
    """
    return entry_from_postings(
        entry_id,
        tenant=tenant,
        kind=kind,
        postings=[Posting(acc, amount, currency) for acc, amount in lines],
        at=at,
        order_id=order_id,
        intent_id=intent_id,
        reverses=reverses,
        meta=meta,
    )


def entry_from_postings(
    entry_id: str,
    *,
    tenant: str,
    kind: str,
    postings: Iterable[Posting],
    at: float,
    order_id: str | None = None,
    intent_id: str | None = None,
    reverses: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> JournalEntry:
    """Like `journal_entry`, from postings that each carry a currency.

    Raises
    ------
    MixedCurrencies
        Postings in more than one currency.
    """
    lines = tuple(postings)
    bad_amounts: list[Problem] = [
        (f"postings[{i}].amount_minor", p.amount_minor, "must be an integer of minor units")
        for i, p in enumerate(lines)
        if isinstance(p.amount_minor, bool) or not isinstance(p.amount_minor, int)
    ]
    if bad_amounts:
        raise NonIntegerAmount(bad_amounts)
    currencies = sorted({p.currency for p in lines})
    if len(currencies) > 1:
        raise MixedCurrencies([("postings.currency", currencies, "one currency per entry")])
    problems: list[Problem] = []
    if len(lines) < 2:
        problems.append(("postings", len(lines), "an entry needs at least two postings"))
    problems += [
        (f"postings[{i}].currency", p.currency, "must be a 3-letter ISO 4217 code")
        for i, p in enumerate(lines)
        if not CURRENCY_RE.match(p.currency)
    ]
    problems += [
        (f"postings[{i}].account", str(p.account), f"belongs to another tenant than {tenant!r}")
        for i, p in enumerate(lines)
        if p.account.tenant != tenant
    ]
    if problems:
        raise InvalidEntry(problems)
    total = sum(p.amount_minor for p in lines)
    if total != 0:
        raise UnbalancedEntry([("postings", total, "debits and credits must sum to zero")])
    return JournalEntry(
        id=entry_id,
        tenant=tenant,
        kind=kind,
        currency=currencies[0],
        postings=lines,
        at=at,
        order_id=order_id,
        intent_id=intent_id,
        reverses=reverses,
        meta=MappingProxyType(dict(meta or {})),
    )


def reversal_of(entry: JournalEntry, *, entry_id: str, at: float, reason: str) -> JournalEntry:
    """The entry that cancels ``entry``: the same postings with opposite signs."""
    return entry_from_postings(
        entry_id,
        tenant=entry.tenant,
        kind=f"reversal:{entry.kind}",
        postings=[Posting(p.account, -p.amount_minor, p.currency) for p in entry.postings],
        at=at,
        order_id=entry.order_id,
        intent_id=entry.intent_id,
        reverses=entry.id,
        meta={"reason": reason},
    )


def balances(entries: Iterable[JournalEntry]) -> dict[tuple[Account, str], int]:
    """Balance per (account, currency) derived from entries (debits positive)."""
    out: dict[tuple[Account, str], int] = defaultdict(int)
    for e in entries:
        for p in e.postings:
            out[(p.account, p.currency)] += p.amount_minor
    return dict(out)


def totals_per_currency(entries: Iterable[JournalEntry]) -> dict[str, int]:
    """Sum of every posting per currency: zero for a sound ledger."""
    out: dict[str, int] = defaultdict(int)
    for e in entries:
        for p in e.postings:
            out[p.currency] += p.amount_minor
    return dict(out)


class Ledger:
    """Append-only in-memory ledger (the embedded store's and the tests' reference).

    Posting an entry whose id is already present with identical content is a no-op, which
    makes replays of one operation harmless; other content under that id is refused.
    """

    def __init__(self, entries: Iterable[JournalEntry] = ()) -> None:
        self._entries: list[JournalEntry] = []
        self._by_id: dict[str, JournalEntry] = {}
        self._reversed: set[str] = set()
        for e in entries:
            self.post(e)

    @property
    def entries(self) -> tuple[JournalEntry, ...]:
        """Every entry, in posting order."""
        return tuple(self._entries)

    def get(self, entry_id: str) -> JournalEntry | None:
        """The entry with this id, if posted."""
        return self._by_id.get(entry_id)

    def _is_new(
        self, entry: JournalEntry, batch: Mapping[str, JournalEntry], batch_reversed: set[str]
    ) -> bool:
        known = self._by_id.get(entry.id) or batch.get(entry.id)
        if known is not None:
            if known == entry:
                return False
            raise DuplicateEntry(entry.id)
        if entry.reverses is not None:
            if entry.reverses not in self._by_id and entry.reverses not in batch:
                raise AlreadyReversed(entry.reverses, "is not in the ledger")
            if entry.reverses in self._reversed or entry.reverses in batch_reversed:
                raise AlreadyReversed(entry.reverses, "is already reversed")
        return True

    def post(self, entry: JournalEntry) -> bool:
        """Append an entry; False when the identical entry is already there.

        Raises
        ------
        DuplicateEntry
            The id is taken by an entry with other content.
        AlreadyReversed
            ``entry`` reverses an entry that is unknown or already reversed.
        """
        return self.post_all([entry]) == 1

    def post_all(self, entries: Iterable[JournalEntry]) -> int:
        """Post several entries all or nothing (one transaction); returns how many were new."""
        batch: dict[str, JournalEntry] = {}
        batch_reversed: set[str] = set()
        for e in entries:
            if self._is_new(e, batch, batch_reversed):
                batch[e.id] = e
                if e.reverses is not None:
                    batch_reversed.add(e.reverses)
        self._entries.extend(batch.values())
        self._by_id.update(batch)
        self._reversed |= batch_reversed
        return len(batch)

    def reverse(self, entry_id: str, *, at: float, reason: str) -> JournalEntry:
        """Post and return the reversal of ``entry_id`` (id ``reversal:<entry_id>``)."""
        entry = self._by_id.get(entry_id)
        if entry is None:
            raise AlreadyReversed(entry_id, "is not in the ledger")
        if entry_id in self._reversed:
            raise AlreadyReversed(entry_id, "is already reversed")
        reversal = reversal_of(entry, entry_id=f"reversal:{entry_id}", at=at, reason=reason)
        self.post(reversal)
        return reversal

    def balance(self, account: Account, currency: str) -> int:
        """Derived balance of one account in one currency."""
        return sum(
            p.amount_minor
            for e in self._entries
            for p in e.postings
            if p.account == account and p.currency == currency
        )

    def balances(self) -> dict[tuple[Account, str], int]:
        """`balances` over this ledger."""
        return balances(self._entries)

    def totals_per_currency(self) -> dict[str, int]:
        """`totals_per_currency` over this ledger (all zero)."""
        return totals_per_currency(self._entries)

    def entries_for(
        self, *, order_id: str | None = None, intent_id: str | None = None, kind: str | None = None
    ) -> list[JournalEntry]:
        """Entries matching every given criterion."""
        return [
            e
            for e in self._entries
            if (order_id is None or e.order_id == order_id)
            and (intent_id is None or e.intent_id == intent_id)
            and (kind is None or e.kind == kind)
        ]
