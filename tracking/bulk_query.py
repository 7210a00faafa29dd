"""Bulk radius / k-nearest queries for candidate generation: a join of queries and points over a
grid of cubes in unit-vector space, without a Python pass per query or per cell."""

from __future__ import annotations

import math
from typing import NamedTuple

import h3
import numpy as np

from tracking.arrays import FloatArray, IntArray

_ONES3 = np.ones(3)
# Element budget of one block of candidate pairs (a few arrays of 8 bytes each).
_BLOCK = 2_000_000
# Cubes per query radius: a query's candidates lie in the cubes within `_REACH` of its own on
# each axis. Measured on a crowded dispatch pool (17k orders, 2k couriers): one cube per radius
# took 20-30 ms a query batch, two 5-7 ms, three 2-4 ms, four 6-10 ms (finer cubes prune
# closer to the radius, but every cube has more neighbours to look up).
_REACH = 3
# Cube coordinates are packed into one int64 key, 21 bits each; the smallest cube keeps
# them within range (|x| <= 1 on the unit sphere, so at most 2^18 cubes each way).
_BITS = 21
_CENTRE = 1 << (_BITS - 1)
_MIN_SIDE = 2.0**-18


def _offsets(reach: int) -> IntArray:
    """Key offsets of the cubes around a cube that can hold a point within ``reach`` cube
    sides of a point in it (the gap between the two boxes at most ``reach`` sides)."""
    steps = range(-reach, reach + 1)
    return np.array(
        [
            (dx << (2 * _BITS)) + (dy << _BITS) + dz
            for dx in steps
            for dy in steps
            for dz in steps
            if sum(max(abs(d) - 1, 0) ** 2 for d in (dx, dy, dz)) <= reach * reach
        ],
        dtype=np.int64,
    )


_OFFSETS = _offsets(_REACH)


class _Cubes(NamedTuple):
    """Rows of one side grouped by cube: ``by`` the row indices sorted by cube; per occupied
    cube its ``key``, ``start`` and ``size`` in ``by``, and its lowest ``corner``."""

    by: IntArray
    key: IntArray
    start: IntArray
    size: IntArray
    corner: FloatArray


def candidate_pairs(
    queries: FloatArray,
    which: IntArray,
    slack: FloatArray,
    top_k: int | None,
    points: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every (query, point) pair within the query's squared chord ``slack`` (the ``top_k``
    nearest of each query when given), for the queries ``which``.

    Queries and points are unit vectors (rows of ``(n, 3)`` arrays). Space is cut into cubes
    of ``1 / _REACH`` the largest chord of ``which``: two points that close lie at most
    ``_REACH`` cubes apart on each axis, so the pairs lie in pairs of neighbouring cubes
    (found by one sorted search per cube and offset, from the side with fewer cubes). Those
    are expanded to (row, cube) pairs from the side that gives fewer, pruned by the distance
    from the row to the cube's box, then to (query, point) pairs measured one by one. No
    Python pass per query or per cube, and exact wherever on the globe.

    Returns
    -------
    tuple
        ``(query index, point index, squared chord)`` arrays of the kept pairs, in no
        particular order (sorted by query, then distance, when ``top_k`` is given).
    """
    empty = np.empty(0, dtype=np.int64)
    if not which.size or not points.shape[0]:
        return empty, empty, np.empty(0)
    side = max(math.sqrt(float(slack.take(which).max())) * (1 + 1e-6) / _REACH, _MIN_SIDE)
    q = _cubes(queries, which, side)
    p = _cubes(points, np.arange(points.shape[0]), side)
    gq, gp = _neighbour_cubes(q.key, p.key)
    # A crowded pool against a few free couriers: rows per courier are far fewer.
    by_point = int(p.size.take(gp).sum()) < int(q.size.take(gq).sum())
    if by_point:
        rows, cube, gap2 = _rows_near_cubes(points, p, gp, q, gq, side)
        limit = np.maximum.reduceat(slack.take(q.by), q.start).take(cube)
        other = q
    else:
        rows, cube, gap2 = _rows_near_cubes(queries, q, gq, p, gp, side)
        limit = slack.take(rows)
        other = p
    near = np.flatnonzero(gap2 <= limit * (1 + 1e-9) + 1e-24)
    rows, cube = rows.take(near), cube.take(near)
    # Then every (row, member of its cube) pair, built and measured block by block.
    n = other.size.take(cube)
    ends = np.cumsum(n)
    out_q: list[IntArray] = []
    out_p: list[IntArray] = []
    out_d: list[FloatArray] = []
    lo = 0
    while lo < rows.size:
        done = int(ends[lo - 1]) if lo else 0
        hi = max(int(np.searchsorted(ends, done + _BLOCK, side="right")), lo + 1)
        mine = np.repeat(rows[lo:hi], n[lo:hi])
        theirs = other.by.take(_ranges(other.start.take(cube[lo:hi]), n[lo:hi]))
        qq, pp = (theirs, mine) if by_point else (mine, theirs)
        d = points.take(pp, axis=0)
        d -= queries.take(qq, axis=0)
        d2 = np.square(d, out=d) @ _ONES3
        keep = np.flatnonzero(d2 <= slack.take(qq))
        out_q.append(qq.take(keep))
        out_p.append(pp.take(keep))
        out_d.append(d2.take(keep))
        lo = hi
    if not out_q:
        return empty, empty, np.empty(0)
    q_idx, p_idx, d2 = np.concatenate(out_q), np.concatenate(out_p), np.concatenate(out_d)
    if top_k is None:
        return q_idx, p_idx, d2
    # The k nearest of each query: rank the pairs within their query, keep ranks below k.
    order = np.lexsort((d2, q_idx))
    q_idx, p_idx, d2 = q_idx.take(order), p_idx.take(order), d2.take(order)
    first = np.r_[True, q_idx[1:] != q_idx[:-1]]
    rank = np.arange(q_idx.size) - np.maximum.accumulate(np.where(first, np.arange(q_idx.size), 0))
    top = rank < top_k
    return q_idx[top], p_idx[top], d2[top]


def _cubes(xyz: FloatArray, rows: IntArray, side: float) -> _Cubes:
    c = np.floor(xyz.take(rows, axis=0) * (1.0 / side)).astype(np.int64)
    keys = (
        ((c[:, 0] + _CENTRE) << (2 * _BITS)) | ((c[:, 1] + _CENTRE) << _BITS) | (c[:, 2] + _CENTRE)
    )
    order = np.argsort(keys, kind="stable")
    ordered = keys.take(order)
    start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    size = np.diff(np.r_[start, ordered.size])
    corner = np.asarray(c.take(order.take(start), axis=0) * side, dtype=np.float64)
    return _Cubes(rows.take(order), ordered.take(start), start, size, corner)


def _rows_near_cubes(
    xyz: FloatArray, mine: _Cubes, g_mine: IntArray, theirs: _Cubes, g_theirs: IntArray, side: float
) -> tuple[IntArray, IntArray, FloatArray]:
    """For each pair of neighbouring cubes, every row of ``mine``'s cube against ``theirs``'
    cube: ``(row, cube of theirs, squared distance from the row to that cube's box)``."""
    n = mine.size.take(g_mine)
    rows = mine.by.take(_ranges(mine.start.take(g_mine), n))
    cube = np.repeat(g_theirs, n)
    below = theirs.corner.take(cube, axis=0)
    below -= xyz.take(rows, axis=0)
    gap = np.maximum(below, 0.0)
    # Beyond the far face; the box is a hair wide for the rounding of the cube bounds.
    np.maximum(gap, np.negative(below, out=below) - side * (1 + 1e-9), out=gap)
    return rows, cube, np.square(gap, out=gap) @ _ONES3


def _neighbour_cubes(q_cubes: IntArray, p_cubes: IntArray) -> tuple[IntArray, IntArray]:
    """Pairs (query cube, point cube) at most `_REACH` apart on each axis, as positions in
    the two sorted key arrays; the neighbours of the fewer cubes are looked up in the other."""
    few, many = (q_cubes, p_cubes) if q_cubes.size <= p_cubes.size else (p_cubes, q_cubes)
    around = (few[:, None] + _OFFSETS).ravel()
    pos = np.minimum(np.searchsorted(many, around), many.size - 1)
    hit = np.flatnonzero(many.take(pos) == around)
    mine, theirs = hit // _OFFSETS.size, pos.take(hit)
    return (mine, theirs) if few is q_cubes else (theirs, mine)


def _ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`` without the loop."""
    total = int(counts.sum())
    if not total:
        return np.empty(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return shift + np.arange(total)


def edge_m(resolution: int) -> float:
    return float(h3.average_hexagon_edge_length(resolution, "m"))
