import threading

import pytest

from dispatch.errors import InvalidParams, OfferConflict, UnknownId
from dispatch.offers import OfferBook, OfferRequest


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_accept_closes_the_offer_and_frees_the_order() -> None:
    book = OfferBook(clock=FakeClock())
    (offer,) = book.make_offers([OfferRequest("o1", "c1")], {"c1": 1})
    assert offer.expires_at == offer.created_at + 30.0
    assert book.offered_orders() == {"o1"} and book.held_units() == {"c1": 1}
    seen = []
    assert book.accept(offer.id, on_accept=seen.append) == offer
    assert seen == [offer]
    assert book.state(offer.id) == "accepted"
    assert book.offered_orders() == set() and book.held_units() == {}
    with pytest.raises(OfferConflict) as again:
        book.accept(offer.id)
    assert again.value.reason == "not_outstanding"


def test_reject_returns_the_order_and_excludes_the_courier() -> None:
    book = OfferBook(clock=FakeClock())
    (offer,) = book.make_offers([OfferRequest("o1", "c1")], {"c1": 1, "c2": 1})
    book.reject(offer.id)
    assert book.state(offer.id) == "rejected"
    assert book.offered_orders() == set()
    assert book.exclusions() == {"o1": frozenset({"c1"})}
    with pytest.raises(OfferConflict) as info:
        book.make_offers([OfferRequest("o1", "c1")], {"c1": 1})
    assert info.value.reason == "courier_excluded"
    (other,) = book.make_offers([OfferRequest("o1", "c2")], {"c2": 1})
    book.accept(other.id)
    assert book.exclusions() == {}


def test_timeout_expires_and_late_accept_fails() -> None:
    clock = FakeClock()
    book = OfferBook(timeout_s=30.0, clock=clock)
    a, b = book.make_offers(
        [OfferRequest("o1", "c1"), OfferRequest("o2", "c2")], {"c1": 1, "c2": 1}
    )
    clock.now += 29.9
    assert book.expire() == []
    clock.now += 0.1
    with pytest.raises(OfferConflict) as late:
        book.accept(a.id)
    assert late.value.reason == "expired"
    assert book.expire() == [b]
    assert book.state(a.id) == book.state(b.id) == "expired"
    assert book.exclusions() == {"o1": frozenset({"c1"}), "o2": frozenset({"c2"})}
    assert book.held_units() == {}


def test_batch_is_all_or_nothing_and_reports_every_conflict() -> None:
    book = OfferBook(clock=FakeClock())
    book.make_offers([OfferRequest("o1", "c1")], {"c1": 2})
    with pytest.raises(OfferConflict) as info:
        book.make_offers(
            [
                OfferRequest("o1", "c2"),  # already offered
                OfferRequest("o2", "c1", size=2),  # c1 holds 1 of 2
                OfferRequest("o3", "cx"),  # unknown free capacity
                OfferRequest("o4", "c2"),
                OfferRequest("o4", "c3"),  # the same order twice in one batch
            ],
            {"c1": 2, "c2": 2, "c3": 1},
        )
    assert [p[2] for p in info.value.problems] == [
        "order_already_offered",
        "courier_at_capacity",
        "free_capacity_unknown",
        "order_already_offered",
    ]
    assert book.offered_orders() == {"o1"}


def test_courier_never_holds_more_than_its_free_capacity() -> None:
    book = OfferBook(clock=FakeClock())
    book.make_offers([OfferRequest("o1", "c1"), OfferRequest("o2", "c1")], {"c1": 2})
    with pytest.raises(OfferConflict):
        book.make_offers([OfferRequest("o3", "c1")], {"c1": 2})


def test_withdraw_closes_without_excluding() -> None:
    book = OfferBook(clock=FakeClock())
    (offer,) = book.make_offers([OfferRequest("o1", "c1")], {"c1": 1})
    assert book.withdraw_order("o1") == offer
    assert book.state(offer.id) == "withdrawn"
    assert book.withdraw_order("o1") is None
    assert book.exclusions() == {}


def test_unknown_ids_and_bad_timeout_are_typed() -> None:
    book = OfferBook(clock=FakeClock())
    for call in (book.accept, book.reject, book.state):
        with pytest.raises(UnknownId) as info:
            call("nope")
        assert info.value.field == "offer_id" and isinstance(info.value, KeyError)
    with pytest.raises(InvalidParams):
        OfferBook(timeout_s=0)


def race_accepts(book: OfferBook, offer_id: str, n: int) -> tuple[list[str], list[str]]:
    """n threads accept the same offer at once; returns (winners, loss reasons)."""
    barrier = threading.Barrier(n)
    wins: list[str] = []
    losses: list[str] = []

    def worker() -> None:
        barrier.wait()
        try:
            book.accept(offer_id, on_accept=lambda o: wins.append(o.id))
        except OfferConflict as err:
            losses.append(err.reason)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, losses


def test_concurrent_accepts_of_one_offer_have_one_winner() -> None:
    book = OfferBook(clock=FakeClock())
    for round_ in range(20):
        (offer,) = book.make_offers([OfferRequest(f"o{round_}", "c1")], {"c1": 1})
        wins, losses = race_accepts(book, offer.id, 8)
        assert wins == [offer.id]
        assert losses == ["not_outstanding"] * 7


def test_concurrent_offers_never_overbook_a_courier_or_double_offer_an_order() -> None:
    book = OfferBook(clock=FakeClock())
    barrier = threading.Barrier(6)
    made: list[str] = []

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(30):
            # Every thread races for the same orders and the same two couriers.
            try:
                offers = book.make_offers(
                    [OfferRequest(f"o{i}", f"c{(i + n) % 2}")], {"c0": 3, "c1": 3}
                )
                made.extend(o.order_id for o in offers)
            except OfferConflict:
                pass

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == len(set(made)) == 6
    assert book.held_units() == {"c0": 3, "c1": 3}
