"""The shard map: coarse H3 cell (resolution 3–5) → shard id, versioned, kept in Redis."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h3.api.basic_int as h3i
import msgspec
import numpy as np

from geo.cells import cell_of, check_resolution, parent_cells, ring_for_radius
from scaling import keys
from scaling.errors import InvalidShardMap, NoShardMap

MIN_RESOLUTION = 3
MAX_RESOLUTION = 5


@dataclass(frozen=True)
class ShardMap:
    """Which shard owns each coarse cell; a cell not listed belongs to ``default``.

    Parameters
    ----------
    resolution
        H3 resolution of the owned cells, 3 to 5 (a res-4 cell is about 1,800 km²).
    cells
        Coarse cell → shard id.
    default
        Owner of every cell not in ``cells``.
    version
        Bumped on every change, so workers notice a new map.
    """

    resolution: int
    cells: Mapping[int, int] = field(default_factory=dict)
    default: int = 0
    version: int = 1

    def __post_init__(self) -> None:
        problems: list[tuple[str, Any, str]] = []
        res = self.resolution
        if isinstance(res, bool) or not isinstance(res, int) or not 3 <= res <= 5:
            problems.append(("resolution", res, f"need {MIN_RESOLUTION}..{MAX_RESOLUTION}"))
        if isinstance(self.default, bool) or not isinstance(self.default, int) or self.default < 0:
            problems.append(("default", self.default, "need a shard id >= 0"))
        for cell, shard in self.cells.items():
            if not isinstance(shard, int) or shard < 0:
                problems.append((f"cells[{cell:x}]", shard, "need a shard id >= 0"))
            elif not h3i.is_valid_cell(cell) or h3i.get_resolution(cell) != res:
                problems.append((f"cells[{cell:x}]", cell, f"not an H3 cell of resolution {res}"))
        if problems:
            raise (
                InvalidShardMap(*problems[0])
                if len(problems) == 1
                else InvalidShardMap(
                    "shard_map",
                    [p[0] for p in problems],
                    "; ".join(f"{f}: {r}" for f, _, r in problems),
                )
            )

    @property
    def shards(self) -> list[int]:
        """Every shard id the map names, ascending."""
        return sorted({self.default, *self.cells.values()})

    def shard_of_cell(self, cell: int) -> int:
        """Owner of a cell of any resolution at or finer than the map's."""
        if h3i.get_resolution(cell) != self.resolution:
            cell = h3i.cell_to_parent(cell, self.resolution)
        return self.cells.get(cell, self.default)

    def shard_of(self, lat: float, lng: float) -> int:
        """Owner of a point."""
        return self.cells.get(cell_of(lat, lng, self.resolution), self.default)

    def shards_of_cells(self, cells: Iterable[int]) -> dict[int, list[int]]:
        """Shard → the given cells (any resolution at or finer than the map's) it owns."""
        given = list(cells)
        if not given:
            return {}
        coarse = parent_cells(np.asarray(given, dtype=np.int64), self.resolution).tolist()
        out: dict[int, list[int]] = {}
        for cell, parent in zip(given, coarse, strict=True):
            out.setdefault(self.cells.get(parent, self.default), []).append(cell)
        return out

    def shards_near(self, lat: float, lng: float, radius_m: float) -> set[int]:
        """Every shard owning a coarse cell that any point within ``radius_m`` of the point
        lies in (guaranteed cover, `geo.cells.ring_for_radius`); may name a few more."""
        centre = cell_of(lat, lng, self.resolution)
        rings = ring_for_radius(lat, lng, radius_m, self.resolution)
        return {self.cells.get(c, self.default) for c in h3i.grid_disk(centre, rings)}


def balanced(cells: Iterable[int], n_shards: int, resolution: int) -> ShardMap:
    """Split coarse cells into ``n_shards`` runs of neighbouring cells (west to east by centre
    longitude), equal in count: a starting map for a city, before weighting by load."""
    if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
        raise InvalidShardMap("n_shards", n_shards, "need >= 1")
    res = check_resolution(resolution)
    coarse = sorted(
        {h3i.cell_to_parent(c, res) if h3i.get_resolution(c) > res else c for c in cells}
    )
    if not coarse:
        raise InvalidShardMap("cells", [], "need at least one cell")
    by_lng = sorted(coarse, key=lambda c: (h3i.cell_to_latlng(c)[1], c))
    owner = {c: min(i * n_shards // len(by_lng), n_shards - 1) for i, c in enumerate(by_lng)}
    return ShardMap(resolution=res, cells=owner, default=0)


class _Stored(msgspec.Struct):
    resolution: int
    default: int
    version: int
    cells: list[tuple[int, int]]


async def save(redis: Any, shard_map: ShardMap) -> ShardMap:
    """Write the map with the next version (one hash, written atomically) and announce it on
    `keys.CONTROL`, so running shards and workers reload it; returns it."""
    old = await redis.hget(keys.SHARD_MAP, "map")
    version = msgspec.json.decode(old, type=_Stored).version + 1 if old else shard_map.version
    stored = _Stored(
        shard_map.resolution, shard_map.default, version, sorted(shard_map.cells.items())
    )
    await redis.hset(
        keys.SHARD_MAP, mapping={"map": msgspec.json.encode(stored), "version": version}
    )
    await redis.publish(keys.CONTROL, version)
    return ShardMap(shard_map.resolution, dict(shard_map.cells), shard_map.default, version)


async def load(redis: Any) -> ShardMap:
    """The map Redis holds (`NoShardMap` when none was written)."""
    raw = await redis.hget(keys.SHARD_MAP, "map")
    if raw is None:
        raise NoShardMap(keys.SHARD_MAP)
    stored = msgspec.json.decode(raw, type=_Stored)
    return ShardMap(stored.resolution, dict(stored.cells), stored.default, stored.version)
