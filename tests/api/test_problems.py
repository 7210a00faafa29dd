"""REST errors: every error a package can raise is problem+json from the one table."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import PROBLEM_JSON, PROBLEMS, problem_for
from api.settings import Settings
from tests.api.conftest import Tenant

ROOT = Path(__file__).resolve().parents[2]
ERROR_MODULES = [
    "geo.errors",
    "tracking.errors",
    "dispatch.errors",
    "routing.errors",
    "orders.errors",
    "payments.errors",
    "store.errors",
    "api.messages",
    "api.tokens",
    "api.dispatch_flow",
    "api.problems",
]
BASES = frozenset({"DispatchError", "StoreError"})
"""Abstract bases never raised themselves (each subclass is mapped)."""


def _error_classes() -> list[type[BaseException]]:
    found = []
    for name in ERROR_MODULES:
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if (
                inspect.isclass(cls)
                and issubclass(cls, BaseException)
                and cls.__module__ == name
                and cls.__name__ not in BASES
            ):
                found.append(cls)
    return found


ERRORS = _error_classes()


def test_every_error_class_has_a_problem() -> None:
    assert len(ERRORS) > 50
    unmapped = [c.__qualname__ for c in ERRORS if problem_for(c.__new__(c)) is None]
    assert unmapped == []
    for cls in ERRORS:
        status = problem_for(cls.__new__(cls)).status  # type: ignore[union-attr]
        assert 400 <= status < 500 or status == 503, (cls, status)


def _raised_http_exceptions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = getattr(target, "id", None) or getattr(target, "attr", None)
            if name == "HTTPException":
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return out


def test_nothing_raises_http_exception() -> None:
    """Domain and API code raise typed errors; only the table turns them into HTTP."""
    offenders = []
    for package in ("geo", "tracking", "dispatch", "routing", "orders", "payments", "store", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            offenders += _raised_http_exceptions(path)
    assert offenders == []


@pytest.fixture(scope="module")
def raising_client() -> TestClient:
    """An app with one extra route that raises each error class (built without __init__)."""
    app: FastAPI = create_app(Settings(token_secret="k" * 40, dispatch_auto=False))

    def boom(i: int) -> None:
        cls = ERRORS[i]
        exc = cls.__new__(cls)
        BaseException.__init__(exc, f"{cls.__name__} raised")
        raise exc

    app.add_api_route("/test-only/raise/{i}", boom)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("i", range(len(ERRORS)), ids=[c.__qualname__ for c in ERRORS])
def test_raised_error_becomes_its_problem(raising_client: TestClient, i: int) -> None:
    r = raising_client.get(f"/test-only/raise/{i}")
    expected = problem_for(ERRORS[i].__new__(ERRORS[i]))
    assert expected is not None
    assert r.status_code == expected.status
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["status"] == expected.status and body["title"] == expected.title
    assert body["type"].endswith("/" + expected.slug)
    assert body["instance"] == f"/test-only/raise/{i}"


def test_table_is_walked_most_specific_first() -> None:
    from store.errors import IdempotencyConflict, NotFound

    assert problem_for(IdempotencyConflict("t", "k")).status == 409  # type: ignore[union-attr]
    assert problem_for(NotFound("order", "x")).status == 404  # type: ignore[union-attr]
    assert problem_for(ValueError("x")).status == 422  # type: ignore[union-attr]
    assert problem_for(RuntimeError("a bug")) is None
    assert RuntimeError not in PROBLEMS


def test_framework_errors_are_problems(client: TestClient, tenant_a: Tenant) -> None:
    cases = [
        client.get("/v1/no-such-thing", headers=tenant_a.auth),
        client.put("/v1/couriers", headers=tenant_a.auth),
        client.post(
            "/v1/couriers",
            content=b"\x80",
            headers={**tenant_a.auth, "content-type": "application/json"},
        ),
        client.post(
            "/v1/couriers",
            content=b'{"id": "x",',
            headers={**tenant_a.auth, "content-type": "application/json"},
        ),
        client.get("/v1/orders", params={"limit": "many"}, headers=tenant_a.auth),
    ]
    assert [r.status_code for r in cases] == [404, 405, 400, 422, 422]
    for r in cases:
        assert r.headers["content-type"] == PROBLEM_JSON, r.text
        assert r.json()["status"] == r.status_code
    assert cases[1].headers["allow"]  # 405 keeps its Allow header


def test_nul_byte_in_text_is_never_a_server_error(client: TestClient, tenant_a: Tenant) -> None:
    """The PostGIS driver refuses NUL in text before the server sees it: invalid input, not 503."""
    r = client.post("/v1/couriers", json={"name": "a\x00b"}, headers=tenant_a.auth)
    assert r.status_code in (201, 422), r.text
    if r.status_code == 422:
        assert r.headers["content-type"] == PROBLEM_JSON
