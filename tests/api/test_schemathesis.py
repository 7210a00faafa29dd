"""Schemathesis over /openapi.json: generated and schema-violating requests never get a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from tests.api.conftest import NAIROBI, Clock, Tenant

EXAMPLES = 10
"""Per operation and generation mode: enough to reach the handlers, bounded for `make test`."""


def _real_ids(client: TestClient, t: Tenant, clock: Clock) -> dict[str, str]:
    """One of everything for the caller's tenant, so generated requests reach past the 404s."""
    fence = client.post(
        "/v1/geofences", json={"kind": "service_zone", "geometry": NAIROBI}, headers=t.auth
    ).json()
    client.post("/v1/couriers", json={"id": "c1"}, headers=t.auth)
    client.post(
        "/v1/couriers/c1/pings",
        json={"pings": [{"lat": -1.291, "lng": 36.82, "ts": clock.now - 5}]},
        headers=t.auth,
    )
    point = {"type": "Point", "coordinates": [36.82, -1.29]}
    order = client.post("/v1/orders", json={"pickup": point, "dropoff": point}, headers=t.auth)
    offers = client.post("/v1/dispatch/run", headers=t.auth).json()["offers"]
    payment = client.post(
        f"/v1/orders/{order.json()['id']}/payments", json={"method": "card"}, headers=t.auth
    ).json()
    endpoint = client.post(
        "/v1/webhooks/endpoints", json={"url": "https://example.com/hook"}, headers=t.auth
    ).json()
    return {
        "payment_id": payment["id"],
        "endpoint_id": endpoint["id"],
        "provider": "card_sandbox",
        "courier_id": "c1",
        "fence_id": fence["id"],
        "order_id": order.json()["id"],
        "offer_id": offers[0]["offer_id"] if offers else "of1",
    }


SOLVER_LIMIT_S = 0.05
"""Generated route problems may ask for 30 s of solving; the test grants each this much."""


def _send(client: TestClient, case: Any, auth: dict[str, str]) -> Any:
    """The request schemathesis serialized (JSON or raw bytes), sent through the app's client."""
    if isinstance(case.body, dict) and isinstance(case.body.get("time_limit_s"), float | int):
        case.body["time_limit_s"] = min(case.body["time_limit_s"], SOLVER_LIMIT_S)
    elif isinstance(case.body, dict) and "vehicles" in case.body:
        case.body.setdefault("time_limit_s", SOLVER_LIMIT_S)
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    kwargs["headers"].update(auth)  # a real key, so requests get past authentication
    data = kwargs.pop("data", None)
    if data is not None:
        kwargs["content"] = data
    for requests_only in ("cookies", "timeout", "verify", "allow_redirects"):
        kwargs.pop(requests_only, None)
    return client.request(**kwargs)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_5xx_for_any_generated_request(
    client: TestClient, tenant_a: Tenant, clock: Clock, mode: GenerationMode
) -> None:
    ids = _real_ids(client, tenant_a, clock)
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    failures: list[str] = []
    exercised = 0
    for operation in operations:
        params = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
        strategy = operation.as_strategy(generation_mode=mode)
        if params and mode is GenerationMode.POSITIVE:
            strategy = st.one_of(
                strategy, operation.as_strategy(generation_mode=mode, path_parameters=params)
            )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            r = _send(client, case, tenant_a.auth)
            if r.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r}: {r.text}")
            elif r.status_code >= 400:
                # Every error is problem+json, from the one table or the validation handler.
                assert r.headers["content-type"] == "application/problem+json", r.text

        try:
            check()
        except Unsatisfiable:  # nothing to break in a request without inputs (negative mode)
            assert mode is GenerationMode.NEGATIVE and not operation.body
            continue
        exercised += 1
    assert exercised >= len(operations) // 2
    assert not failures, "\n".join(failures[:10])
