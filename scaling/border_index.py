"""Dispatch candidates across a shard boundary: the shard's own live index, plus the couriers
neighbouring shards lent it for this run, minus its own couriers lent to a neighbour."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling.codec import CourierSnapshot
from tracking import CourierColumns, LiveIndex
from tracking.results import Neighbours


def restore(index: LiveIndex, ids: list[str], snaps: list[CourierSnapshot]) -> None:
    """Put couriers into an index at their last state (a shard's restart, a takeover, a loan);
    an offline courier comes back idle (its effective status follows its ping age)."""
    index.upsert_many(
        ids,
        [s.lat for s in snaps],
        [s.lng for s in snaps],
        [s.ts for s in snaps],
        speed=[s.speed for s in snaps],
        heading=[s.heading for s in snaps],
        accuracy=[s.accuracy for s in snaps],
        tenant=[s.tenant for s in snaps],
        vehicle=[s.vehicle for s in snaps],
        capacity=[s.capacity for s in snaps],
        load=[s.load for s in snaps],
        status=["idle" if s.status == "offline" else s.status for s in snaps],
        idle_since=[np.nan if s.idle_since is None else s.idle_since for s in snaps],
    )


class BorderIndex:
    """A `dispatch.candidates.CandidateIndex` over two live indexes.

    Rows of lent couriers are their row in ``foreign`` plus the own index's row span at the
    query, so they follow the own rows densely (candidate generation sizes a table by the
    largest row) and `columns` knows which index a row belongs to.

    Parameters
    ----------
    own
        The shard's live index.
    clock
        The own index's clock (a lent courier's status follows its ping age the same way).
    """

    def __init__(self, own: LiveIndex, clock: Callable[[], float]) -> None:
        self.own = own
        self.clock = clock
        self.foreign = LiveIndex(resolution=own.resolution, clock=clock)
        self._offset = 0
        self._live = own
        self.in_batch: Collection[str] = frozenset()
        """Own couriers a running batch sees (`freeze`): not to be lent meanwhile."""
        self.lent_out: Collection[str] = frozenset()
        """Own couriers lent to another shard: not candidates here meanwhile."""

    def borrow(self, lent: dict[str, CourierSnapshot]) -> None:
        """The couriers other shards lent for the next run (replacing the last run's); one
        handed over to this shard meanwhile counts once, as its own."""
        lent = {c: snap for c, snap in lent.items() if c not in self.own}
        if lent or len(self.foreign):
            self.foreign = LiveIndex(resolution=self.own.resolution, clock=self.clock)
        if lent:
            restore(self.foreign, list(lent), list(lent.values()))

    def freeze(self, pickups: list[tuple[float, float, float]]) -> LiveIndex:
        """Serve the own couriers within reach of these ``(lat, lng, radius)`` pickups from a
        copy until `thaw`, so a batch can run on a thread while ingest writes the live index;
        returns the copy (the batch's view of those couriers, positions included)."""
        self._live = self.own
        copy = LiveIndex(resolution=self.own.resolution, clock=self.clock)
        if pickups and len(self.own):
            lats, lngs, radii = (np.array(col) for col in zip(*pickups, strict=True))
            _, rows, _ = self.own.radius_pairs(lats, lngs, radii)
            c = self.own.columns(np.unique(rows))
            if c.ids.size:
                copy.upsert_many(
                    c.ids,
                    c.lat,
                    c.lng,
                    c.ts,
                    tenant=c.tenant,
                    status=c.status,
                    vehicle=c.vehicle,
                    capacity=c.capacity,
                    load=c.load,
                    skills=c.skills,
                    idle_since=c.idle_since,
                )
        self.own = copy
        self.in_batch = frozenset(str(c) for c in copy.ids_of(np.arange(copy.row_span)))
        return copy

    def thaw(self) -> None:
        """Back to the live index after a batch."""
        self.own = self._live
        self.in_batch = frozenset()

    def radius_pairs(
        self,
        lats: npt.ArrayLike,
        lngs: npt.ArrayLike,
        radius_m: float | npt.ArrayLike,
        *,
        k: int | None = None,
        status: str | tuple[str, ...] | None = None,
        vehicle: str | None = None,
        min_free_capacity: int | None = None,
        tenant: str | None = None,
        xyz: npt.ArrayLike | None = None,
        reserved: Mapping[Any, int] | None = None,
    ) -> Neighbours:
        """`tracking.LiveIndex.radius_pairs` over both indexes (up to ``k`` from each)."""
        parts = []
        self._offset = self.own.row_span
        for index, offset in ((self.own, 0), (self.foreign, self._offset)):
            if not len(index):
                continue
            q, rows, metres = index.radius_pairs(
                lats,
                lngs,
                radius_m,
                k=k,
                status=status,
                vehicle=vehicle,
                min_free_capacity=min_free_capacity,
                tenant=tenant,
                xyz=xyz,
                reserved=reserved,
            )
            if offset == 0 and self.lent_out and rows.size:
                keep = ~np.isin(index.ids_of(rows), list(self.lent_out))
                q, rows, metres = q[keep], rows[keep], metres[keep]
            parts.append((q, rows + offset, metres))
        if not parts:
            return Neighbours(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
        return Neighbours(*(np.concatenate([p[j] for p in parts]) for j in range(3)))

    def columns(self, rows: npt.ArrayLike) -> CourierColumns:
        """Attributes of rows of either index, in the order given."""
        r = np.asarray(rows, dtype=np.int64)
        lent = r >= self._offset
        if not lent.any():
            return self.own.columns(r)
        mine, theirs = self.own.columns(r[~lent]), self.foreign.columns(r[lent] - self._offset)
        back = np.argsort(np.concatenate([np.flatnonzero(~lent), np.flatnonzero(lent)]))
        joined: dict[str, Any] = {}
        for f in dataclasses.fields(CourierColumns):
            a, b = getattr(mine, f.name), getattr(theirs, f.name)
            joined[f.name] = None if a is None or b is None else np.concatenate([a, b])[back]
        return CourierColumns(**joined)
