from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.errors import (
    AlreadyReversed,
    DuplicateEntry,
    InvalidEntry,
    LedgerError,
    MixedCurrencies,
    NonIntegerAmount,
    UnbalancedEntry,
)
from payments.ledger import (
    Account,
    AccountKind,
    JournalEntry,
    Ledger,
    Posting,
    entry_from_postings,
    journal_entry,
)

K = AccountKind
RECV = Account("acme", K.CUSTOMER_RECEIVABLE)
FEES = Account("acme", K.PLATFORM_FEES)
MERCHANT = Account("acme", K.MERCHANT_PAYABLE)
COURIER = Account("acme", K.COURIER_EARNINGS, "c1")
ACCOUNTS = [RECV, FEES, MERCHANT, COURIER, Account("acme", K.CASH_HELD_BY_COURIER, "c1")]


def sale(entry_id: str = "e1", amount: int = 1_000, currency: str = "KES") -> JournalEntry:
    return journal_entry(
        entry_id,
        tenant="acme",
        kind="billing",
        currency=currency,
        lines=[(RECV, amount), (MERCHANT, -amount + 300), (FEES, -100), (COURIER, -200)],
        at=1.0,
        order_id="o1",
    )


def test_balances_are_derived_and_sum_to_zero() -> None:
    ledger = Ledger()
    assert ledger.post(sale())
    assert ledger.post(sale("e2", 500, "USD"))
    assert ledger.balance(RECV, "KES") == 1_000 and ledger.balance(RECV, "USD") == 500
    assert ledger.balance(MERCHANT, "KES") == -700
    assert ledger.totals_per_currency() == {"KES": 0, "USD": 0}
    assert sum(v for (_, c), v in ledger.balances().items() if c == "KES") == 0


@pytest.mark.parametrize("bad", [10.0, True, Decimal("10"), "10"])
def test_non_integer_amounts_are_refused(bad: object) -> None:
    with pytest.raises(NonIntegerAmount) as info:
        journal_entry(
            "e", tenant="acme", kind="k", currency="KES", lines=[(RECV, bad), (FEES, -10)], at=0
        )
    assert info.value.field == "postings[0].amount_minor" and isinstance(info.value, ValueError)


def test_unbalanced_mixed_and_malformed_entries_are_refused() -> None:
    with pytest.raises(UnbalancedEntry) as unbalanced:
        journal_entry(
            "e", tenant="acme", kind="k", currency="KES", lines=[(RECV, 10), (FEES, -9)], at=0
        )
    assert unbalanced.value.value == 1
    with pytest.raises(MixedCurrencies):
        entry_from_postings(
            "e",
            tenant="acme",
            kind="k",
            postings=[Posting(RECV, 10, "KES"), Posting(FEES, -10, "USD")],
            at=0,
        )
    with pytest.raises(InvalidEntry) as info:
        journal_entry(
            "e",
            tenant="acme",
            kind="k",
            currency="kes",
            lines=[(Account("other", K.PLATFORM_FEES), 0)],
            at=0,
        )
    assert {p[0] for p in info.value.problems} == {
        "postings",
        "postings[0].currency",
        "postings[0].account",
    }
    assert all(
        issubclass(c, LedgerError) for c in (UnbalancedEntry, MixedCurrencies, NonIntegerAmount)
    )


def test_entries_are_immutable_and_replays_are_no_ops() -> None:
    ledger = Ledger()
    e = sale()
    assert ledger.post(e) and not ledger.post(e)
    assert len(ledger.entries) == 1
    with pytest.raises(DuplicateEntry):
        ledger.post(sale(amount=2_000))
    with pytest.raises(AttributeError):
        e.postings[0].amount_minor = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        e.meta["x"] = 1  # type: ignore[index]


def test_corrections_are_reversing_entries() -> None:
    ledger = Ledger([sale()])
    rev = ledger.reverse("e1", at=2.0, reason="entered twice")
    assert rev.reverses == "e1" and rev.kind == "reversal:billing"
    assert all(ledger.balance(a, "KES") == 0 for a in ACCOUNTS)
    assert len(ledger.entries) == 2  # the original stays
    with pytest.raises(AlreadyReversed):
        ledger.reverse("e1", at=3.0, reason="again")
    with pytest.raises(AlreadyReversed):
        ledger.reverse("nope", at=3.0, reason="x")


def test_post_all_is_all_or_nothing() -> None:
    ledger = Ledger([sale()])
    with pytest.raises(DuplicateEntry):
        ledger.post_all([sale("e2"), sale("e1", amount=5)])
    assert [e.id for e in ledger.entries] == ["e1"]
    assert ledger.post_all([sale("e2"), sale("e1"), sale("e3")]) == 2
    assert [e.id for e in ledger.entries] == ["e1", "e2", "e3"]


amounts = st.integers(min_value=-(10**12), max_value=10**12)


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.sampled_from(ACCOUNTS), amounts), min_size=1, max_size=6),
    st.sampled_from(["KES", "USD", "NGN"]),
)
def test_any_balanced_set_of_lines_is_accepted_and_keeps_totals_at_zero(
    lines: list[tuple[Account, int]], currency: str
) -> None:
    balancing = -sum(a for _, a in lines)
    lines = [*lines, (RECV, balancing)]
    ledger = Ledger()
    ledger.post(journal_entry("e", tenant="acme", kind="k", currency=currency, lines=lines, at=0))
    assert ledger.totals_per_currency() == {currency: 0}
    ledger.reverse("e", at=1, reason="x")
    assert all(v == 0 for v in ledger.balances().values())
    skewed = [*lines[:-1], (RECV, balancing + 1)]
    with pytest.raises(UnbalancedEntry):
        journal_entry("f", tenant="acme", kind="k", currency=currency, lines=skewed, at=0)
