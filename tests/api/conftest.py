"""The real app in process, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from store.interface import Store
from store.memory import MemoryStore

NAIROBI = {
    "type": "Polygon",
    "coordinates": [[[36.6, -1.45], [37.05, -1.45], [37.05, -1.15], [36.6, -1.15], [36.6, -1.45]]],
}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Tenant:
    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(params=["memory", pytest.param("postgis", marks=pytest.mark.postgis)])
def api_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        from tests.store.conftest import reset_database

        url = request.getfixturevalue("postgis_url")
        reset_database(url)
        from store.postgis import PostgisStore

        s = PostgisStore(url, pool_size=4, start_flusher=False)
        yield s
        s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(api_store: Store, clock: Clock) -> Iterator[TestClient]:
    app = create_app(
        Settings(token_secret="k" * 40, dispatch_auto=False), store=api_store, clock=clock
    )
    with TestClient(app) as c:
        yield c


def make_tenant(store: Store, name: str) -> Tenant:
    tenant = store.create_tenant(name)
    _, key = store.create_api_key(tenant.id)
    return Tenant(tenant.id, key)


@pytest.fixture
def tenant_a(api_store: Store) -> Tenant:
    return make_tenant(api_store, "A")


@pytest.fixture
def tenant_b(api_store: Store) -> Tenant:
    return make_tenant(api_store, "B")
