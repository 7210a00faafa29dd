"""Bulk radius / k-nearest queries for candidate generation, grouped by coarse H3 cell."""

from __future__ import annotations

import contextlib
import math

import h3
import h3.api.basic_int as h3i
import numpy as np

from geo.cells import cell_geometry, cells_of_valid, parent_cells, ring_for_offset
from geo.distance import EARTH_RADIUS_M, chord2_to_m_scalar, m_to_chord2
from geo.errors import InvalidParameter
from tracking.arrays import FloatArray, IntArray

_ONES3 = np.ones(3)
# Element budget of one distance block (8 bytes each).
_BLOCK = 4_000_000


def candidate_pairs(
    queries: FloatArray,
    la: FloatArray,
    ln: FloatArray,
    which: IntArray,
    radii: FloatArray,
    top_k: int | None,
    points: FloatArray,
    point_cells: IntArray,
    resolution: int,
    density: float,
    area: float,
    fine_cells: IntArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Candidate (query, point) index pairs within each query's radius (the ``top_k`` nearest
    when given) for the queries ``which``, grouped by coarse cell; see `tracking.LiveIndex.within_many`.
    Distances are compared in a centred dot-product form; the caller recomputes them exactly.
    ``fine_cells``, the queries' cells at resolution 15 when known, spare computing them."""
    empty = np.empty(0, dtype=np.int64)
    if not which.size:
        return empty, empty
    coarse = group_resolution(float(radii[which].max()), resolution, which.size, density, area)
    parents = parent_cells(point_cells, coarse)
    by_cell = np.argsort(parents, kind="stable")
    cells, starts, counts = np.unique(parents.take(by_cell), return_index=True, return_counts=True)
    if fine_cells is None:
        query_cells = cells_of_valid(la.take(which), ln.take(which), coarse)
    else:
        query_cells = parent_cells(fine_cells.take(which), coarse)
    q_order = which.take(np.argsort(query_cells, kind="stable"))
    groups, g_starts, g_counts = np.unique(
        np.sort(query_cells), return_index=True, return_counts=True
    )
    half_angle = np.minimum(radii / EARTH_RADIUS_M, math.pi) / 2.0
    slack = (2.0 * np.sin(half_angle)) ** 2 * (1 + 1e-9) + 1e-18
    out_q: list[IntArray] = []
    out_p: list[IntArray] = []
    out_d: list[FloatArray] = []
    for g, start, count in zip(groups.tolist(), g_starts.tolist(), g_counts.tolist(), strict=True):
        qi = q_order[start : start + count]
        geom = cell_geometry(g)
        centre = np.array(geom.xyz)
        circumradius = geom.circumradius * EARTH_RADIUS_M
        if fine_cells is not None:
            # A fine cell's parent need not hold the point itself (H3 children stick out of
            # their parent a little): reach from the farthest query of the group instead.
            farthest = float(np.max(np.square(queries.take(qi, axis=0) - centre) @ _ONES3))
            circumradius = max(circumradius, chord2_to_m_scalar(farthest))
        radius = float(radii.take(qi).max())
        estimate = int((radius + circumradius) / (1.5 * edge_m(coarse))) + 1
        ring = None
        if 3 * estimate * estimate <= 4 * cells.size:
            with contextlib.suppress(InvalidParameter):  # no set of rings reaches that far
                ring = ring_for_offset(g, circumradius, radius, max_k=4 * estimate)
        if ring is None:
            # The rings would hold more cells than the couriers occupy: take them all.
            cand = np.arange(points.shape[0])
        else:
            disk = np.array(h3i.grid_disk(g, ring), dtype=np.int64)
            pos = np.minimum(np.searchsorted(cells, disk), cells.size - 1)
            pos = pos[cells.take(pos) == disk]
            if not pos.size:
                continue
            cand = np.concatenate(
                [
                    by_cell[s : s + c]
                    for s, c in zip(starts[pos].tolist(), counts[pos].tolist(), strict=True)
                ]
            )
        # Centred on the group's cell, |q - p|^2 = |q|^2 + |p|^2 - 2 q.p keeps its precision,
        # and one matrix product [q, |q|^2, 1] @ [-2p, 1, |p|^2]^T yields every distance.
        pc = points.take(cand, axis=0)
        pc -= centre
        pn = np.square(pc) @ _ONES3
        # Only couriers within radius + circumradius of the centre can be near a query of the
        # group: that circle is much smaller than the hexagonal disk around it.
        reach = m_to_chord2(radius + circumradius)
        near = np.flatnonzero(pn <= reach * (1 + 1e-9) + 1e-18)
        if not near.size:
            continue
        cand, pc, pn = cand.take(near), pc.take(near, axis=0), pn.take(near)
        right = np.empty((cand.size, 5))
        right[:, :3] = pc * -2.0
        right[:, 3] = 1.0
        right[:, 4] = pn
        step = max(1, _BLOCK // cand.size)
        for b in range(0, qi.size, step):
            qb = qi[b : b + step]
            left = np.empty((qb.size, 5))
            qc = queries.take(qb, axis=0)
            qc -= centre
            left[:, :3] = qc
            left[:, 3] = np.square(qc) @ _ONES3
            left[:, 4] = 1.0
            d2 = left @ right.T
            qq, pp = np.nonzero(d2 <= slack.take(qb)[:, None])
            out_q.append(qb.take(qq))
            out_p.append(cand.take(pp))
            out_d.append(d2[qq, pp])
    if not out_q:
        return empty, empty
    q_idx, p_idx, d2 = np.concatenate(out_q), np.concatenate(out_p), np.concatenate(out_d)
    if top_k is None:
        return q_idx, p_idx
    # The k nearest of each query: rank the pairs within their query, keep ranks below k.
    order = np.lexsort((d2, q_idx))
    q_idx, p_idx = q_idx.take(order), p_idx.take(order)
    first = np.r_[True, q_idx[1:] != q_idx[:-1]]
    rank = np.arange(q_idx.size) - np.maximum.accumulate(np.where(first, np.arange(q_idx.size), 0))
    keep = rank < top_k
    return q_idx[keep], p_idx[keep]


def edge_m(resolution: int) -> float:
    return float(h3.average_hexagon_edge_length(resolution, "m"))


def group_resolution(
    radius_m: float, resolution: int, n_queries: int, density: float, area: float
) -> int:
    """Resolution at which `candidate_pairs` groups queries: coarse cells mean few groups (a fixed
    Python cost each) but more candidate pairs (a numpy cost each); pick the cheaper mix."""
    best, best_cost = resolution, math.inf
    for res in range(resolution, -1, -1):
        edge = edge_m(res)
        cell_area = float(h3.average_hexagon_area(res, "m^2"))
        rings = math.ceil((radius_m + edge) / (1.5 * edge))
        disk_cells = 3 * rings * (rings + 1) + 1
        # Pairs: every query against the couriers within radius + circumradius of its cell.
        pairs = n_queries * density * math.pi * (radius_m + edge) ** 2
        cells = area / cell_area + 1.0
        groups = cells * -math.expm1(-n_queries / cells)  # expected distinct query cells
        gathered = density * disk_cells * cell_area
        # Fitted on measurements, in candidate pairs of work: a group about 6000 (Python and
        # small numpy calls), a ring cell about 10, a gathered courier about 0.5.
        cost = groups * (6000.0 + 10.0 * disk_cells + 0.5 * gathered) + pairs
        if cost < best_cost:
            best, best_cost = res, cost
        elif edge > 4.0 * radius_m:
            break
    return best
