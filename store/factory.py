"""Open the configured store: PostGIS when a database URL is given, else the in-memory one."""

from __future__ import annotations

from typing import Any

from store.interface import Store


def open_store(database_url: str | None = None, **options: Any) -> Store:
    """The store for ``database_url`` (``postgresql+psycopg://...``), or the embedded default.

    Nothing is connected at import; ``options`` go to `store.postgis.PostgisStore`.
    """
    if not database_url:
        from store.memory import MemoryStore

        return MemoryStore()
    from store.postgis import PostgisStore

    return PostgisStore(database_url, **options)
