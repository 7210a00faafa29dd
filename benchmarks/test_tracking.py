"""Live index benchmarks (issue 2): ingest with fences, 10-NN, within 1 km, bulk candidates,
each next to its peer (brute-force numpy, scipy cKDTree) on the same data in the same run."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from scipy.spatial import cKDTree

from geo import great_circle_m_array
from geo.distance import chord2_to_m, unit_vectors
from sims.demo import city_points, jitter, square_fence
from tracking import LiveIndex

N = 100_000
NOW = 1_700_000_000.0


class Fleet:
    """100k couriers in the 28 × 44 km box, 50 fences, a clock that runs with the pings."""

    def __init__(self, n: int = N, fences: int = 50) -> None:
        self.rng = np.random.default_rng(42)
        self.now = NOW
        self.index = LiveIndex(clock=lambda: self.now)
        self.ids = np.arange(n)
        self.lats, self.lngs = city_points(n, self.rng)
        self.index.upsert_many(self.ids, self.lats, self.lngs, self.now)
        centres = city_points(fences, self.rng)
        for i, (lat, lng) in enumerate(zip(*centres, strict=True)):
            half = float(self.rng.uniform(300.0, 2500.0))
            self.index.add_fence(f"fence-{i}", square_fence(float(lat), float(lng), half))

    def next_batch(self) -> tuple[tuple[object, ...], dict[str, object]]:
        """Every courier moves ~40 m per axis in 5 s (typical urban speeds)."""
        self.now += 5.0
        self.lats, self.lngs = jitter(self.lats, self.lngs, 40.0, self.rng)
        return (self.ids, self.lats, self.lngs, self.now), {}


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet()


def queries(n: int = 4096, seed: int = 3) -> Iterator[tuple[float, float]]:
    lats, lngs = city_points(n, np.random.default_rng(seed))
    return itertools.cycle(zip(lats.tolist(), lngs.tolist(), strict=True))


def per_query(fn: Callable[[float, float], object], warm: bool = True) -> Callable[[], object]:
    """One query per call, cycling over 4096 points; ``warm`` runs them all once first (a
    service that has been answering for a while has its per-cell caches filled)."""
    points = queries()
    if warm:
        for _ in range(4096):
            fn(*next(points))
    return lambda: fn(*next(points))


def test_ingest_100k_pings_50_fences(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    result = benchmark.pedantic(fleet.index.upsert_many, setup=fleet.next_batch, rounds=8)
    assert result.n_accepted == N
    benchmark.extra_info["pings_per_s"] = N / benchmark.stats.stats.median


def test_knn10_live_index(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    found = benchmark(per_query(lambda a, b: fleet.index.nearest(a, b, 10)))
    assert len(found) == 10  # type: ignore[arg-type]


def test_knn10_live_index_after_every_change(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    # As if a ping had moved a courier between cells before every query: the ring's row
    # cache is cold each time (per-cell arrays and ring geometry stay cached).
    cells = fleet.index._cells

    def query(a: float, b: float) -> object:
        cells.epoch += 1
        return fleet.index.nearest(a, b, 10)

    found = benchmark(per_query(query))
    assert len(found) == 10  # type: ignore[arg-type]


def test_knn10_bruteforce_numpy(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    lats, lngs = fleet.lats, fleet.lngs

    def brute(a: float, b: float) -> list[tuple[int, float]]:
        d = great_circle_m_array(a, b, lats, lngs)
        top = np.argpartition(d, 9)[:10]
        top = top[np.argsort(d[top])]
        return list(zip(top.tolist(), d[top].tolist(), strict=True))

    found = benchmark(per_query(brute))
    assert len(found) == 10  # type: ignore[arg-type]


def test_knn10_scipy_ckdtree(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    tree = cKDTree(unit_vectors(fleet.lats, fleet.lngs))

    def query(a: float, b: float) -> list[tuple[int, float]]:
        dist, idx = tree.query(unit_vectors(a, b), k=10)
        return list(zip(idx.tolist(), chord2_to_m(dist**2).tolist(), strict=True))

    found = benchmark(per_query(query))
    assert len(found) == 10  # type: ignore[arg-type]


def test_within_1km_live_index(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    benchmark(per_query(lambda a, b: fleet.index.within(a, b, 1000.0)))


def test_within_1km_bruteforce_numpy(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    lats, lngs = fleet.lats, fleet.lngs

    def brute(a: float, b: float) -> list[tuple[int, float]]:
        d = great_circle_m_array(a, b, lats, lngs)
        hit = np.flatnonzero(d <= 1000.0)
        hit = hit[np.argsort(d[hit])]
        return list(zip(hit.tolist(), d[hit].tolist(), strict=True))

    benchmark(per_query(brute))


def test_upsert_single_ping(benchmark, fleet: Fleet) -> None:  # type: ignore[no-untyped-def]
    state = {"i": 0}

    def one() -> object:
        fleet.now += 0.001
        i = state["i"] = (state["i"] + 1) % N
        return fleet.index.upsert(int(i), float(fleet.lats[i]), float(fleet.lngs[i]), fleet.now)

    benchmark(one)


@pytest.fixture(scope="module")
def dispatch_fleet() -> tuple[LiveIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    index = LiveIndex(clock=lambda: NOW)
    lats, lngs = city_points(10_000, rng)
    index.upsert_many(np.arange(10_000), lats, lngs, NOW, status="idle")
    q_lats, q_lngs = city_points(2_000, rng)
    return index, q_lats, q_lngs


def test_within_many_2000_queries_10k_couriers_3km_k20(benchmark, dispatch_fleet) -> None:  # type: ignore[no-untyped-def]
    index, q_lats, q_lngs = dispatch_fleet
    res = benchmark(index.within_many, q_lats, q_lngs, 3000.0, k=20, status="idle")
    assert res.metres.size > 0


def test_within_many_bruteforce_numpy(benchmark, dispatch_fleet) -> None:  # type: ignore[no-untyped-def]
    index, q_lats, q_lngs = dispatch_fleet
    rows = np.arange(10_000)
    lats, lngs = index._lat[rows], index._lng[rows]

    def brute() -> int:
        total = 0
        for start in range(0, q_lats.size, 200):
            d = great_circle_m_array(
                q_lats[start : start + 200, None], q_lngs[start : start + 200, None], lats, lngs
            )
            d = np.where(d <= 3000.0, d, np.inf)
            top = np.argpartition(d, 19, axis=1)[:, :20]
            total += int(np.isfinite(np.take_along_axis(d, top, axis=1)).sum())
        return total

    assert benchmark.pedantic(brute, rounds=3) > 0


class Chains:
    """2000 couriers; each batch: 200 of them send 50 pings each (a driver app's buffered
    minute), as the API's ping batcher hands them to the index."""

    def __init__(self, couriers: int = 2000, senders: int = 200, per: int = 50) -> None:
        self.rng = np.random.default_rng(7)
        self.now = NOW
        self.index = LiveIndex(clock=lambda: self.now)
        self.lats, self.lngs = city_points(couriers, self.rng)
        self.index.upsert_many(np.arange(couriers), self.lats, self.lngs, self.now - 60)
        self.senders, self.per, self.couriers = senders, per, couriers

    def next_batch(self) -> tuple[tuple[object, ...], dict[str, object]]:
        """Each sender's pings 0.1 s and ~1 m apart, in batch order (courier by courier)."""
        self.now += 5.0
        who = self.rng.choice(self.couriers, self.senders, replace=False)
        step = np.tile(np.arange(self.per) * 1e-5, self.senders)
        ids = np.repeat(who, self.per)
        ts = self.now - 5.0 + np.tile(np.arange(self.per) * 0.1, self.senders)
        lats = self.lats[ids] + step
        self.lats[who] = lats[self.per - 1 :: self.per]  # the next batch starts from here
        return (ids, lats, self.lngs[ids], ts), {}


def one_by_one(index: LiveIndex, ids, lats, lngs, ts) -> int:  # type: ignore[no-untyped-def]
    """The peer: the same pings one `upsert` each, in order."""
    return sum(
        index.upsert(c, a, b, t).accepted
        for c, a, b, t in zip(ids.tolist(), lats.tolist(), lngs.tolist(), ts.tolist(), strict=True)
    )


def test_upsert_many_200_couriers_50_pings_each(benchmark) -> None:  # type: ignore[no-untyped-def]
    chains = Chains()
    result = benchmark.pedantic(chains.index.upsert_many, setup=chains.next_batch, rounds=10)
    assert result.n_accepted == 200 * 50


def test_upsert_one_by_one_200_couriers_50_pings_each(benchmark) -> None:  # type: ignore[no-untyped-def]
    chains = Chains()

    def setup() -> tuple[tuple[object, ...], dict[str, object]]:
        args, _ = chains.next_batch()
        return (chains.index, *args), {}

    assert benchmark.pedantic(one_by_one, setup=setup, rounds=3) == 200 * 50
