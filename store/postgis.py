"""The PostGIS store: psycopg 3 pool, zone checks in SQL, tracks flushed by binary COPY."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import shapely
from psycopg_pool import ConnectionPool, PoolTimeout

from geo.coords import validate_arrays
from store.api_keys import hash_secret, new_secret
from store.errors import StoreUnavailable
from store.geojson import geojson_from_polygon, polygon_from_geojson
from store.interface import FloatColumn
from store.postgis_base import Row, conninfo_from_url
from store.postgis_orders import PostgisOrders
from store.postgis_payments import PostgisPayments
from store.postgis_tracks import PostgisTracks
from store.postgis_webhooks import PostgisWebhooks
from store.records import ApiKey, Courier, GeofenceKind, GeofenceRecord, Tenant
from store.track_buffer import TrackBuffer
from store.validation import check_courier_fields, check_id, check_kind, new_id

__all__ = ["PostgisStore", "conninfo_from_url"]

_FENCE_COLS = "id, tenant_id, kind, name, ST_AsBinary(geom), active, created_at, updated_at"


def _courier(row: Row) -> Courier:
    return Courier(row[0], row[1], row[2], row[3], row[4], row[5].timestamp())


def _fence(row: Row) -> GeofenceRecord:
    geom = shapely.from_wkb(bytes(row[4]))
    return GeofenceRecord(
        id=row[0],
        tenant_id=row[1],
        kind=row[2],
        name=row[3],
        geometry=geojson_from_polygon(geom),
        active=row[5],
        created_at=row[6].timestamp(),
        updated_at=row[7].timestamp(),
    )


class PostgisStore(PostgisOrders, PostgisPayments, PostgisTracks, PostgisWebhooks):
    """`store.interface.Store` on PostgreSQL 15 + PostGIS 3 (schema from the migrations).

    Parameters
    ----------
    url
        ``postgresql+psycopg://...`` (or a plain libpq URL).
    pool_size
        Most pooled connections (the track flusher uses one of them while it writes).
    track_batch_size, track_max_delay_s, track_bound
        Track buffer settings (see `store.track_buffer.TrackBuffer`).
    start_flusher
        Run the background flusher; tests and benchmarks may flush explicitly instead.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        track_batch_size: int = 5_000,
        track_max_delay_s: float = 0.2,
        track_bound: int = 500_000,
        start_flusher: bool = True,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo_from_url(url),
            min_size=1,
            max_size=pool_size,
            timeout=connect_timeout_s,
            open=False,
            name="hexdispatch",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(f"cannot connect to the database: {exc}") from exc
        self._courier_nums: dict[str, int] = {}
        self._nums_lock = threading.Lock()
        self._known_days: set[date] = set()
        self.dropped_unknown_couriers = 0
        self.tracks = TrackBuffer(
            self._write_positions,
            batch_size=track_batch_size,
            max_delay_s=track_max_delay_s,
            bound=track_bound,
        )
        if start_flusher:
            self.tracks.start()

    # -- tenants and API keys -------------------------------------------------------------
    def create_tenant(self, name: str, *, tenant_id: str | None = None) -> Tenant:
        tenant_id = tenant_id or new_id("ten")
        check_id("tenant_id", tenant_id)
        with self._tx() as conn:
            row = self._one(
                conn,
                "INSERT INTO tenants (id, name) VALUES (%s, %s) RETURNING created_at",
                (tenant_id, name),
                "tenant",
                tenant_id,
            )
        return Tenant(tenant_id, name, row[0].timestamp())

    def get_tenant(self, tenant_id: str) -> Tenant:
        with self._tx() as conn:
            row = self._one(
                conn,
                "SELECT id, name, created_at FROM tenants WHERE id = %s",
                (tenant_id,),
                "tenant",
                tenant_id,
            )
        return Tenant(row[0], row[1], row[2].timestamp())

    def list_tenants(self) -> list[Tenant]:
        with self._tx() as conn:
            rows = conn.execute("SELECT id, name, created_at FROM tenants ORDER BY id").fetchall()
        return [Tenant(r[0], r[1], r[2].timestamp()) for r in rows]

    def create_api_key(
        self, tenant_id: str, name: str = "", *, secret: str | None = None
    ) -> tuple[ApiKey, str]:
        secret = secret or new_secret()
        key_id = new_id("key")
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "INSERT INTO api_keys (id, tenant_id, key_hash, name) VALUES (%s, %s, %s, %s) "
                "RETURNING created_at",
                (key_id, tenant_id, hash_secret(secret), name),
                "api_key",
                key_id,
            )
        return ApiKey(key_id, tenant_id, name, row[0].timestamp()), secret

    def tenant_for_api_key(self, secret: str) -> Tenant | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT t.id, t.name, t.created_at FROM api_keys k JOIN tenants t "
                "ON t.id = k.tenant_id WHERE k.key_hash = %s AND k.revoked_at IS NULL",
                (hash_secret(secret),),
            ).fetchone()
        return None if row is None else Tenant(row[0], row[1], row[2].timestamp())

    def revoke_api_key(self, tenant_id: str, key_id: str) -> None:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE id = %s AND tenant_id = %s RETURNING id",
                (key_id, tenant_id),
                "api_key",
                key_id,
            )

    # -- couriers -------------------------------------------------------------------------
    def create_courier(
        self,
        tenant_id: str,
        *,
        courier_id: str | None = None,
        name: str = "",
        vehicle: str = "bike",
        capacity: int = 1,
    ) -> Courier:
        courier_id = courier_id or new_id("cou")
        check_id("courier_id", courier_id)
        check_courier_fields(name, vehicle, capacity)
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "INSERT INTO couriers (id, tenant_id, name, vehicle, capacity) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING num, created_at",
                (courier_id, tenant_id, name, vehicle, capacity),
                "courier",
                courier_id,
            )
        with self._nums_lock:
            self._courier_nums[courier_id] = row[0]
        return Courier(courier_id, tenant_id, name, vehicle, capacity, row[1].timestamp())

    _COURIER_SELECT = "SELECT id, tenant_id, name, vehicle, capacity, created_at FROM couriers"

    def get_courier(self, tenant_id: str, courier_id: str) -> Courier:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                f"{self._COURIER_SELECT} WHERE id = %s AND tenant_id = %s",
                (courier_id, tenant_id),
                "courier",
                courier_id,
            )
        return _courier(row)

    def list_couriers(self, tenant_id: str) -> list[Courier]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                f"{self._COURIER_SELECT} WHERE tenant_id = %s ORDER BY id", (tenant_id,)
            ).fetchall()
        return [_courier(r) for r in rows]

    # -- geofences ------------------------------------------------------------------------
    def create_geofence(
        self,
        tenant_id: str,
        kind: GeofenceKind,
        geometry: dict[str, Any],
        *,
        name: str = "",
        active: bool = True,
        fence_id: str | None = None,
    ) -> GeofenceRecord:
        fence_id = fence_id or new_id("gf")
        check_id("fence_id", fence_id)
        check_kind(kind)
        wkb = shapely.to_wkb(polygon_from_geojson(geometry))
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "INSERT INTO geofences (id, tenant_id, kind, name, geom, active) "
                "VALUES (%s, %s, %s, %s, ST_GeomFromWKB(%s, 4326), %s) "
                f"RETURNING {_FENCE_COLS}",
                (fence_id, tenant_id, kind, name, wkb, bool(active)),
                "geofence",
                fence_id,
            )
        return _fence(row)

    def get_geofence(self, tenant_id: str, fence_id: str) -> GeofenceRecord:
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                f"SELECT {_FENCE_COLS} FROM geofences WHERE id = %s AND tenant_id = %s",
                (fence_id, tenant_id),
                "geofence",
                fence_id,
            )
        return _fence(row)

    def list_geofences(
        self, tenant_id: str, *, kind: GeofenceKind | None = None, active: bool | None = None
    ) -> list[GeofenceRecord]:
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {_FENCE_COLS} FROM geofences WHERE tenant_id = %s "
                "AND (%s::text IS NULL OR kind = %s) AND (%s::bool IS NULL OR active = %s) "
                "ORDER BY id",
                (tenant_id, kind, kind, active, active),
            ).fetchall()
        return [_fence(r) for r in rows]

    def update_geofence(
        self,
        tenant_id: str,
        fence_id: str,
        *,
        name: str | None = None,
        geometry: dict[str, Any] | None = None,
        active: bool | None = None,
    ) -> GeofenceRecord:
        wkb = None if geometry is None else shapely.to_wkb(polygon_from_geojson(geometry))
        with self._tx(tenant_id) as conn:
            row = self._one(
                conn,
                "UPDATE geofences SET name = coalesce(%s, name), "
                "geom = coalesce(ST_GeomFromWKB(%s, 4326), geom), "
                "active = coalesce(%s, active), updated_at = now() "
                f"WHERE id = %s AND tenant_id = %s RETURNING {_FENCE_COLS}",
                (name, wkb, active, fence_id, tenant_id),
                "geofence",
                fence_id,
            )
        return _fence(row)

    def delete_geofence(self, tenant_id: str, fence_id: str) -> None:
        with self._tx(tenant_id) as conn:
            self._one(
                conn,
                "DELETE FROM geofences WHERE id = %s AND tenant_id = %s RETURNING id",
                (fence_id, tenant_id),
                "geofence",
                fence_id,
            )

    def in_service_zone(
        self, tenant_id: str, lats: FloatColumn, lngs: FloatColumn
    ) -> npt.NDArray[np.bool_]:
        la, ln = validate_arrays(lats, lngs)
        with self._tx(tenant_id) as conn:
            rows = conn.execute(
                "SELECT hexdispatch_in_service_zone(%s, ST_SetSRID(ST_MakePoint(u.lng, u.lat), 4326)) "
                "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS u(lat, lng, i) "
                "ORDER BY u.i",
                (tenant_id, la.tolist(), ln.tolist()),
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=bool)

    def close(self) -> None:
        try:
            self.tracks.close()
        finally:
            self._pool.close()
