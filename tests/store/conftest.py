"""Fixtures for the store suite: one shared contract, run against both stores."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from orders.lifecycle import OrderDraft, Transition, create_order
from orders.model import Actor, ActorKind
from store.interface import Store
from store.memory import MemoryStore
from store.postgis import PostgisStore, conninfo_from_url
from store.tables import TRUNCATE_ORDER


def reset_database(url: str) -> None:
    """Empty every table (fast: one TRUNCATE) and drop the day partitions."""
    with psycopg.connect(conninfo_from_url(url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TRUNCATE_ORDER)} RESTART IDENTITY CASCADE")
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'courier_positions'::regclass"
        ).fetchall()
        for (name,) in rows:
            conn.execute(f"DROP TABLE {name}")


@pytest.fixture
def pg_store(postgis_url: str) -> Iterator[PostgisStore]:
    """A PostGIS store on an emptied database; tests flush tracks explicitly."""
    reset_database(postgis_url)
    s = PostgisStore(postgis_url, pool_size=4, start_flusher=False)
    yield s
    s.close()


@pytest.fixture(params=["memory", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each contract test runs once per store."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield request.getfixturevalue("pg_store")


def square(lng0: float, lat0: float, size: float) -> dict[str, Any]:
    """A GeoJSON square polygon with its south-west corner at (lng0, lat0)."""
    ring = [
        [lng0, lat0],
        [lng0 + size, lat0],
        [lng0 + size, lat0 + size],
        [lng0, lat0 + size],
        [lng0, lat0],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def new_order(
    tenant: str,
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    *,
    order_id: str | None = None,
    at: float = 1000.0,
    **draft: Any,
) -> Transition:
    """`orders.lifecycle.create_order` for a (lat, lng) pickup and drop-off."""
    body = {"amount_minor": 1250, "currency": "EUR"} | draft
    return create_order(
        OrderDraft(pickup[0], pickup[1], dropoff[0], dropoff[1], **body),
        order_id=order_id or f"ord-{next(_ORDER_IDS)}",
        tenant=tenant,
        at=at,
        actor=Actor(ActorKind.TENANT, tenant),
    )


_ORDER_IDS = itertools.count(1)
