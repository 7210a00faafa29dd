"""Tracks on PostGIS: the buffer's COPY sink into day partitions, history queries, retention."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from store import partitions
from store.copy_binary import COLUMNS, positions_copy_payload
from store.errors import from_database_error
from store.interface import FloatColumn
from store.postgis_base import PostgisBase, Row, to_datetime
from store.track_buffer import PositionBatch, TrackBuffer
from store.validation import check_positions, position_columns


class PostgisTracks(PostgisBase):
    """Track methods of `PostgisStore`; the state below is set up by its constructor."""

    tracks: TrackBuffer
    dropped_unknown_couriers: int
    _courier_nums: dict[str, int]
    _nums_lock: threading.Lock
    _known_days: set[date]

    def append_positions(
        self,
        courier_ids: Sequence[str],
        ts: FloatColumn,
        lats: FloatColumn,
        lngs: FloatColumn,
        speed: FloatColumn | None = None,
        heading: FloatColumn | None = None,
        accuracy: FloatColumn | None = None,
    ) -> None:
        ids, t, la, ln = check_positions(courier_ids, ts, lats, lngs)
        sp, hd, ac = position_columns(len(ids), speed, heading, accuracy)
        self.tracks.append(PositionBatch(ids, t, la, ln, sp, hd, ac))

    def flush_positions(self) -> int:
        return self.tracks.flush()

    def _courier_num_column(
        self, conn: psycopg.Connection[Row], ids: list[str]
    ) -> npt.NDArray[np.int64]:
        with self._nums_lock:
            nums = self._courier_nums
            missing = {cid for cid in ids if cid not in nums}
        if missing:
            rows = conn.execute(
                "SELECT id, num FROM couriers WHERE id = ANY(%s)", (list(missing),)
            ).fetchall()
            with self._nums_lock:
                nums.update(rows)
        return np.fromiter((nums.get(cid, -1) for cid in ids), dtype=np.int64, count=len(ids))

    def _write_positions(self, batch: PositionBatch) -> None:
        """The track buffer's sink: one binary COPY per batch into the day partitions."""
        epoch_days = np.unique(np.floor(batch.ts / partitions.DAY_S).astype(np.int64))
        days = {partitions.day_of_epoch(d) for d in epoch_days.tolist()}
        # One day ahead, so the partition for tomorrow exists before its first ping arrives.
        days.add(max(days) + timedelta(days=1))
        try:
            if not days <= self._known_days:
                # Own short transaction: creating a partition locks the parent table briefly.
                with self._pool.connection() as conn:
                    conn.autocommit = True
                    try:
                        partitions.ensure_partitions(conn, days - self._known_days)
                    finally:
                        conn.autocommit = False
                self._known_days |= days
            with self._pool.connection() as conn, conn.transaction():
                nums = self._courier_num_column(conn, batch.courier_ids)
                known = nums >= 0
                b = batch
                if not known.all():
                    self.dropped_unknown_couriers += int((~known).sum())
                    nums = nums[known]
                    b = PositionBatch(
                        [c for c, k in zip(b.courier_ids, known, strict=True) if k],
                        *(c[known] for c in (b.ts, b.lats, b.lngs, b.speed, b.heading, b.accuracy)),
                    )
                # Rows in (courier, ts) order touch the btree index's pages in sequence.
                order = np.lexsort((b.ts, nums))
                payload = positions_copy_payload(
                    nums[order],
                    *(c[order] for c in (b.ts, b.lats, b.lngs, b.speed, b.heading, b.accuracy)),
                )
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        f"COPY courier_positions ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.write(payload)
        except psycopg.Error as exc:
            raise from_database_error(exc) from exc

    def courier_track(
        self, tenant_id: str, courier_id: str, start: float, end: float
    ) -> dict[str, Any] | None:
        with self._tx(tenant_id) as conn:
            num = self._one(
                conn,
                "SELECT num FROM couriers WHERE id = %s AND tenant_id = %s",
                (courier_id, tenant_id),
                "courier",
                courier_id,
            )[0]
            row = conn.execute(
                "SELECT count(*), ST_AsGeoJSON(ST_MakeLine(pos::geometry ORDER BY ts), 15) "
                "FROM courier_positions WHERE courier_num = %s AND ts >= %s AND ts <= %s",
                (num, to_datetime(start), to_datetime(end)),
            ).fetchone()
        if row is None or row[0] < 2:
            return None
        line: dict[str, Any] = json.loads(row[1])
        return {"type": "LineString", "coordinates": line["coordinates"]}

    def couriers_in_fence(
        self, tenant_id: str, fence_id: str, start: float, end: float
    ) -> list[str]:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "SELECT 1 FROM geofences WHERE id = %s AND tenant_id = %s",
                (fence_id, tenant_id),
                "geofence",
                fence_id,
            )
            rows = conn.execute(
                "SELECT DISTINCT c.id FROM geofences g "
                "JOIN courier_positions p ON ST_Covers(g.geom, p.pos::geometry) "
                "JOIN couriers c ON c.num = p.courier_num AND c.tenant_id = g.tenant_id "
                "WHERE g.id = %s AND g.tenant_id = %s AND p.ts >= %s AND p.ts <= %s "
                "ORDER BY c.id",
                (fence_id, tenant_id, to_datetime(start), to_datetime(end)),
            ).fetchall()
        return [r[0] for r in rows]

    # -- maintenance ----------------------------------------------------------------------
    def prune_positions(self, older_than_s: float, *, now: float | None = None) -> list[str]:
        """Drop the day partitions entirely older than ``older_than_s``; return their names."""
        ref = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
        cutoff = datetime.fromtimestamp(ref.timestamp() - older_than_s, UTC)
        with self._tx() as conn:
            dropped = partitions.drop_partitions_before(conn, cutoff)
        self._known_days = {
            d for d in self._known_days if partitions.partition_name(d) not in dropped
        }
        return dropped
