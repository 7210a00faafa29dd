"""The cube join of `tracking.bulk_query.candidate_pairs` against every pair measured."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.distance import unit_vectors
from tests.geo.strategies import destination, lats, lngs
from tracking.bulk_query import candidate_pairs

ONES3 = np.ones(3)


@st.composite
def clouds(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Queries and points around one centre (anywhere, poles and antimeridian included) or
    over the whole globe, some queries on points, squared chords from nothing to the globe;
    either side may be the crowded one."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    n_q, n_p = draw(st.integers(1, 120)), draw(st.integers(1, 120))
    if draw(st.booleans()):
        lat0, lng0 = draw(lats), draw(lngs)
        spread = draw(st.floats(10.0, 50_000.0))

        def cloud(n: int) -> np.ndarray:
            la, ln = destination(
                lat0, lng0, rng.uniform(0, 2 * math.pi, n), spread * np.sqrt(rng.uniform(0, 1, n))
            )
            return unit_vectors(la, ln)
    else:

        def cloud(n: int) -> np.ndarray:
            return unit_vectors(rng.uniform(-90, 90, n), rng.uniform(-180, 180, n))

    queries, points = cloud(n_q), cloud(n_p)
    on = rng.random(n_q) < 0.2
    queries[on] = points[rng.integers(0, n_p, int(on.sum()))]
    top = draw(st.sampled_from([1e-10, 1e-6, 1e-3, 0.1, 4.0]))
    slack = rng.uniform(0, top, n_q) if draw(st.booleans()) else np.full(n_q, top)
    which = np.flatnonzero(rng.random(n_q) < draw(st.floats(0.2, 1.0)))
    return queries, which, slack, points


def brute(
    queries: np.ndarray, which: np.ndarray, slack: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query, point) index grids over ``which`` and every point, with squared chords."""
    q, p = np.meshgrid(which, np.arange(points.shape[0]), indexing="ij")
    q, p = q.ravel(), p.ravel()
    d = points[p] - queries[q]
    return q, p, np.square(d) @ ONES3


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clouds(), st.one_of(st.none(), st.integers(1, 6)))
def test_candidate_pairs_equal_brute_force(
    cloud: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], k: int | None
) -> None:
    queries, which, slack, points = cloud
    q_idx, p_idx, d2 = candidate_pairs(queries, which, slack, k, points)
    bq, bp, bd2 = brute(queries, which, slack, points)
    # Pairs at the very edge may fall either way by the rounding of the sums.
    edge = np.abs(bd2 - slack[bq]) <= 1e-12 * np.maximum(slack[bq], 1e-12)
    got = set(zip(q_idx.tolist(), p_idx.tolist(), strict=True))
    assert len(got) == q_idx.size
    np.testing.assert_allclose(d2, np.square(points[p_idx] - queries[q_idx]) @ ONES3, rtol=1e-12)
    inside = bd2 <= slack[bq]
    if k is None:
        must = set(zip(bq[inside & ~edge].tolist(), bp[inside & ~edge].tolist(), strict=True))
        may = set(zip(bq[inside | edge].tolist(), bp[inside | edge].tolist(), strict=True))
        assert must <= got <= may
        return
    # The k nearest within the slack: as many as there are (up to k), none nearer left out.
    assert np.all(np.bincount(q_idx, minlength=queries.shape[0]) <= k)
    for qi in which.tolist():
        mine = bq == qi
        within = np.sort(bd2[mine & inside])
        kept = np.sort(d2[q_idx == qi])
        assert abs(kept.size - min(k, within.size)) <= int((edge & mine).sum())
        n = min(kept.size, within.size)
        np.testing.assert_allclose(kept[:n], within[:n], rtol=1e-12, atol=1e-30)


def test_candidate_pairs_of_a_crowded_pool_and_a_few_couriers() -> None:
    """Many queries against few points takes the per-point expansion; same pairs."""
    rng = np.random.default_rng(5)
    la, ln = destination(-1.29, 36.82, rng.uniform(0, 2 * math.pi, 3000), rng.uniform(0, 3e3, 3000))
    queries = unit_vectors(la, ln)
    pla, pln = destination(-1.29, 36.82, rng.uniform(0, 2 * math.pi, 30), rng.uniform(0, 8e3, 30))
    points = unit_vectors(pla, pln)
    slack = np.full(3000, (2 * math.sin(1500.0 / 6_371_008.8 / 2)) ** 2)
    which = np.arange(3000)
    q_idx, p_idx, _ = candidate_pairs(queries, which, slack, None, points)
    bq, bp, bd2 = brute(queries, which, slack, points)
    inside = bd2 <= slack[bq]
    assert set(zip(q_idx.tolist(), p_idx.tolist(), strict=True)) == set(
        zip(bq[inside].tolist(), bp[inside].tolist(), strict=True)
    )
    assert inside.sum() > 100
